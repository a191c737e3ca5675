"""ChangesPane: what the selected session's agent changed in its worktree, and the diff of one file.

The file list is the reducer's change set (``SessionState.changes``, folded from ``file:*`` and
``workspace:changes``): the pane derives nothing of its own, so it shows what the server and every
other client show. Only the diff text is fetched (``client.get_diff``), for the selected file, and
again only when that file's entry changed or a ``file:*`` event named it. Updates are coalesced
(``DEBOUNCE_S``): an agent rewriting a thousand files redraws the list a few times, not a thousand.
Both lists are ``RowList``s, which draw only the visible rows.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import Worker, get_current_worker

from ..diff_lines import DiffLine, parse, render
from .row_list import RowList

if TYPE_CHECKING:
    from ..session_model import SessionModel

MINUS = "\u2212"  # typographic minus, as the session rows show counts
#: Model changes arriving within this long are drawn once.
DEBOUNCE_S = 0.2
#: The diff is fetched when the cursor has rested on a file this long.
DIFF_DELAY_S = 0.08

_STATUS = {"added": ("A", "$text-success"), "modified": ("M", "$text-warning"), "deleted": ("D", "$text-error"),
           "renamed": ("R", "$text-accent")}

FileKey = tuple[str, str, int, int, bool, str | None]


def file_key(entry: dict[str, Any]) -> FileKey:
    return (str(entry.get("path")), str(entry.get("status")), int(entry.get("additions") or 0),
            int(entry.get("deletions") or 0), bool(entry.get("binary")), entry.get("oldPath"))


def file_prompt(key: FileKey) -> Content:
    path, status, additions, deletions, binary, old_path = key
    letter, style = _STATUS.get(status, ("?", "$text-muted"))
    counts = Content.styled(f"{'binary':>10}   ", "$text-muted") if binary else Content.assemble(
        (f"{'+' + str(additions):>6}", "$text-success"), (f" {MINUS + str(deletions):<5} ", "$text-error"))
    name = f"{old_path} → {path}" if old_path and status == "renamed" else path
    return Content.assemble((letter, f"bold {style}"), " ", counts, name)


class FileList(RowList[FileKey]):
    """Changed files; the one under the cursor has its diff shown below."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(file_prompt, **kwargs)


class DiffView(RowList[Content]):
    """The selected file's diff, a row per line (the line under the cursor is what a comment quotes)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(lambda content: content, **kwargs)


class ChangesPane(Vertical):
    """Changed files with status and counts, and the highlighted file's diff."""

    HELP = """\
## Changes pane

- **up/down**: move through the files (the diff follows); **enter** or **tab**: into the diff
- **c**: commit everything on the session branch (asks for a message)
- **m**: merge into a branch (merge / squash / rebase; asks first)
- **d**: discard the file's changes · **D**: discard all (asks first)
- **e**: open the file in `$EDITOR` (local runtime only) · **y**: copy its path
- **r** on a diff line: comment on it; the agent gets it as a message quoting the file and line
- **f5**: hide the pane
"""

    DEFAULT_CSS = """
    ChangesPane {
        height: 1fr;
        display: none;
        &.-shown { display: block; }
        & > #changes-title { height: 1; padding: 0 1; background: $panel; color: $text; text-style: bold; }
        & > #changes-banner { height: auto; padding: 0 1; display: none; }
        & > #changes-banner.-shown { display: block; }
        & > #changes-banner.-error { color: $text-error; background: $error 15%; }
        & > #changes-banner.-ok { color: $text-success; }
        & > #changes-empty { height: auto; padding: 1 2; color: $text-muted; }
        & > FileList { height: auto; max-height: 35%; }
        & > #changes-diff-title { height: 1; padding: 0 1; color: $text-muted; background: $panel; }
        & > DiffView { height: 1fr; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "changes('commit')", "Commit"),
        Binding("m", "changes('merge')", "Merge"),
        Binding("d", "changes('discard')", "Discard file"),
        Binding("D", "changes('discard_all')", "Discard all", show=False),
        Binding("e", "changes('edit')", "Edit"),
        Binding("y", "changes('copy_path')", "Copy path", show=False),
        Binding("r", "changes('comment')", "Comment", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model: SessionModel | None = None
        self.client: Any = None
        #: What the list shows now, by path (the state it was drawn from).
        self._files: dict[str, FileKey] = {}
        self._signature: tuple[Any, ...] | None = None
        self._diff_for: tuple[Any, ...] | None = None  # (path, its key, head) the diff was fetched for
        self._seen_logs = 0
        self._pending = False
        self.diff_lines: list[DiffLine] = []
        #: Set while a diff fetch is due or runs; tests and the screenshot script wait on it.
        self.diff_loading = False
        self._fetch_timer: Timer | None = None
        self._diff_worker: Worker[None] | None = None

    def compose(self):  # noqa: ANN201 - textual's ComposeResult
        yield Static("Changes", id="changes-title", markup=False)
        yield Static("", id="changes-banner", markup=False)
        yield Static("", id="changes-empty", markup=False)
        yield FileList(id="changes-files")
        yield Static("", id="changes-diff-title", markup=False)
        yield DiffView(id="changes-diff")

    @property
    def file_list(self) -> FileList:
        return self.query_one("#changes-files", FileList)

    @property
    def diff_view(self) -> DiffView:
        return self.query_one("#changes-diff", DiffView)

    @property
    def shown(self) -> bool:
        return self.has_class("-shown")

    @property
    def paths(self) -> list[str]:
        return list(self._files)

    @property
    def selected_path(self) -> str | None:
        file_list = self.file_list
        index = file_list.cursor
        if index is None or not self._files:
            return None
        return file_list.rows[index][0]

    @property
    def selected_file(self) -> FileKey | None:
        path = self.selected_path
        return self._files.get(path) if path else None

    @property
    def busy(self) -> bool:
        """A redraw or a diff fetch is still to come."""
        return self._pending or self.diff_loading

    # ------------------------------------------------------------------ feeding

    def set_model(self, model: SessionModel | None, client: Any) -> None:
        if model is not self.model:
            self.model = model
            self.client = client
            self._signature = None
            self._diff_for = None
            self._seen_logs = model.log_count if model else 0
            self._files = {}
            self.file_list.set_rows([])
            self.diff_view.set_rows([])
            self.diff_lines = []
        self.model_changed()

    def model_changed(self) -> None:
        """The model took a batch of events: redraw once things settle (and only while shown)."""
        if not self._pending:
            self._pending = True
            self.set_timer(DEBOUNCE_S, self.sync)

    def toggle(self) -> bool:
        self.set_class(not self.shown, "-shown")
        if self.shown:
            self.sync()
        return self.shown

    def sync(self) -> None:
        self._pending = False
        if not self.shown or not self.is_attached:
            return  # drawn when shown
        model = self.model
        workspace = model.summary.workspace if model else None
        changes = model.state.changes if model else None
        files = list((changes or {}).get("files") or ())
        self._sync_title(model, files)
        self._sync_banner(model)
        empty = self.query_one("#changes-empty", Static)
        if model is None:
            empty.update("No session.")
        elif workspace is None:
            empty.update("This session works in an empty folder: there is nothing to review. Sessions created "
                         "with a Project work on a git worktree of it; their changes show here.")
        elif workspace.mode == "in-place":
            empty.update(f"In-place mode: the agent works directly in {workspace.path}. There is no branch, so "
                         "no review or merge here.")
        elif not files:
            empty.update("No changes yet.")
        empty.display = not files
        keys = [file_key(f) for f in files]
        signature = (tuple(keys), (changes or {}).get("head"), (changes or {}).get("baseCommit"))
        if signature != self._signature:
            self._signature = signature
            self._redraw_files(keys)
        self._maybe_fetch_diff(self._named_by_new_file_events())

    def _sync_title(self, model: SessionModel | None, files: list[dict[str, Any]]) -> None:
        workspace = model.summary.workspace if model else None
        title = "Changes"
        if workspace is not None and workspace.branch:
            title += f" · {workspace.branch}"
            if workspace.target:
                title += f" → {workspace.target}"
        if files:
            additions = sum(int(f.get("additions") or 0) for f in files)
            deletions = sum(int(f.get("deletions") or 0) for f in files)
            title += f" · {len(files):,} file{'s' if len(files) != 1 else ''} +{additions:,} {MINUS}{deletions:,}"
        self.query_one("#changes-title", Static).update(title)

    def _sync_banner(self, model: SessionModel | None) -> None:
        """The last commit / merge / conflict / discard, from the reduced state (any client's)."""
        banner = self.query_one("#changes-banner", Static)
        event = model.state.workspace_event if model else None
        text, error = "", False
        if event is not None:
            payload = event.get("payload") or {}
            kind = event.get("type")
            if kind == "workspace:conflict":
                files = [str(f) for f in payload.get("files") or ()]
                text = f"Merge into {payload.get('into')} refused: conflicts in " + (
                    ", ".join(files[:10]) + (f" and {len(files) - 10} more" if len(files) > 10 else "")
                    if files else "the session's commits")
                error = True
            elif kind == "workspace:merged":
                text = (f"Merged into {payload.get('into')} ({payload.get('strategy')}) as "
                        f"{str(payload.get('commit'))[:10]}")
            elif kind == "workspace:committed":
                text = f"Committed {str(payload.get('commit'))[:10]}: {str(payload.get('message') or '').strip()[:80]}"
            elif kind == "workspace:discarded":
                paths = payload.get("paths") or []
                text = f"Discarded {len(paths)} file{'s' if len(paths) != 1 else ''}"
        banner.update(text)
        banner.set_class(bool(text), "-shown")
        banner.set_class(error, "-error")
        banner.set_class(bool(text) and not error, "-ok")

    def _redraw_files(self, keys: list[FileKey]) -> None:
        file_list = self.file_list
        keep = self.selected_path
        self._files = {k[0]: k for k in keys}
        index = next((i for i, k in enumerate(keys) if k[0] == keep), 0) if keep in self._files else 0
        file_list.set_rows(keys, index)
        if not keys:
            self.diff_view.set_rows([])
            self.diff_lines = []
            self._diff_for = None
            self.query_one("#changes-diff-title", Static).update("")

    def _named_by_new_file_events(self) -> set[str]:
        """Paths named by ``file:*`` events since the last look (their counts may not have moved
        yet: those arrive with the next ``workspace:changes``)."""
        model = self.model
        if model is None:
            return set()
        new = model.log_count - self._seen_logs
        self._seen_logs = model.log_count
        if new <= 0:
            return set()
        entries = list(model.logs)[-min(new, len(model.logs)):]
        return {str(e.event.payload.get("path")) for e in entries if e.event.type.startswith("file:")}

    def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
        event.stop()
        if isinstance(event.row_list, FileList):
            # Fetched once the cursor rests: holding a key down through the list runs no git.
            if self._fetch_timer is not None:
                self._fetch_timer.stop()
            self.diff_loading = True
            self._fetch_timer = self.set_timer(DIFF_DELAY_S, self._cursor_rested)

    def _cursor_rested(self) -> None:
        self._fetch_timer = None
        self.diff_loading = False
        self._maybe_fetch_diff(set())

    def on_row_list_selected(self, event: RowList.Selected) -> None:
        event.stop()
        if isinstance(event.row_list, FileList):
            self.diff_view.focus()
        else:
            self.action_changes("comment")

    def _maybe_fetch_diff(self, touched: set[str]) -> None:
        key = self.selected_file
        model = self.model
        if key is None or model is None:
            return
        head = (model.state.changes or {}).get("head")
        wanted = (key, head)
        if wanted == self._diff_for and key[0] not in touched:
            return
        self._diff_for = wanted
        self.query_one("#changes-diff-title", Static).update(f"{key[0]}")
        if key[4]:  # binary: git has no text diff to show
            self._show_diff([DiffLine("note", f"{key[0]}: binary file (no text diff)", key[0])])
            return
        self.diff_loading = True
        self._diff_worker = self._fetch_diff(model.session_id, key[0])

    @work(group="changes-diff", exclusive=True, exit_on_error=False)
    async def _fetch_diff(self, session_id: str, path: str) -> None:
        try:
            try:
                diff = await self.client.get_diff(session_id, path)
            except Exception as exc:  # noqa: BLE001 - shown in place of the diff
                lines = [DiffLine("note", f"No diff: {getattr(exc, 'message', None) or exc}", path)]
            else:
                lines = parse(diff) if diff.strip() else [DiffLine("note", "No difference (any more).", path)]
            if self.model is None or self.model.session_id != session_id:
                return
            self._show_diff(lines)
        except asyncio.CancelledError:
            raise
        finally:
            if get_current_worker() is self._diff_worker:  # not one a newer fetch replaced
                self.diff_loading = False

    def _show_diff(self, lines: list[DiffLine]) -> None:
        view = self.diff_view
        keep = view.cursor
        same_file = bool(self.diff_lines) and self.diff_lines[0].path == (lines[0].path if lines else None)
        self.diff_lines = lines
        width = max((len(line.text) for line in lines), default=0) + 1
        view.set_rows(render(lines), keep if same_file and keep is not None else 0, width)

    @property
    def selected_line(self) -> DiffLine | None:
        index = self.diff_view.cursor
        if index is None or not self.diff_lines or index >= len(self.diff_lines):
            return None
        return self.diff_lines[index]

    # ------------------------------------------------------------------ actions

    def action_changes(self, what: str) -> None:
        from ..changes_actions import run_changes_action

        run_changes_action(self, what)
