"""AgentTuiApp: sessions on the left, the focused conversation on the right, a composer below.

The app talks to a *client*: the in-process ``AgentRuntime`` or a ``RemoteRuntime`` with the same
interface. A ``SessionsController`` keeps a model per session; the app turns model changes into
redraws, coalesced to at most one per frame (``frames.FrameScheduler``): many events, one draw.
Search (``search_controller``) and the session dialogs (``dialogs``) are controllers of their own;
the app composes the screen, starts and stops, and dispatches actions to them.
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

from . import agent_offers, ui_settings
from .commands import ActionsProvider, SessionsProvider
from .controller import SessionsController
from .dialogs import SessionDialogs
from .formatting import connect_command, error_message, share_url
from .frames import FrameScheduler
from .keymap import ACTIONS, app_bindings, load_keymap
from .projects import ProjectSource
from .search_controller import SearchController
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

log = logging.getLogger(__name__)

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
        self.frames = FrameScheduler(self)
        self.search = SearchController(self)
        self.dialogs = SessionDialogs(self)
        self._select_next_created: str | None = None
        self._client_closed = False
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
                composer = Composer(id="composer")
                composer.commands = lambda: agent_offers.offered(self.current, "commands")
                yield composer
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
    def _frame_pending(self) -> bool:
        """A redraw is scheduled and has not run yet (what tests and benches wait on)."""
        return self.frames.pending

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
        self.set_interval(1.0, self.frames.tick)
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
        await self.dialogs.quit()

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
            self.frames.dirty_rows.add(model.session_id)
        self.frames.schedule()

    def _model_changed(self, model: SessionModel, changes: BatchChanges | None) -> None:
        self.frames.dirty_rows.add(model.session_id)
        if changes is not None:
            if model.session_id == self.selected:
                self.conversation.mark_dirty(changes.dirty, changes.dirty_threads)
                self.changes_pane.model_changed()
                self.frames.status_dirty = self.frames.status_dirty or changes.status_changed or bool(changes.dirty)
            if model.session_id != self.selected:
                for notice in changes.notices:
                    severity = notice.severity
                    self.notify(notice.message, title=notice.title, severity=severity,
                                timeout=10 if severity == "error" else 5)
                    self._bell()
        self.frames.schedule()

    def _bell(self) -> None:
        if self.ring_bell:
            self.bell()

    # ------------------------------------------------------------------ drawing

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
        if self.controller is not None:
            self.controller.show(session_id)  # follows its log and marks it read
        self.session_list.select(session_id)
        self.search.close()
        await self.conversation.show(model)
        self.changes_pane.set_model(model, self.client)
        self.status_line.set_model(model)
        self.permission_bar.set_model(model)
        self.frames.dirty_rows.add(session_id or "")
        self.frames.schedule()
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
        if action in ("switch_mode", "switch_model"):
            return bool(agent_offers.offered(model, action.removeprefix("switch_") + "s"))
        if action == "next_needs_input":
            return any(m.status() == "needs-input" for m in self.models.values())
        return True

    def action_switch_mode(self) -> None:
        if self.current is not None:
            agent_offers.picker(self, self.current, "mode")

    def action_switch_model(self) -> None:
        if self.current is not None:
            agent_offers.picker(self, self.current, "model")

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
            self.notify(error_message(exc), title="Not sent", severity="error")
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
            self.search.close()
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
            self.notify(error_message(exc), title="Interrupt failed", severity="error")
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
            self.notify(error_message(exc), title="Terminate failed", severity="error")
            return
        self.notify(f"Sandbox of {model.name} terminated; the next message starts a new one.", timeout=3)

    def action_rename_session(self) -> None:
        self.dialogs.rename_session()

    def action_delete_session(self) -> None:
        self.dialogs.delete_session()

    def action_new_session(self) -> None:
        self.dialogs.new_session()

    async def create_session(self, args: dict[str, Any]) -> None:
        try:
            summary = await self.client.create_session(args)
        except Exception as exc:  # noqa: BLE001
            self.notify(error_message(exc), title="Cannot create the session", severity="error")
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
                self.notify(error_message(exc), title="Answer not taken", severity="error")

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
        self.search.open()

    def on_search_bar_changed(self, event: SearchBar.Changed) -> None:
        self.search.changed(event.query)

    def on_search_bar_accepted(self, event: SearchBar.Accepted) -> None:
        self.search.accepted()

    def on_search_bar_closed(self, event: SearchBar.Closed) -> None:
        self.search.close()
        self.composer.focus()

    def action_search_next(self) -> None:
        self.search.step(1)

    def action_search_previous(self) -> None:
        self.search.step(-1)

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


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)
