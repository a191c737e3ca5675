"""What the Changes pane's keys do: commit, merge, discard, open in $EDITOR, copy a path, comment on
a diff line. Each asks what it needs in a dialog, then calls the client (the local runtime or a
remote one: the same methods), and says how it went. The pane redraws from the events that follow
(``workspace:changes``, ``workspace:merged`` …), not from the answers here."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .widgets.changes_pane import ChangesPane


def run_changes_action(pane: ChangesPane, what: str) -> None:
    app: Any = pane.app
    model = pane.model
    workspace = model.summary.workspace if model else None
    if model is None or workspace is None or workspace.mode != "worktree":
        app.notify("This session has no worktree to review (create a session with a Project).",
                   severity="warning", timeout=3)
        return
    session_id = model.session_id
    client = pane.client
    path = pane.selected_path
    count = len(pane.paths)

    def run(title: str, call: Callable[[], Awaitable[Any]], done: Callable[[Any], str]) -> None:
        async def go() -> None:
            try:
                result = await call()
            except Exception as exc:  # noqa: BLE001 - every refusal is shown, nothing is lost
                _refused(app, title, exc)
                return
            app.notify(done(result), title=title, timeout=4)

        app.run_worker(go(), group="changes-action", exit_on_error=False)

    if what == "commit":
        from .screens.changes_dialogs import CommitScreen

        app.push_screen(CommitScreen(workspace.branch or "the session branch", count), lambda message: message and run(
            "Commit", lambda: client.commit(session_id, message), lambda commit: f"Committed {str(commit)[:10]}."))
    elif what == "merge":
        from .screens.changes_dialogs import MergeScreen

        def merge(answer: dict[str, str] | None) -> None:
            if answer:
                run("Merge", lambda: client.merge(session_id, answer["into"], answer["strategy"]),
                    lambda result: f"Merged into {result['into']} ({answer['strategy']}) as {result['commit'][:10]}.")

        app.push_screen(MergeScreen(workspace.branch or "the session branch", workspace.target or "", count), merge)
    elif what in ("discard", "discard_all"):
        from .screens.confirm import ConfirmScreen

        paths = None if what == "discard_all" else [path] if path else []
        if paths == []:
            app.notify("No file is selected.", severity="warning", timeout=2)
            return
        question = (f"Discard every change in this session ({count} file{'s' if count != 1 else ''})?"
                    if paths is None else f"Discard the changes to {path}?")
        app.push_screen(ConfirmScreen(question + "\nThey go back to the base commit; this cannot be undone.",
                                      yes="Discard"),
                        lambda yes: yes and run("Discard", lambda: client.discard(session_id, paths),
                                                lambda done: f"Discarded {len(done)} file{'s' if len(done) != 1 else ''}."))
    elif what == "edit":
        if not path:
            app.notify("No file is selected.", severity="warning", timeout=2)
        elif app.mode == "remote":
            app.notify("Opening in $EDITOR is not available over --connect: the worktree is on the server's "
                       "machine. Copy the path (y) or comment on a line (r) instead.", severity="warning")
        else:
            open_in_editor(app, Path(workspace.path) / path)
    elif what == "copy_path":
        if not path:
            app.notify("No file is selected.", severity="warning", timeout=2)
            return
        # Over --connect the worktree is elsewhere: the path inside it is what means something here.
        text = path if app.mode == "remote" else str(Path(workspace.path) / path)
        app.copy_text(text)
        app.notify(f"Copied {text}", timeout=2)
    elif what == "comment":
        line = pane.selected_line
        if line is None or not line.quotable:
            app.notify("Move to a line of the diff (added, removed or unchanged) first.", severity="warning",
                       timeout=3)
            return
        from .screens.changes_dialogs import CommentScreen

        where = f"{line.path} line {line.line}" + (" (removed)" if line.kind == "removed" else "")
        app.push_screen(CommentScreen(where, line.text), lambda text: text and run(
            "Comment", lambda: client.send_message(session_id, comment_message(where, line.text, text)),
            lambda answer: "Sent to the agent" + (" (queued: a query is running)." if answer[1] else ".")))


def comment_message(where: str, quoted: str, comment: str) -> str:
    """The message a diff-line comment becomes: the file and line, the line itself, the comment."""
    return f"Review comment on {where}:\n```diff\n{quoted}\n```\n{comment}"


def open_in_editor(app: Any, path: Path) -> None:
    from textual.app import SuspendNotSupported

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        with app.suspend():
            subprocess.run([*shlex.split(editor), str(path)], check=False)
    except SuspendNotSupported:
        app.notify("This terminal cannot hand the screen to an editor (e.g. in a browser).", severity="warning")
    except OSError as exc:
        app.notify(f"Could not run {editor!r}: {exc}", title="Editor", severity="error")


def _refused(app: Any, title: str, exc: BaseException) -> None:
    code = getattr(exc, "code", "")
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    details = getattr(exc, "details", None) or {}
    if code == "MERGE_CONFLICT":
        files = [str(f) for f in details.get("files") or ()]
        listed = "\n".join(f"  {f}" for f in files[:20]) + (f"\n  … and {len(files) - 20} more" if len(files) > 20 else "")
        app.notify(("Nothing was changed. Conflicting files:\n" + listed) if files else message,
                   title="Merge refused: conflicts", severity="error", timeout=20)
    elif code == "TARGET_DIRTY":
        app.notify(f"{message}\nNothing was merged.", title="Target branch has local changes", severity="error",
                   timeout=20)
    else:
        app.notify(message, title=f"{title} failed", severity="error", timeout=8)
