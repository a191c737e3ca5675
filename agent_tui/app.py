"""AgentTuiApp: sessions on the left, the focused conversation on the right, a composer below.

The app talks to a *client*: the in-process ``AgentRuntime`` or a ``RemoteRuntime`` with the same
interface. A ``SessionsController`` keeps a model per session; the app turns model changes into
redraws, coalesced to at most one per frame (``FRAME_S``): many events, one draw.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Input, TextArea

from runtime.errors import AgentTuiError
from runtime.remote import ConnectionChanged, RuntimeClient

from . import ui_settings
from .commands import ActionsProvider, SessionsProvider
from .controller import SessionsController
from .formatting import connect_command, share_url
from .keymap import ACTIONS, app_bindings, load_keymap
from .projects import ProjectGuess, ProjectSource
from .search import Match, find
from .session_model import BatchChanges, SessionModel
from .widgets.app_header import AppHeader
from .widgets.block import BlockWidget
from .widgets.changes_pane import ChangesPane
from .widgets.composer import Composer
from .widgets.conversation import ConversationView
from .widgets.foldable import FoldableBlock
from .widgets.permission_bar import PermissionBar
from .widgets.search_bar import SearchBar
from .widgets.session_list import SessionList
from .widgets.status_line import StatusLine
from .widgets.tool_card import ToolCard

log = logging.getLogger(__name__)

#: Redraws are coalesced to one per this many seconds. Text that grows changes the layout, and with
#: the view anchored to the bottom a layout change repaints the whole conversation: 30 Hz looks
#: smooth and leaves the loop free between frames.
FRAME_S = 1 / 30
#: Largest message accepted (the runtime's limit; bigger ones are refused with a notification).
MAX_MESSAGE_BYTES = 1024 * 1024
THEMES = ("textual-dark", "textual-light", "nord", "gruvbox", "tokyo-night", "dracula", "catppuccin-mocha")


class AgentTuiApp(App[int]):
    """The agent-tui terminal app."""

    CSS_PATH = "app.tcss"
    TITLE = "agent-tui"
    BINDINGS: ClassVar[list[Any]] = [*app_bindings(), Binding("ctrl+q", "quit", "Quit", show=False, priority=True)]
    COMMANDS = App.COMMANDS | {ActionsProvider, SessionsProvider}

    def __init__(
        self,
        client: RuntimeClient,
        *,
        owns_client: bool = True,
        clock: Callable[[], float] = time.time,
        mode: str = "local",
        location: str = "",
        window: int = 80,
        max_mounted: int = 160,
        config_dir: Path | None = None,
        bell: bool = True,
        cursor_blink: bool = True,
        project: ProjectSource | None = None,
    ) -> None:
        super().__init__()
        #: Where the new-session dialog's default project comes from (None: no default).
        self.project_source = project
        self._project_guess: ProjectGuess | None = None
        self.client = client
        self.owns_client = owns_client
        self.clock = clock
        self.mode = mode
        self.location = location
        self.ring_bell = bell
        self._cursor_blink = cursor_blink
        self.controller: SessionsController | None = None
        self.selected: str | None = None
        self.ready = False
        self.connected = True
        #: The link to the runtime, as the header shows it: connecting, connected, unauthorized
        #: (wrong token), down (the server never answered) or lost (it went away; reconnecting).
        self.link = "connecting"
        self._config_dir = config_dir
        self._user_keymap, self._keymap_problems = load_keymap(config_dir)
        self._window = window
        self._max_mounted = max_mounted
        self._dirty_rows: set[str] = set()
        self._status_dirty = False
        self._frame_pending = False
        self._frame_running = False
        self._select_next_created: str | None = None
        self._matches: list[Match] = []
        self._match_index = 0
        self._query = ""
        self._client_closed = False
        self._bindings_signature: tuple[Any, ...] = ()
        self._widget_cache: dict[str, Any] = {}
        self._unobserve: Callable[[], None] | None = None
        self._share_url_cache: tuple[str, str] | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield AppHeader(id="header")
        with Horizontal(id="body"):
            yield SessionList(self.clock, id="sessions")
            with Vertical(id="main"):
                yield ConversationView(window=self._window, max_mounted=self._max_mounted, id="conversation")
                yield ChangesPane(id="changes")
                yield SearchBar(id="search")
                yield PermissionBar(id="permission")
                yield StatusLine(self.clock, id="status")
                yield Composer(id="composer")
        yield Footer()

    @property
    def session_list(self) -> SessionList:
        return self._widget("#sessions", SessionList)

    @property
    def conversation(self) -> ConversationView:
        return self._widget("#conversation", ConversationView)

    @property
    def composer(self) -> Composer:
        return self._widget("#composer", Composer)

    @property
    def status_line(self) -> StatusLine:
        return self._widget("#status", StatusLine)

    @property
    def permission_bar(self) -> PermissionBar:
        return self._widget("#permission", PermissionBar)

    @property
    def changes_pane(self) -> ChangesPane:
        return self._widget("#changes", ChangesPane)

    @property
    def search_bar(self) -> SearchBar:
        return self._widget("#search", SearchBar)

    def _widget(self, selector: str, kind: type[Any]) -> Any:
        # Looked up on the main screen (not the current one, which may be a dialog) and kept.
        widget = self._widget_cache.get(selector)
        if widget is None:
            widget = self._widget_cache[selector] = self.screen_stack[0].query_one(selector, kind)
        return widget

    def key_for(self, action: str, default: str) -> str:
        """The key that runs ``action`` now: the user's keymap.toml choice, else the default."""
        keys = self._user_keymap.get(action)
        return keys.split(",")[0].strip() if keys else default

    @property
    def models(self) -> dict[str, SessionModel]:
        return self.controller.models if self.controller else {}

    @property
    def current(self) -> SessionModel | None:
        return self.models.get(self.selected or "")

    # ------------------------------------------------------------------ start and stop

    async def on_mount(self) -> None:
        if self._user_keymap:
            self.set_keymap(self._user_keymap)
        if self._keymap_problems:
            self.notify("\n".join(self._keymap_problems), title="keymap.toml: lines skipped", severity="warning",
                        timeout=15)
        saved_theme = ui_settings.load(self._config_dir).get("theme")
        if isinstance(saved_theme, str) and saved_theme in self.available_themes:
            self.theme = saved_theme
        # Saved however it was chosen (f2 or the palette's theme picker), and only when it changed:
        # starting up writes nothing.
        self._saved_theme = self.theme
        self.theme_changed_signal.subscribe(self, self._save_theme)
        self.composer.cursor_blink = self._cursor_blink
        self.composer.focus()
        self._update_header()
        await self.conversation.show(None)
        self.set_interval(1.0, self._tick)
        self._start()

    def _save_theme(self, theme: Any) -> None:
        if theme.name != self._saved_theme:
            self._saved_theme = theme.name
            ui_settings.save(self._config_dir, theme=theme.name)

    @work(group="start", exclusive=True)
    async def _start(self) -> None:
        delay = 1.0
        last_message = ""
        while not self._client_closed:
            try:
                if self.owns_client:
                    await self.client.start()
                break
            except Exception as exc:  # noqa: BLE001 - any failure to start is shown, then retried
                message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                if self.mode != "remote":
                    # The embedded runtime did not start (database unreadable, --serve port taken):
                    # nothing here can work, so say why and leave with an error code.
                    self.exit(1, return_code=1, message=f"agent-tui: cannot start: {message}")
                    return
                if getattr(exc, "code", "") == "UNAUTHORIZED":
                    self._set_link("unauthorized")
                    self.notify(message, title="Cannot start", severity="error", timeout=30)
                    return  # retrying cannot help
                # Told once (and again only if the reason changes); the header keeps the state.
                self._set_link("down")
                if message != last_message:
                    last_message = message
                    self.notify(f"{message}\nRetrying until it answers.", title="Cannot start", severity="error")
                await _sleep(delay)
                delay = min(delay * 2, 10.0)
        for path, why in (getattr(self.client, "profile_errors", dict)() or {}).items():
            self.notify(f"{path}: {why}", title="Profile ignored", severity="warning", timeout=20)
        self._set_link("connected")
        self._unobserve = self.client.add_observer(self._client_notice)
        self.controller = SessionsController(self.client, self._model_changed, self._list_changed)
        await self.controller.load()
        self.ready = True
        _settle_gc()
        if self.selected is None and self.controller.models:
            await self.select_session(next(iter(self.controller.models)))
        self._update_header()
        self.refresh_bindings()

    async def _shutdown_client(self) -> None:
        if self._client_closed:
            return
        self._client_closed = True
        if self._unobserve is not None:
            self._unobserve()
        if self.controller is not None:
            await self.controller.close()
        if self.owns_client:
            with contextlib.suppress(Exception):
                await self.client.shutdown()

    async def action_quit(self) -> None:
        from .screens.confirm import ConfirmScreen

        reasons = self._quit_would_stop()
        if reasons and not isinstance(self.screen, ConfirmScreen):
            # ctrl+q again on the question quits: the answer is clear.
            question = f"Quit agent-tui?\n{' and '.join(reasons)}: quitting stops {'them' if len(reasons) > 1 else 'it'}."
            self.push_screen(ConfirmScreen(question, yes="Quit"),
                             lambda yes: self.call_later(self._quit_now) if yes else None)
            return
        await self._quit_now()

    async def _quit_now(self) -> None:
        await self._shutdown_client()
        self.exit(0)

    def _quit_would_stop(self) -> list[str]:
        """What quitting this process would cut short (nothing for a remote client: the server runs on)."""
        if self.mode == "remote":
            return []
        reasons = []
        running = sum(1 for m in self.models.values() if m.running_since_ms() is not None)
        if running:
            reasons.append(f"{running} quer{'ies are' if running > 1 else 'y is'} running")
        clients = getattr(getattr(self.client, "server", None), "client_count", 0)
        if clients:
            reasons.append(f"{clients} client{'s are' if clients > 1 else ' is'} attached")
        return reasons

    async def on_unmount(self) -> None:
        await self._shutdown_client()

    # ------------------------------------------------------------------ model and list changes

    def _client_notice(self, notice: Any) -> None:
        # Remote clients also report their connection; local runtimes never do.
        if not isinstance(notice, ConnectionChanged):
            return
        self.connected = notice.connected
        self._set_link("connected" if notice.connected else "lost")
        if notice.connected:
            self.notify(notice.message, title="Reconnected")
            self._resync()
        else:
            self.notify(notice.message, title="Connection lost", severity="error", timeout=8)
            self._bell()
        self._update_header()

    @work(group="resync", exclusive=True, exit_on_error=False)
    async def _resync(self) -> None:
        if self.controller is None:
            return
        try:
            summaries = await self.client.list_sessions()
        except AgentTuiError as exc:
            self.notify(exc.message, title="Resync failed", severity="error")
            return
        self.controller.resync(summaries)

    def _list_changed(self, action: str, model: SessionModel) -> None:
        session_list = self.session_list
        if action == "created":
            session_list.add(model)
            if self.ready and (self.selected is None or self._select_next_created == model.session_id):
                self.call_later(self.select_session, model.session_id)
        elif action == "deleted":
            session_list.remove(model.session_id)
            if self.selected == model.session_id:
                remaining = list(self.models)
                self.selected = None
                self.call_later(self.select_session, remaining[0] if remaining else None)
        else:
            self._dirty_rows.add(model.session_id)
        self._schedule_frame()

    def _model_changed(self, model: SessionModel, changes: BatchChanges | None) -> None:
        self._dirty_rows.add(model.session_id)
        if changes is not None:
            if model.session_id == self.selected:
                self.conversation.mark_dirty(changes.dirty, changes.dirty_threads)
                self.changes_pane.model_changed()
                self._status_dirty = self._status_dirty or changes.status_changed or bool(changes.dirty)
            elif model.loaded:
                model.unread += changes.new_blocks
            if model.session_id != self.selected:
                for notice in changes.notices:
                    severity = notice.severity
                    self.notify(notice.message, title=notice.title, severity=severity,
                                timeout=10 if severity == "error" else 5)
                    self._bell()
        self._schedule_frame()

    def _bell(self) -> None:
        if self.ring_bell:
            self.bell()

    # ------------------------------------------------------------------ drawing

    def _schedule_frame(self) -> None:
        if not self._frame_pending:
            self._frame_pending = True
            self.set_timer(FRAME_S, self._frame)

    async def _frame(self) -> None:
        self._frame_pending = False
        if self._client_closed or not self.session_list.is_attached:
            return  # quitting
        if self._frame_running:
            self._schedule_frame()  # the running draw takes what is new on its next turn
            return
        self._frame_running = True
        try:
            rows, self._dirty_rows = self._dirty_rows, set()
            self.session_list.refresh_rows(rows)
            if self.selected in rows or self._status_dirty:
                self._status_dirty = False
                self.status_line.sync()
                self.permission_bar.sync()
            self._refresh_bindings_if_changed()
            if self.conversation.is_dirty:
                await self.conversation.sync()
            if self._query and self.search_bar.is_open:
                self._refresh_matches(keep_position=True)
            self._update_header()
        finally:
            self._frame_running = False

    def _refresh_bindings_if_changed(self) -> None:
        # The footer recomposes on every refresh_bindings(): only when what check_action says changed.
        signature = (self.selected, self.check_action("interrupt", ()), self.check_action("focus_permission", ()),
                     self.check_action("next_needs_input", ()))
        if signature != self._bindings_signature:
            self._bindings_signature = signature
            self.refresh_bindings()

    def _tick(self) -> None:
        """Once a second: elapsed times of running queries, attached client count."""
        if self._client_closed or not self.session_list.is_attached:
            return
        busy = {m.session_id for m in self.models.values() if m.running_since_ms() is not None}
        if busy:
            self.session_list.refresh_rows(busy)
        if self.selected in busy:
            self.status_line.sync()
        self._update_header()

    def _update_header(self) -> None:
        models = list(self.models.values())
        statuses = [m.status() for m in models]
        middle = [f"{len(models)} session{'s' if len(models) != 1 else ''}"]
        # Permission requests waiting across all sessions (ctrl+g goes to them), not the sessions.
        pending = sum(_pending_count(m) for m in models)
        for status, label in (("busy", "busy"), ("starting", "starting"), ("needs-input", "to approve"),
                              ("error", "failed")):
            count = pending if status == "needs-input" else statuses.count(status)
            if count:
                middle.append(f"{count} {label}")
        right = ""
        server = getattr(self.client, "server", None)
        if server is not None and self.mode != "remote":
            right = f"serving {self._share_url() or '?'}"
            token = getattr(server, "token", None)
            if token:
                right += f" · token {token}"
            else:  # --no-auth: say so where the user looks
                right += " · NO AUTH"
            count = getattr(server, "client_count", 0)
            right += f" · {count} client{'s' if count != 1 else ''}"
        if self.mode == "remote":
            left = f"remote · {self.location}" + _LINK_LABELS.get(self.link, "")
        else:
            left = f"{self.mode} · {self.location}" if self.location else self.mode
        if not self.ready:
            middle = ["connecting…" if self.mode == "remote" else "loading…"]
            if self.link in ("unauthorized", "down"):
                middle = []
        header = self._widget("#header", AppHeader)
        if not header.is_attached:
            return
        header.set_link(self.link if self.mode == "remote" else "connected")
        header.set_parts(left, " · ".join(middle), right)

    def _set_link(self, link: str) -> None:
        if link != self.link:
            self.link = link
            self._update_header()

    def _share_url(self) -> str | None:
        """Where another terminal attaches: this app's server, or the server this app is attached to."""
        if self.mode == "remote":
            return self.location or None
        server = getattr(self.client, "server", None)
        url = getattr(server, "url", None)
        if not url:
            return None
        if self._share_url_cache is None or self._share_url_cache[0] != url:
            self._share_url_cache = (url, share_url(url))  # a route lookup: once, not per frame
        return self._share_url_cache[1]

    def action_copy_connect_command(self) -> None:
        url = self._share_url()
        if url is None:
            self.notify("Not serving: start with --serve [HOST:]PORT to let other terminals attach.",
                        severity="warning")
            return
        token = getattr(getattr(self.client, "server", None), "token", None) if self.mode != "remote" \
            else getattr(self.client, "token", None)
        self.copy_text(connect_command(url, token))
        self.notify(f"Copied: agent-tui --connect {url}" + (" (with the token)" if token else ""), timeout=4)

    # ------------------------------------------------------------------ selection

    async def select_session(self, session_id: str | None) -> None:
        if session_id is not None and session_id not in self.models:
            return
        self.selected = session_id
        self._select_next_created = None
        model = self.current
        if model is not None:
            model.unread = 0
        self.session_list.select(session_id)
        self._close_search()
        await self.conversation.show(model)
        self.changes_pane.set_model(model, self.client)
        self.status_line.set_model(model)
        self.permission_bar.set_model(model)
        self._dirty_rows.add(session_id or "")
        self._schedule_frame()
        self.refresh_bindings()

    def _step_session(self, step: int) -> None:
        ids = list(self.models)
        if not ids:
            return
        index = ids.index(self.selected) + step if self.selected in ids else 0
        self.call_later(self.select_session, ids[index % len(ids)])

    def action_next_session(self) -> None:
        self._step_session(1)

    def action_previous_session(self) -> None:
        self._step_session(-1)

    def on_session_row_clicked(self, event: Any) -> None:
        self.call_later(self.select_session, event.session_id)

    # ------------------------------------------------------------------ actions on the session

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _MAIN_SCREEN_ACTIONS and _is_dialog(self.screen):
            return False  # a dialog's footer shows its own keys, and they are all that work there
        model = self.current
        if action == "interrupt":  # esc also closes an open search, wherever the focus went
            return model is not None and (model.state.active_query is not None or bool(model.state.queued)
                                          or self.search_bar.is_open)
        if action in ("terminate", "rename_session", "delete_session", "search", "toggle_logs", "toggle_changes"):
            return model is not None
        if action == "copy_connect_command":
            return self._share_url() is not None
        if action == "focus_permission":  # hidden from the footer and palette while nothing is asked
            return model is not None and bool(model.state.pending_permissions)
        if action == "next_needs_input":
            return any(m.status() == "needs-input" for m in self.models.values())
        return True

    async def on_composer_submitted(self, event: Composer.Submitted) -> None:
        text = event.text
        model = self.current
        if not text.strip():
            self.notify("Nothing to send: the message is empty.", severity="warning")
            return
        if model is None:
            self.notify(f"No session yet: press {self.key_for('new_session', 'ctrl+n')} to start one.",
                        severity="warning")
            return
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_MESSAGE_BYTES:
            self.notify(f"The message is {size:,} bytes; the limit is {MAX_MESSAGE_BYTES:,}. Nothing was sent.",
                        title="Message too large", severity="error")
            return
        event.composer.clear_message()
        self._send(model.session_id, text)

    @work(group="send", exit_on_error=False)
    async def _send(self, session_id: str, text: str) -> None:
        try:
            _, queued = await self.client.send_message(session_id, text)
        except Exception as exc:  # noqa: BLE001 - shown, and the text goes back into the composer
            self.notify(_message(exc), title="Not sent", severity="error")
            composer = self.composer
            if not composer.text:
                composer.load_text(text if len(text) < 4000 else "")
            return
        if queued:
            self.notify("Queued: it runs when the current query ends.", timeout=2)

    def action_interrupt(self) -> None:
        if self.search_bar.is_open:
            # After enter / n / N the focus is on the match, not the search field: esc still
            # closes the search first (a second esc interrupts).
            self._close_search()
            self.composer.focus()
            return
        self._interrupt()

    @work(group="interrupt", exit_on_error=False)
    async def _interrupt(self) -> None:
        model = self.current
        if model is None:
            return
        try:
            interrupted = await self.client.interrupt(model.session_id)
        except Exception as exc:  # noqa: BLE001
            self.notify(_message(exc), title="Interrupt failed", severity="error")
            return
        if not interrupted:
            self.notify("Nothing is running.", timeout=2)

    @work(group="terminate", exit_on_error=False)
    async def action_terminate(self) -> None:
        model = self.current
        if model is None:
            return
        try:
            await self.client.terminate_environment(model.session_id)
        except Exception as exc:  # noqa: BLE001
            self.notify(_message(exc), title="Terminate failed", severity="error")
            return
        self.notify(f"Sandbox of {model.name} terminated; the next message starts a new one.", timeout=3)

    def _ask_about_current(self, screen: Callable[[SessionModel], Any], act: Callable[[str, Any], None]) -> None:
        """Show a dialog about the selected session; ``act(session_id, answer)`` if it was answered
        (the session is the one the dialog was opened for, whatever is selected by then)."""
        model = self.current
        if model is None:
            return
        session_id = model.session_id
        self.push_screen(screen(model), lambda answer: act(session_id, answer) if answer else None)

    def action_rename_session(self) -> None:
        from .screens.rename import RenameScreen

        self._ask_about_current(lambda model: RenameScreen(model.name), self._rename)

    @work(group="rename", exit_on_error=False)
    async def _rename(self, session_id: str, name: str) -> None:
        # The list follows from the runtime's "updated" notice (as for a rename by another client).
        try:
            await self.client.rename_session(session_id, name)
        except Exception as exc:  # noqa: BLE001
            self.notify(_message(exc), title="Rename failed", severity="error")

    def action_delete_session(self) -> None:
        from .screens.confirm import ConfirmScreen, delete_question

        self._ask_about_current(
            lambda model: ConfirmScreen(*delete_question(model)),
            lambda session_id, _yes: self._delete(session_id),
        )

    @work(group="delete", exit_on_error=False)
    async def _delete(self, session_id: str) -> None:
        try:
            kept = await self.client.delete_session(session_id)
        except Exception as exc:  # noqa: BLE001
            self.notify(_message(exc), title="Delete failed", severity="error")
            return
        if isinstance(kept, dict) and kept.get("branchKept"):
            self.notify(f"Branch {kept.get('branch')} was kept: it holds unmerged work.", title="Session deleted",
                        markup=False)

    def action_new_session(self) -> None:
        from .screens.new_session import NewSessionScreen

        if isinstance(self.screen, NewSessionScreen):
            return
        # Pushed at once, filled when the runtime answers: keys typed right after ctrl+n go to
        # the dialog (it replays them once filled), not to the screen underneath.
        self.push_screen(NewSessionScreen(loader=self._new_session_choices, project_loader=self._guess_project,
                                          creator=self._create_from_dialog, remote=self.mode == "remote"),
                         self._new_session_created)

    async def _guess_project(self) -> ProjectGuess:
        # Asked of git once per app (off the UI thread: an asyncio subprocess), then remembered.
        if self._project_guess is None:
            source = self.project_source
            self._project_guess = await source.guess() if source is not None else ProjectGuess()
        return self._project_guess

    async def _new_session_choices(self) -> tuple[list[Any], list[Any], str]:
        for _ in range(200):  # pressed during start-up: wait for the runtime (up to 10 s)
            if self.ready:
                break
            await _sleep(0.05)
        architectures = await self.client.list_architectures()
        profiles = await self.client.list_profiles()
        primitive = getattr(getattr(self.client, "config", None), "primitive", "local")
        return architectures, profiles, primitive

    async def _create_from_dialog(self, args: dict[str, Any]) -> Any:
        # Refusals propagate: the dialog shows them and stays open.
        return await self.client.create_session(args)

    def _new_session_created(self, summary: Any) -> None:
        if summary is not None:
            self.run_worker(self._show_created(summary), group="new-session", exit_on_error=False)

    async def create_session(self, args: dict[str, Any]) -> None:
        try:
            summary = await self.client.create_session(args)
        except Exception as exc:  # noqa: BLE001
            self.notify(_message(exc), title="Cannot create the session", severity="error")
            return
        await self._show_created(summary)

    async def _show_created(self, summary: Any) -> None:
        self._select_next_created = summary.session_id
        if self.controller is not None and summary.session_id not in self.models:
            self.controller.resync([*[m.summary for m in self.models.values()], summary])
        await self.select_session(summary.session_id)
        self.composer.focus()

    async def on_permission_bar_answered(self, event: PermissionBar.Answered) -> None:
        try:
            await self.client.resolve_permission(event.session_id, event.request_id, event.decision, by=ANSWERED_BY)
        except Exception as exc:  # noqa: BLE001
            if getattr(exc, "code", None) in ("ALREADY_RESOLVED", "PERMISSION_NOT_FOUND"):
                self.notify("It was answered elsewhere (or closed) before your answer arrived.",
                            title="Already answered", severity="warning")
            else:
                self.notify(_message(exc), title="Answer not taken", severity="error")

    def on_permission_bar_closed(self, event: PermissionBar.Closed) -> None:
        if not self.permission_bar.visible_request:
            self.composer.focus()

    def action_focus_permission(self) -> None:
        bar = self.permission_bar
        if bar.visible_request:
            bar.focus()
        else:
            self.notify("No permission request is waiting in this session.", timeout=2)

    def action_next_needs_input(self) -> None:
        ids = [sid for sid, m in self.models.items() if m.status() == "needs-input"]
        if not ids:
            self.notify("No session needs input.", timeout=2)
            return
        all_ids = list(self.models)
        start = all_ids.index(self.selected) if self.selected in all_ids else -1
        ordered = all_ids[start + 1:] + all_ids[:start + 1]
        target = next(sid for sid in ordered if sid in ids)
        self.call_later(self._go_to_request, target)

    async def _go_to_request(self, session_id: str) -> None:
        if session_id != self.selected:
            await self.select_session(session_id)
        self.permission_bar.sync()
        if self.permission_bar.visible_request:
            self.permission_bar.focus()

    # ------------------------------------------------------------------ view actions

    def action_focus_composer(self) -> None:
        self.composer.focus()

    def action_focus_conversation(self) -> None:
        blocks = [w for w in self.conversation.block_widgets() if w.focusable]
        if blocks:
            blocks[-1].focus()
            blocks[-1].scroll_visible()
        else:
            self.conversation.focus()

    def action_scroll_conversation(self, pages: int) -> None:
        conversation = self.conversation
        if pages < 0:
            conversation.scroll_page_up(animate=False)
        else:
            conversation.scroll_page_down(animate=False)

    def action_focus_sessions(self) -> None:
        self.session_list.focus()

    def action_toggle_card(self) -> None:
        focused = self.focused
        if isinstance(focused, FoldableBlock):
            focused.user_toggle()

    def action_copy_block(self) -> None:
        focused = self.focused
        if not isinstance(focused, BlockWidget):
            self.notify("Focus a block first (up from an empty composer).", severity="warning")
            return
        text = focused.copy_text()
        self.copy_text(text)
        self.notify(f"Copied {len(text):,} characters.", timeout=2)

    def copy_text(self, text: str) -> None:
        """OSC 52, wrapped for tmux as well when inside it (tmux drops bare OSC 52 unless configured)."""
        self.copy_to_clipboard(text)
        if os.environ.get("TMUX") and self._driver is not None:
            import base64

            payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
            self._driver.write(f"\x1bPtmux;\x1b\x1b]52;c;{payload}\a\x1b\\")

    def action_toggle_changes(self) -> None:
        # The pane takes the conversation's place (a diff wants the width); the composer stays.
        shown = self.changes_pane.toggle()
        self.conversation.display = not shown
        if shown:
            self.changes_pane.file_list.focus()
        else:
            self.composer.focus()

    async def action_toggle_logs(self) -> None:
        conversation = self.conversation
        await conversation.set_show_logs(not conversation.show_logs)
        self.notify("Log events shown." if conversation.show_logs else "Log events hidden.", timeout=2)

    def action_cycle_theme(self) -> None:
        themes = [t for t in THEMES if t in self.available_themes]
        index = themes.index(self.theme) + 1 if self.theme in themes else 0
        self.theme = themes[index % len(themes)]
        self.notify(f"Theme: {self.theme}", timeout=2)

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        focused = self.focused
        widget_help = None
        for node in (focused, *(focused.ancestors if focused else ())):
            help_text = getattr(node, "HELP", None)
            if help_text:
                widget_help = help_text
                break
        self.push_screen(HelpScreen(widget_help))

    async def _on_key(self, event: events.Key) -> None:
        # A key nothing else wanted (no binding, no widget): typing while the session list or
        # the conversation has focus goes to the composer instead of being lost. (Textual runs
        # App._on_key after this one unless the default is prevented: it checks the bindings.)
        if not (event.is_printable and event.character and self.screen is self.screen_stack[0]
                and not isinstance(self.focused, Input | TextArea)):
            return
        event.prevent_default()
        if await self._check_bindings(event.key):
            return
        composer = self.composer
        composer.focus()
        composer.insert(event.character)

    # ------------------------------------------------------------------ search

    def action_search(self) -> None:
        if self.current is None:
            return
        self.search_bar.open()

    def on_search_bar_changed(self, event: SearchBar.Changed) -> None:
        self._query = event.query
        self._refresh_matches(keep_position=False)
        if self._matches:
            self.call_later(self._goto_match)

    def on_search_bar_accepted(self, event: SearchBar.Accepted) -> None:
        if self._matches:
            self.call_later(self._goto_match, True)

    def on_search_bar_closed(self, event: SearchBar.Closed) -> None:
        self._close_search()
        self.composer.focus()

    def _close_search(self) -> None:
        self._query = ""
        self._matches = []
        self._apply_match_classes()
        with contextlib.suppress(Exception):
            self.search_bar.close()

    def _refresh_matches(self, keep_position: bool) -> None:
        model = self.current
        previous = self._matches[self._match_index] if self._matches and keep_position else None
        self._matches = find(model.state, self._query) if model is not None else []
        if previous is not None and previous in self._matches:
            self._match_index = self._matches.index(previous)
        else:
            self._match_index = max(0, len(self._matches) - 1)  # start nearest to the bottom
        self.search_bar.set_count(self._match_index, len(self._matches), self._query)
        self._apply_match_classes()

    def _apply_match_classes(self) -> None:
        ids = {m.block_id for m in self._matches}
        thread_ids = {m.thread_id for m in self._matches if m.thread_id}
        current = self._matches[self._match_index] if self._matches else None
        for widget in self.conversation.block_widgets():
            card_thread = getattr(widget, "tool_use_id", None)
            result = getattr(widget, "result", None) or {}
            hit = widget.block_id in ids or result.get("id") in ids
            widget.set_class(hit, "-search-match")
            is_current = current is not None and (
                widget.block_id == current.block_id or result.get("id") == current.block_id
                or (current.thread_id is not None and card_thread == current.thread_id))
            widget.set_class(is_current, "-search-current")
            if isinstance(widget, ToolCard):
                widget.show_search(self._query if hit or card_thread in thread_ids else "")
            if card_thread in thread_ids:
                widget.add_class("-search-match")

    async def _goto_match(self, focus: bool = False) -> None:
        if not self._matches:
            return
        match = self._matches[self._match_index]
        widget = await self.conversation.reveal(match.block_id, match.thread_id)
        if isinstance(widget, FoldableBlock) and not widget.expanded:
            widget.expanded = True  # the match is in its body: show it
            await widget.fill_body()
        self.search_bar.set_count(self._match_index, len(self._matches), self._query)
        self._apply_match_classes()
        if widget is not None:
            # After the layout: an unfolded card's output changes its height first.
            self.conversation.call_after_refresh(self.conversation.scroll_to_widget, widget, animate=False,
                                                 center=True)
            if focus:
                widget.focus(scroll_visible=False)

    def _step_match(self, step: int) -> None:
        if not self._query:
            self.action_search()
            return
        if not self._matches:
            self.notify(f"No matches for “{self._query}”.", timeout=2)
            return
        self._match_index = (self._match_index + step) % len(self._matches)
        self.call_later(self._goto_match, not isinstance(self.focused, type(self.search_bar.input)))

    def action_search_next(self) -> None:
        self._step_match(1)

    def action_search_previous(self) -> None:
        self._step_match(-1)

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """As ``App.notify``, but plain text by default: messages quote agent output and paths.

        A notification identical to one still on screen is not shown again: while a server is
        unreachable every failing request would otherwise stack the same error."""
        if any(n.title == title and n.message == message for n in self._notifications):
            return
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)



#: How the header names each state of the link to a remote runtime.
_LINK_LABELS = {
    "unauthorized": " · WRONG TOKEN: pass --token or set AGENT_TUI_TOKEN",
    "down": " · SERVER DOWN: retrying…",
    "lost": " · DISCONNECTED: reconnecting…",
}

#: Actions of the main screen: off (and out of the footer) while a dialog is open.
_MAIN_SCREEN_ACTIONS = frozenset(a.id for a in ACTIONS if a.key and a.id not in ("help",))


def _is_dialog(screen: Any) -> bool:
    from textual.command import CommandPalette
    from textual.screen import ModalScreen

    return isinstance(screen, ModalScreen) and not isinstance(screen, CommandPalette)


def _settle_gc() -> None:
    """Keep the cyclic GC from stalling a stream. What exists after start-up (Textual, the runtime,
    loaded sessions) lives as long as the app: ``gc.freeze`` takes it out of full collections, and
    a larger first threshold makes collections rarer while events allocate many short-lived
    objects. (Measured: full collections were the longest stalls, 20-40 ms each.)"""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)


def _pending_count(model: SessionModel) -> int:
    """Permission requests waiting in a session (from its summary until its log is loaded)."""
    if model.loaded:
        return len(model.state.pending_permissions)
    return len(model.summary.runtime.pending_permissions or ())


#: ``by`` of answers given at this UI (the runtime says "agent-tui" for requests it closes itself).
ANSWERED_BY = "agent-tui user"


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)
