"""One session's workspace: its git worktree, change set, diff, commit, merge and discard.

The worktree lives in the session's folder under the data dir (``<data>/<session>/workspace``, the
folder the local sandbox runs the agent in), never inside the user's checkout. The user's checkout,
index and current branch are only touched by ``merge`` into the branch checked out there, and then
only as ``git merge --ff-only`` would (refused when it has local changes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from ..errors import InvalidPath, InvalidRequest, SandboxError, WorkspaceConflict
from ..models import ChangedFile, WorkspaceChanges, WorkspaceInfo
from ..primitives.paths import clean_relative, confine
from ..primitives.registry import capabilities
from .git import GitError, repo_lock, run_git
from .project import check_branch_name

log = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any]], Awaitable[Any]]
Persist = Callable[[dict[str, Any]], Awaitable[None]]

MAX_CONTEXT = 10_000
_STATUS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "T": "modified", "C": "added"}
_FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "agent-tui",
    "GIT_AUTHOR_EMAIL": "agent-tui@localhost",
    "GIT_COMMITTER_NAME": "agent-tui",
    "GIT_COMMITTER_EMAIL": "agent-tui@localhost",
}


class Workspace:
    def __init__(self, session_id: str, record: dict[str, Any], *, publish: Publish, persist: Persist) -> None:
        self.session_id = session_id
        self.record = record
        self._publish = publish
        self._persist = persist
        #: Serializes this workspace's own git calls (its index, its private change index).
        self._lock = asyncio.Lock()
        #: Whether the session's agent is working or about to (set by the session manager).
        self.agent_busy: Callable[[], bool] = lambda: False
        #: Queries waiting in ``settled`` for a write to finish.
        self.queries_waiting = 0
        self._identity: dict[str, str] | None = None

    # ------------------------------------------------------------------ facts

    @property
    def mode(self) -> str:
        return str(self.record.get("mode", "worktree"))

    @property
    def path(self) -> Path:
        return Path(self.record["path"])

    @property
    def is_worktree(self) -> bool:
        return self.mode == "worktree"

    @property
    def base_commit(self) -> str:
        return str(self.record.get("baseCommit") or "")

    def info(self) -> WorkspaceInfo:
        return WorkspaceInfo.model_validate(self.record)

    def _repo(self) -> str:
        return str(self.record["repoRoot"])

    def _lock_repo(self) -> asyncio.Lock:
        return repo_lock(str(self.record["commonDir"]))

    def _index_file(self) -> str:
        # A private index beside the worktree: computing changes never touches the worktree's own.
        return str(self.path.parent / "changes.index")

    def _require_worktree(self) -> None:
        if not self.is_worktree:
            raise InvalidRequest(
                'this session works in place (mode "in-place"): it has no branch to review, commit or merge',
                code="NO_WORKSPACE",
            )

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        """The lock, for a write: checked again once held (a message may have arrived while the
        write waited for it), and held until the files are settled, since a query waits for it
        (``settled``) before its agent starts."""
        async with self._lock:
            if self.agent_busy():
                raise WorkspaceConflict(
                    "the agent is working in this workspace; wait for the query to end (or interrupt it)",
                    code="WORKSPACE_BUSY",
                )
            yield

    async def settled(self) -> None:
        """Wait for a write in progress (restore, discard, commit, merge) before an agent starts."""
        self.queries_waiting += 1
        try:
            async with self._lock:
                pass
        finally:
            self.queries_waiting -= 1

    # ------------------------------------------------------------------ lifecycle

    def _present(self) -> bool:
        return (self.path / ".git").is_file()

    async def ensure(self, sandbox_workspace: Path | None = None) -> None:
        """Make sure the worktree exists (called before a sandbox starts and by every operation).

        ``sandbox_workspace``: for in-place mode, the sandbox's ``workspace`` folder, made a link to
        the project so the agent runs there.
        """
        if not self.is_worktree:
            if not Path(self.record["project"]).is_dir():
                raise SandboxError(f"project folder {self.record['project']!r} no longer exists",
                                   code="WORKSPACE_MISSING")
            if sandbox_workspace is not None and not sandbox_workspace.exists():
                sandbox_workspace.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(self.record["project"], sandbox_workspace, target_is_directory=True)
            return
        if self._present():
            return
        async with self._lock_repo():
            if self._present():
                return
            if self.record.get("created"):
                await self._report_missing()
            await run_git(["worktree", "prune"], self._repo())
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and not any(self.path.iterdir()):
                self.path.rmdir()
            branch = str(self.record["branch"])
            exists = await run_git(
                ["show-ref", "--verify", "--quiet", f"refs/heads/{branch}"], self._repo(), check=False
            )
            if exists.code == 0:
                await run_git(["worktree", "add", "--quiet", str(self.path), branch], self._repo())
            else:  # the user deleted the session branch: start it again at the base commit
                await run_git(
                    ["worktree", "add", "--quiet", "-b", branch, str(self.path), self.base_commit], self._repo()
                )
            # Files checked out in the same instant the index was written are "racily clean" and
            # would be re-read on every change listing until the index is written again: now,
            # before any agent runs git in it.
            await run_git(["update-index", "-q", "--refresh"], self.path, check=False)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._index_file())
        if not self.record.get("created"):
            self.record["created"] = True
            await self._persist(self.record)

    async def prepare_sandbox(self, primitive_name: str, primitive: Any) -> None:
        """Before a sandbox starts: the worktree exists; a local in-place sandbox's ``workspace``
        is a link to the project, so the agent runs in it; an isolated local sandbox may read the
        repository's git dir (so ``git log``/``diff``/``status`` work in the worktree), never
        write it (hooks there run outside any sandbox)."""
        can = capabilities(primitive_name)
        await self.ensure(Path(primitive.session_dir) / "workspace" if can.on_host else None)
        if can.on_host and can.isolation and self.is_worktree:
            primitive.expose_readonly([str(self.record["commonDir"])])

    async def sync_up(self, primitive_name: str, primitive: Any) -> None:
        """A remote sandbox just started: the worktree goes up in one archive."""
        if not capabilities(primitive_name).file_sync or not self.is_worktree:
            return
        from .sync import upload

        await upload(self.path, primitive)

    async def sync_back(self, primitive_name: str, primitive: Any) -> None:
        """After a query, an interrupt, before a terminate: the remote sandbox's changes come back
        into the worktree, announced as ``file:*`` events. A failure is logged, never raised: the
        query's own outcome is what the user needs to see."""
        if not capabilities(primitive_name).file_sync or not self.is_worktree or not self._present():
            return
        from .sync import download

        try:
            async with self._lock:
                drafts = await download(self.path, primitive)
        except Exception as exc:  # noqa: BLE001 - reported as a log event below
            log.warning("session %s: bringing changes back failed: %s", self.session_id, exc)
            await self._publish("log", {"level": "warn", "message": f"changes not brought back from the sandbox: {exc}"})
            return
        for draft in drafts:
            await self._publish(draft["type"], draft["payload"])

    async def save_from(self, primitive_name: str, primitive: Any) -> None:
        """The sandbox is about to end (terminate, idle, shutdown): bring back and report."""
        if not capabilities(primitive_name).file_sync:
            return
        await self.sync_back(primitive_name, primitive)
        await self.publish_changes()

    async def run_setup(self, env: Any, status: Callable[[str], Awaitable[None]]) -> None:
        """The project's setup command (``.agent-tui.toml``: ``[workspace] setup = "..."``; else the
        profile's ``[workspace] setup``), run in the sandbox's workspace when the sandbox is ready:
        once per worktree locally, in every new sandbox remotely (a new sandbox starts without what it installed). Its output becomes
        ``log`` events; a failure is a warning, not a failed sandbox (the agent can still work)."""
        from .setup import run_setup_command, setup_command

        local = env.capabilities.on_host
        if local and self.record.get("setupDone"):
            return
        command = await asyncio.to_thread(setup_command, self.path)
        source = "project"
        if command is None:
            # The profile's ``[workspace] setup``: for projects that do not say (theirs wins).
            profile_setup = getattr(getattr(env, "profile", None), "workspace", None)
            command = profile_setup.setup if profile_setup is not None and (profile_setup.setup or "").strip() else None
            source = "profile"
        if command is None:
            return
        await status(f"Running the {source}'s setup: {command[:80]}")
        ok = await run_setup_command(env.primitive, command, env.runner_env(), self._publish)
        if not local:
            # What the setup made (dependencies, builds) is not the agent's change to bring back.
            from .sync import MARKER

            await env.primitive.run_capture(
                ["bash", "-c", f'touch "$1/{MARKER}"', "mark", env.primitive.session_dir]
            )
        if ok and local:
            self.record["setupDone"] = True
            await self._persist(self.record)

    async def _report_missing(self) -> None:
        await self._publish(
            "ee:error",
            {
                "message": f"the session's worktree {str(self.path)!r} was removed outside agent-tui: its "
                f"uncommitted changes are lost; it is re-created from branch {self.record['branch']!r}",
                "code": "WORKSPACE_MISSING",
            },
        )

    async def check_on_load(self) -> None:
        """After a restart: a worktree whose folder disappeared is reported and pruned now (it is
        re-added from the session branch, never empty, when next needed)."""
        if not self.is_worktree or not self.record.get("created") or self._present():
            return
        await self._report_missing()
        self.record["created"] = False  # reported once; ``ensure`` re-adds it
        await self._persist(self.record)
        async with self._lock_repo():
            await run_git(["worktree", "prune"], self._repo(), check=False)

    async def remove(self, session_name: str) -> dict[str, Any]:
        """The session is deleted: remove the worktree; delete its branch only if merged."""
        if not self.is_worktree:
            return {}
        branch = str(self.record["branch"])
        if self._present():
            # Uncommitted work goes onto the branch first, so removing the folder loses nothing.
            with contextlib.suppress(WorkspaceConflict):
                await self._commit_all(f"agent-tui: uncommitted changes of session {session_name!r}")
        async with self._lock_repo():
            if self.path.exists():
                await run_git(["worktree", "remove", "--force", str(self.path)], self._repo(), check=False)
            await run_git(["worktree", "prune"], self._repo(), check=False)
            refs = await run_git(
                ["for-each-ref", "--format=delete %(refname)", self.checkpoint_prefix()], self._repo(), check=False
            )
            if refs.stdout.strip():
                await run_git(["update-ref", "--stdin"], self._repo(), stdin=refs.stdout, check=False)
            kept = True
            target = self.record.get("target")
            tip = await run_git(["rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"], self._repo(), check=False)
            if tip.code != 0:
                kept = False
            else:
                unchanged = tip.line() == self.base_commit
                merged = False
                if target:
                    merged = (
                        await run_git(
                            ["merge-base", "--is-ancestor", tip.line(), f"refs/heads/{target}"],
                            self._repo(),
                            check=False,
                        )
                    ).code == 0
                if unchanged or merged:
                    await run_git(["branch", "-D", "--quiet", branch], self._repo(), check=False)
                    kept = False
        for scratch in (self._index_file(), str(self.path.parent / "checkpoint.index")):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(scratch)
        self.record["branchKept"] = kept
        return {"branch": branch, "branchKept": kept}

    # ------------------------------------------------------------------ changes

    async def _scratch_index(self) -> dict[str, str]:
        """A private copy of the worktree's index with every untracked, not ignored file added to
        it, and the env that makes git read it.

        ``git diff <baseCommit>`` against it then compares the base with the working tree, new
        files included, hashing in memory: nothing is written to the object store (``git add -A``
        would write a loose object per changed file, ~2 ms each), and the worktree's own index,
        which an agent running git may be using, is never touched.
        """
        index = self._index_file()
        real = await run_git(["rev-parse", "--path-format=absolute", "--git-path", "index"], self.path)
        try:
            await asyncio.to_thread(shutil.copyfile, real.line(), index)
        except FileNotFoundError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(index)
        env = {"GIT_INDEX_FILE": index}
        untracked = await run_git(["ls-files", "-z", "--others", "--exclude-standard"], self.path, env=env)
        if untracked.stdout:
            # --info-only: hashed into the scratch index, never written to the object store (git
            # diff reads such files from the working tree). One pass, unlike `git add -N <paths>`,
            # whose pathspec matching grows with paths x pathspecs (1 s for 2,500 new files).
            await run_git(
                ["update-index", "--add", "--info-only", "-z", "--stdin"],
                self.path,
                env=env,
                stdin=untracked.stdout,
            )
        return env

    async def changes(self) -> WorkspaceChanges:
        self._require_worktree()
        await self.ensure()
        async with self._lock:
            env = await self._scratch_index()
            base = self.base_commit
            # One diff gives both the statuses (--raw) and the line counts (--numstat): each
            # modified file is hashed once per listing, not twice.
            listing, head = await asyncio.gather(
                run_git(["diff", "--no-ext-diff", "--no-textconv", "-z", "-M", "--raw", "--numstat", base],
                        self.path, env=env),
                run_git(["rev-parse", "HEAD"], self.path),
            )
        return WorkspaceChanges(base_commit=base, head=head.line(), files=_parse(listing.text))

    async def diff(self, path: str | None = None, context: int = 3) -> str:
        self._require_worktree()
        if not isinstance(context, int) or isinstance(context, bool) or not 0 <= context <= MAX_CONTEXT:
            raise InvalidRequest(f"context must be an integer from 0 to {MAX_CONTEXT}")
        relative = self.check_path(path) if path is not None else None
        await self.ensure()
        async with self._lock:
            env = await self._scratch_index()
            args = ["diff", "--no-color", "--no-ext-diff", "--no-textconv", "-M",
                    f"-U{context}", self.base_commit]
            if relative is not None:
                args += ["--", relative]
            result = await run_git(args, self.path, env=env)
        return result.text

    def check_path(self, path: str) -> str:
        """A client's path, confined to the worktree: 400 ``INVALID_PATH`` for absolute paths,
        ``..`` and anything a symlink leads outside of it."""
        relative = clean_relative(path)
        if relative == "." or relative.split("/", 1)[0] == ".git":
            raise InvalidPath(f"not a path in the workspace: {path!r}")
        target = confine(self.path, relative)
        # A link to elsewhere inside the worktree is still a link: git would diff or restore the
        # link, not what it names, so the client would not get what it asked for.
        if Path(os.path.realpath(self.path)) / relative != target:
            raise InvalidPath(f"path goes through a symlink: {path!r}")
        return relative

    # ------------------------------------------------------------------ writes

    async def _identity_env(self) -> dict[str, str]:
        if self._identity is None:
            ident = await run_git(["var", "GIT_COMMITTER_IDENT"], self.path, check=False)
            self._identity = {} if ident.code == 0 else dict(_FALLBACK_IDENTITY)
        return self._identity

    async def _commit_all(self, message: str) -> str:
        await run_git(["add", "--all", "--", "."], self.path)
        staged = await run_git(["diff", "--cached", "--quiet"], self.path, check=False)
        if staged.code == 0:
            raise WorkspaceConflict("nothing to commit", code="NOTHING_TO_COMMIT")
        await run_git(["commit", "--quiet", "--no-verify", "-m", message], self.path,
                      env=await self._identity_env())
        return (await run_git(["rev-parse", "HEAD"], self.path)).line()

    async def commit(self, message: str) -> str:
        self._require_worktree()
        if not isinstance(message, str) or not message.strip():
            raise InvalidRequest("commit message must be a non-empty string")
        await self.ensure()
        async with self._writing():
            commit = await self._commit_all(message)
        await self._publish("workspace:committed", {"commit": commit, "message": message})
        await self.publish_changes()
        return commit

    async def discard(self, paths: list[str] | None = None) -> list[str]:
        self._require_worktree()
        if paths is not None and (not isinstance(paths, list) or not all(isinstance(p, str) for p in paths)):
            raise InvalidRequest("paths must be a list of strings")
        relatives = [self.check_path(p) for p in paths] if paths is not None else None
        await self.ensure()
        base = self.base_commit
        if relatives is None:
            relatives = [f.path for f in (await self.changes()).files]
            async with self._writing():
                await run_git(["reset", "--quiet", "--hard", base], self.path)
                await run_git(["clean", "-f", "-d", "--quiet"], self.path)
        else:
            async with self._writing():
                for relative in relatives:
                    await run_git(["rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", relative], self.path)
                    in_base = await run_git(["ls-tree", "--name-only", base, "--", relative], self.path)
                    if in_base.text.strip():
                        await run_git(["checkout", base, "--", relative], self.path)
                    else:
                        target = self.path / relative
                        if target.is_dir() and not target.is_symlink():
                            await run_git(["clean", "-f", "-d", "--quiet", "--", relative], self.path)
                        else:
                            with contextlib.suppress(FileNotFoundError):
                                target.unlink()
        await self._publish("workspace:discarded", {"paths": relatives})
        await self.publish_changes()
        return relatives

    async def merge(self, session_name: str, into: str | None = None, strategy: str = "merge") -> dict[str, Any]:
        self._require_worktree()
        if strategy not in ("merge", "squash", "rebase"):
            raise InvalidRequest("strategy must be merge, squash or rebase")
        target = into if into is not None else self.record.get("target")
        if not target:
            raise InvalidRequest("baseRef named no branch: say which branch to merge into (into)")
        await check_branch_name(target, self._repo())
        branch = str(self.record["branch"])
        if target == branch:
            raise InvalidRequest("a session branch cannot be merged into itself")
        await self.ensure()
        repo = self._repo()
        async with self._writing():
            with contextlib.suppress(WorkspaceConflict):
                await self._commit_all(f"agent-tui: changes of session {session_name!r}")
            async with self._lock_repo():
                new = await self._merge_locked(repo, branch, target, strategy, session_name)
                # The session goes on from the merged state, with nothing left to review.
                await run_git(["reset", "--quiet", "--hard", new], self.path)
                self.record["baseCommit"] = new
                self.record["target"] = target
                self.record.pop("lastCheckpoint", None)
                await self._persist(self.record)
        await self._publish("workspace:merged", {"commit": new, "into": target, "strategy": strategy})
        await self.publish_changes()
        return {"commit": new, "into": target}

    async def _merge_locked(self, repo: str, branch: str, target: str, strategy: str, name: str) -> str:
        tip = await run_git(["rev-parse", "--verify", "--quiet", f"refs/heads/{target}"], repo, check=False)
        if tip.code != 0:
            raise InvalidRequest(f"no branch {target!r} in {repo!r}")
        old = tip.line()
        head = (await run_git(["rev-parse", "HEAD"], self.path)).line()
        if await _is_ancestor(head, old, repo):
            raise WorkspaceConflict(f"nothing to merge: {target!r} already has every change", code="NOTHING_TO_MERGE")
        checkout = await _checked_out_at(repo, target)
        if checkout is not None:
            # GIT_OPTIONAL_LOCKS=0: looking must not rewrite the user's index (status refreshes it).
            dirty = await run_git(["status", "--porcelain", "-z", "--untracked-files=no"], checkout,
                                  env={"GIT_OPTIONAL_LOCKS": "0"})
            if dirty.stdout:
                raise WorkspaceConflict(
                    f"{target!r} is checked out in {checkout!r} with local changes; commit or stash them first",
                    code="TARGET_DIRTY",
                    details={"worktree": checkout},
                )
        fast_forward = await _is_ancestor(old, head, repo)
        tree = await self._merge_tree(repo, old, head, target)
        ident = await self._identity_env()
        if strategy == "squash":
            log_text = await run_git(["log", "--format=- %s", f"{old}..{head}"], repo)
            message = f"{name} (agent-tui session, squashed)\n\n{log_text.text}"
            new = (await run_git(["commit-tree", tree, "-p", old, "-F", "-"], repo, env=ident,
                                 stdin=message.encode())).line()
        elif fast_forward:
            new = head
        elif strategy == "merge":
            message = f"Merge branch '{branch}' into {target}"
            new = (await run_git(["commit-tree", tree, "-p", old, "-p", head, "-m", message], repo,
                                 env=ident)).line()
        else:  # rebase: replay the session's commits on the target, in the session's own worktree
            rebased = await run_git(["rebase", "--quiet", "--no-verify", old], self.path, env=ident, check=False)
            if rebased.code != 0:
                await run_git(["rebase", "--abort"], self.path, check=False)
                await self._conflict(target, [], rebased.stderr.decode("utf-8", "replace"))
            new = (await run_git(["rev-parse", "HEAD"], self.path)).line()
        if checkout is not None:
            moved = await run_git(["merge", "--ff-only", "--quiet", "--no-edit", new], checkout, env=ident, check=False)
            if moved.code != 0:
                raise WorkspaceConflict(
                    f"{target!r} could not be moved in {checkout!r}: "
                    + moved.stderr.decode("utf-8", "replace").strip()[:2000],
                    code="TARGET_DIRTY",
                    details={"worktree": checkout},
                )
        else:
            updated = await run_git(
                ["update-ref", "-m", f"agent-tui: merge {branch}", f"refs/heads/{target}", new, old], repo, check=False
            )
            if updated.code != 0:
                raise WorkspaceConflict(f"{target!r} moved during the merge; try again", code="TARGET_MOVED")
        return new

    async def _merge_tree(self, repo: str, ours: str, theirs: str, target: str) -> str:
        """The merged tree, computed in the object store only (no working tree, no index)."""
        result = await run_git(
            ["merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", ours, theirs], repo, check=False
        )
        fields = result.text.split("\0")
        if result.code == 0:
            return fields[0]
        if result.code != 1:
            raise GitError(f"git merge-tree failed: {result.stderr.decode('utf-8', 'replace')[:2000]}")
        files: list[str] = []
        for name in fields[1:]:
            if not name:
                break
            if name not in files:
                files.append(name)
        await self._conflict(target, files)
        raise AssertionError("unreachable")

    async def _conflict(self, target: str, files: list[str], reason: str = "") -> None:
        await self._publish("workspace:conflict", {"into": target, "files": files})
        message = f"merging into {target!r} conflicts" + (f" in {', '.join(files[:20])}" if files else "")
        if reason and not files:
            message += f": {reason.strip()[:1000]}"
        raise WorkspaceConflict(message, code="MERGE_CONFLICT", details={"files": files})

    # ------------------------------------------------------------------ checkpoints

    def checkpoint_prefix(self) -> str:
        return f"refs/agent-tui/{self.session_id}/"

    async def checkpoint(self, seq: int, message_id: str) -> str | None:
        """After a query: the worktree's whole state (uncommitted and untracked files included) as
        a commit on the private ref ``refs/agent-tui/<session>/<seq of query:started>``, so every
        query is a restore point. The worktree, its index and the session branch are untouched.
        Skipped when nothing changed since the last checkpoint. Never raises."""
        if not self.is_worktree or not self._present():
            return None
        try:
            async with self._lock:
                index = str(self.path.parent / "checkpoint.index")
                real = await run_git(["rev-parse", "--path-format=absolute", "--git-path", "index"], self.path)
                with contextlib.suppress(FileNotFoundError):
                    await asyncio.to_thread(shutil.copyfile, real.line(), index)
                env = {"GIT_INDEX_FILE": index}
                await run_git(["add", "--all", "--", "."], self.path, env=env)
                tree = (await run_git(["write-tree"], self.path, env=env)).line()
                head = (await run_git(["rev-parse", "HEAD"], self.path)).line()
                last = self.record.get("lastCheckpoint")
                previous = last["commit"] if isinstance(last, dict) else head
                previous_tree = (await run_git(["rev-parse", f"{previous}^{{tree}}"], self.path)).line()
                if tree == previous_tree:
                    return None
                parents = ["-p", head] + (["-p", previous] if previous != head else [])
                commit = (
                    await run_git(
                        ["commit-tree", tree, *parents, "-m", f"agent-tui checkpoint after {message_id}"],
                        self.path,
                        env=await self._identity_env(),
                    )
                ).line()
                ref = f"{self.checkpoint_prefix()}{seq}"
                await run_git(["update-ref", ref, commit], self.path)
                self.record["lastCheckpoint"] = {"ref": ref, "commit": commit}
                await self._persist(self.record)
        except Exception as exc:  # noqa: BLE001 - a missed checkpoint must not fail the query
            log.warning("session %s: checkpoint failed: %s", self.session_id, exc)
            return None
        await self._publish("workspace:checkpoint", {"ref": ref, "commit": commit, "messageId": message_id})
        return commit

    async def restore(self, checkpoint: Any) -> dict[str, Any]:
        """Put the worktree's files back to a checkpoint (``base``: the base commit); the branch,
        the checkpoints and the user's checkout do not move. Each changed path is announced as a
        ``file:*`` event, then ``workspace:restored`` and ``workspace:changes``."""
        from .checkpoints import find_checkpoint, restore_tree

        self._require_worktree()
        found = await find_checkpoint(self, checkpoint)
        await self.ensure()
        async with self._writing():
            drafts = await restore_tree(self, found.commit)
            if found.name == "base":
                self.record.pop("lastCheckpoint", None)
            else:
                # The next query's checkpoint is skipped if it leaves the files as restored.
                self.record["lastCheckpoint"] = {"ref": f"{self.checkpoint_prefix()}{found.name}",
                                                 "commit": found.commit}
            await self._persist(self.record)
            # Announced before the lock is let go: a query waiting for it comes after, in the log too.
            for draft in drafts:
                await self._publish(draft["type"], draft["payload"])
            paths = [d["payload"]["path"] for d in drafts]
            await self._publish("workspace:restored",
                                {"checkpoint": found.name, "commit": found.commit, "paths": paths})
        await self.publish_changes()
        return {"checkpoint": found.name, "commit": found.commit, "paths": paths}

    async def start_from(self, commit: str) -> None:
        """A fork's new worktree takes a checkpoint's files, as uncommitted changes."""
        from .checkpoints import restore_tree

        await self.ensure()
        async with self._lock:
            await restore_tree(self, commit, keep_previous=False)

    async def publish_changes(self) -> WorkspaceChanges | None:
        """Publish ``workspace:changes`` (after every query and every write)."""
        if not self.is_worktree or not self._present():
            return None
        try:
            changes = await self.changes()
        except (GitError, SandboxError) as exc:
            log.warning("session %s: computing changes failed: %s", self.session_id, exc)
            return None
        await self._publish("workspace:changes", changes.wire())
        return changes


async def _is_ancestor(ancestor: str, descendant: str, repo: str) -> bool:
    result = await run_git(["merge-base", "--is-ancestor", ancestor, descendant], repo, check=False)
    return result.code == 0


async def _checked_out_at(repo: str, branch: str) -> str | None:
    """The worktree (the user's checkout or another) that has ``branch`` checked out, if any."""
    listing = await run_git(["worktree", "list", "--porcelain", "-z"], repo)
    current: str | None = None
    for field in listing.text.split("\0"):
        if field.startswith("worktree "):
            current = field[len("worktree "):]
        elif field == f"branch refs/heads/{branch}" and current is not None:
            return current
    return None


def _parse(listing: str) -> list[ChangedFile]:
    """Parse ``git diff --raw --numstat -z``: the raw entries (``:<modes> <shas> <status>``, then
    one path, or two for renames) come first, then the numstat entries (``<added>\t<deleted>\t<path>``,
    or ``<added>\t<deleted>\t`` then two paths for renames; ``-`` counts for binary files)."""
    fields = listing.split("\0")
    entries: list[tuple[str, str | None, str]] = []
    i = 0
    while i < len(fields) and fields[i].startswith(":"):
        code = fields[i].rsplit(" ", 1)[-1]
        if code[:1] in "RC":
            entries.append((code[0], fields[i + 1], fields[i + 2]))
            i += 3
        else:
            entries.append((code[:1], None, fields[i + 1]))
            i += 2
    counts: dict[str, tuple[int, int, bool]] = {}
    while i < len(fields) - 1:
        head = fields[i]
        if not head:
            i += 1
            continue
        added, deleted, path = head.split("\t", 2)
        if path == "":  # a rename: old and new path follow as their own fields
            path = fields[i + 2]
            i += 3
        else:
            i += 1
        binary = added == "-"
        counts[path] = (0 if binary else int(added), 0 if binary else int(deleted), binary)
    files: list[ChangedFile] = []
    for code, old, path in entries:
        kind = _STATUS.get(code, "modified")
        added, deleted, binary = counts.get(path, (0, 0, False))
        files.append(
            ChangedFile(
                path=path,
                status=kind,  # type: ignore[arg-type]
                old_path=old if kind == "renamed" else None,
                additions=added,
                deletions=deleted,
                binary=True if binary else None,
            )
        )
    return files
