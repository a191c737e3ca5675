"""ExecutionEnvironment: one session's sandbox as the session sees it.

Created lazily on the first message, recreated on the next message after it ends (idle timeout,
crash, manual terminate). Creating it means: start the primitive, copy the runner in, apply the
agent profile, and restore the agent's transcript from the store, each step reported as an
``ee:creating`` status message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import SandboxError
from ..models import AgentProfile
from ..primitives.base import EnvironmentPrimitive, SandboxProcess
from ..primitives.registry import Capabilities, capabilities
from ..store.base import SessionStore

log = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any]], Awaitable[Any]]
PrimitiveFactory = Callable[[], EnvironmentPrimitive]

_RUNTIME_DIR = Path(__file__).resolve().parent.parent


@cache
def runner_bundle() -> dict[str, bytes]:
    """The runner package as it is laid out in a sandbox's ``app/`` (read from disk once)."""
    runner_dir = _RUNTIME_DIR / "runner"
    return {
        f"app/agent_runner/{path.relative_to(runner_dir).as_posix()}": path.read_bytes()
        for path in sorted(runner_dir.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


class RunnerCommandFailed(SandboxError):
    code = "RUNNER_FAILED"


class ExecutionEnvironment:
    def __init__(
        self,
        session_id: str,
        *,
        primitive_name: str,
        make_primitive: PrimitiveFactory,
        publish: Publish,
        store: SessionStore,
        architecture: str,
        has_transcript: bool,
        profile: AgentProfile,
        python: str,
        idle_timeout_s: float,
    ) -> None:
        self.session_id = session_id
        self.primitive_name = primitive_name
        self._make_primitive = make_primitive
        self._publish = publish
        self._store = store
        self.architecture = architecture
        self.has_transcript = has_transcript
        self.profile = profile
        self.python = python
        self.idle_timeout_s = idle_timeout_s
        #: What the backend can do (registry.py): the one place this session's checks read.
        self.capabilities: Capabilities = capabilities(primitive_name)
        self.primitive: EnvironmentPrimitive | None = None
        self._lock = asyncio.Lock()
        self._idle: asyncio.TimerHandle | None = None
        self._busy = 0
        #: Set for sessions with a workspace: readies the worktree before the sandbox starts.
        self.prepare: Callable[[str, EnvironmentPrimitive], Awaitable[None]] | None = None
        #: Remote sandboxes with a workspace: the worktree goes up after start, changes come back
        #: before the sandbox is dropped.
        self.after_start: Callable[[str, EnvironmentPrimitive], Awaitable[None]] | None = None
        self.before_drop: Callable[[str, EnvironmentPrimitive], Awaitable[None]] | None = None
        #: Sessions with a workspace: the project's setup command, once the sandbox is ready.
        self.setup: Callable[[ExecutionEnvironment, Callable[[str], Awaitable[None]]], Awaitable[None]] | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def is_active(self) -> bool:
        return self.primitive is not None

    async def ensure_ready(self) -> EnvironmentPrimitive:
        async with self._lock:
            self._cancel_idle()
            if self.primitive is not None:
                if await self.primitive.is_running():
                    return self.primitive
                # It died under us (deleted folder, sandbox gone): say so, then build a new one.
                await self._drop("unhealthy")
            return await self._create()

    async def _create(self) -> EnvironmentPrimitive:
        started = time.monotonic()

        async def status(message: str) -> None:
            elapsed = time.monotonic() - started
            await self._publish(
                "ee:creating",
                {"statusMessage": f"{message} ({elapsed:.1f}s)", "primitive": self.primitive_name},
            )

        await status(f"Creating {self.primitive_name} sandbox")
        primitive = self._make_primitive()
        # Primitives with a slow, multi-step start (Modal: image, scheduling) report each step
        # as an ``ee:creating`` status, and take the profile (its ``env`` becomes secrets).
        primitive.configure(status=status, profile=self.profile)
        try:
            if self.prepare is not None:
                await status("Preparing the worktree")
                await self.prepare(self.primitive_name, primitive)
            await primitive.start()
            await status("Installing the runner")
            await primitive.write_files(runner_bundle())
            if self.after_start is not None and self.capabilities.file_sync:
                await status("Uploading the worktree")
                await self.after_start(self.primitive_name, primitive)
            self.primitive = primitive
            await status(f"Applying profile {self.profile.id!r}")
            await self.run_command(
                "load-agent-profile",
                {
                    "baseWorkspacePath": self.workspace,
                    "architecture": self.architecture,
                    "agentProfile": self.profile.model_dump(mode="json", by_alias=True),
                },
            )
            if self.setup is not None:
                await self.setup(self, status)
            if self.has_transcript:
                transcript = await self._store.load_transcript(self.session_id, self.architecture)
                if transcript is not None:
                    await status("Restoring the agent's conversation")
                    await self.run_command(
                        "load-session-transcript",
                        {
                            "baseWorkspacePath": self.workspace,
                            "sessionId": self.session_id,
                            "architecture": self.architecture,
                            "transcript": transcript,
                        },
                    )
        except Exception as exc:
            self.primitive = None
            try:
                await primitive.terminate()
            except Exception:  # noqa: BLE001 - already failing; the first error is the one to report
                log.exception("terminating a sandbox that failed to start")
            message = exc.message if isinstance(exc, SandboxError) else f"{type(exc).__name__}: {exc}"
            await self._publish(
                "ee:error",
                {
                    "message": f"sandbox failed to start: {message}",
                    "code": getattr(exc, "code", "SANDBOX_START_FAILED"),
                },
            )
            raise SandboxError(f"sandbox failed to start: {message}", code="SANDBOX_START_FAILED") from exc
        await self._store.update_session(self.session_id, {"environmentId": primitive.environment_id})
        await self._publish("ee:ready", {"eeId": primitive.environment_id, "primitive": self.primitive_name})
        return primitive

    async def reattach(self, environment_id: str) -> bool:
        """After a restart of agent-tui: take over a sandbox that is still running (backends whose
        sandboxes outlive us declare ``reattach``). Returns whether it worked."""
        if not self.capabilities.reattach:
            return False
        primitive = self._make_primitive()
        try:
            if not await primitive.attach(environment_id):  # type: ignore[attr-defined]
                return False
        except Exception:  # noqa: BLE001 - a sandbox we cannot reach is simply not re-attached
            log.exception("re-attaching sandbox %s of session %s", environment_id, self.session_id)
            return False
        self.primitive = primitive
        self.query_ended()  # start its idle timer
        return True

    async def terminate(self, reason: str) -> bool:
        """End the sandbox (idempotent). Returns whether one was running."""
        async with self._lock:
            self._cancel_idle()
            if self.primitive is None:
                return False
            await self._drop(reason)
            return True

    async def _drop(self, reason: str) -> None:
        primitive, self.primitive = self.primitive, None
        if primitive is not None and self.before_drop is not None:
            try:
                await self.before_drop(self.primitive_name, primitive)
            except Exception:  # noqa: BLE001 - the sandbox ends either way
                log.exception("session %s: saving the workspace before the sandbox ends", self.session_id)
        if primitive is not None:
            await self._store.update_session(self.session_id, {"environmentId": None})
            try:
                await primitive.terminate()
            except Exception:  # noqa: BLE001 - the sandbox is gone either way; say so below
                log.exception("terminating sandbox of session %s", self.session_id)
        await self._publish("ee:terminated", {"reason": reason})

    # ------------------------------------------------------------------ idle timeout

    def query_started(self) -> None:
        self._busy += 1
        self._cancel_idle()

    def query_ended(self) -> None:
        self._busy = max(0, self._busy - 1)
        if self._busy == 0 and self.primitive is not None and self.idle_timeout_s > 0:
            loop = asyncio.get_running_loop()
            self._idle = loop.call_later(self.idle_timeout_s, self._on_idle)

    def _on_idle(self) -> None:
        self._idle = None
        if self._busy == 0:
            asyncio.get_running_loop().create_task(self.terminate("idle"))

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    # ------------------------------------------------------------------ runner

    @property
    def session_dir(self) -> str:
        if self.primitive is None:
            raise SandboxError("sandbox is not running", code="SANDBOX_NOT_RUNNING")
        return self.primitive.session_dir

    @property
    def workspace(self) -> str:
        return f"{self.session_dir}/workspace"

    def runner_env(self) -> dict[str, str]:
        import os

        return {
            "PYTHONPATH": f"{self.session_dir}/app",
            "PYTHONUNBUFFERED": "1",
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": f"{self.session_dir}/home",
            "LANG": "C.UTF-8",
        }

    async def start_runner(
        self, command: str, request: dict[str, Any], extra_env: dict[str, str] | None = None
    ) -> SandboxProcess:
        primitive = self.primitive
        if primitive is None:
            raise SandboxError("sandbox is not running", code="SANDBOX_NOT_RUNNING")
        env = self.runner_env()
        if extra_env:
            env.update(extra_env)
        # -S: the runner is stdlib-only, and skipping site (a venv's site alone is ~50 ms) is most
        # of its start-up; its bytecode is cached in app/ after the first run.
        process = await primitive.exec([self.python, "-S", "-m", "agent_runner", command], cwd="app", env=env)
        await process.write_stdin((json.dumps(request) + "\n").encode())
        return process

    async def run_command(self, command: str, request: dict[str, Any]) -> dict[str, Any]:
        """Run a one-shot runner command; returns its ``script_output`` document."""
        process = await self.start_runner(command, request)
        await process.close_stdin()
        result: dict[str, Any] | None = None
        stderr: list[str] = []

        async def drain_stderr() -> None:
            async for line in process.stderr_lines():
                if len(stderr) < 50:
                    stderr.append(line.decode("utf-8", "replace"))

        drain = asyncio.create_task(drain_stderr())
        async for line in process.stdout_lines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and doc.get("type") == "script_output":
                result = doc
            elif isinstance(doc, dict) and doc.get("type") == "log":
                await self._publish("log", doc.get("payload") or {})
        code = await process.wait()
        await drain
        if result is None or not result.get("success") or code != 0:
            reason = (result or {}).get("error") or "\n".join(stderr[-5:]) or f"exit code {code}"
            raise RunnerCommandFailed(f"runner {command} failed: {reason}")
        return result

    async def save_transcript(self) -> None:
        if not self.has_transcript or self.primitive is None:
            return
        result = await self.run_command(
            "read-session-transcript",
            {
                "baseWorkspacePath": self.workspace,
                "sessionId": self.session_id,
                "architecture": self.architecture,
            },
        )
        transcript = (result.get("data") or {}).get("transcript")
        if transcript is not None:
            await self._store.save_transcript(self.session_id, self.architecture, transcript)
