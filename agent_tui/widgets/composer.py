"""Composer: where messages are written. Enter sends; ctrl+j (or alt/shift+enter) adds a line.

A large paste is not poured into the editor (a megabyte in a TextArea is slow to wrap and useless
to look at): it becomes a placeholder such as ``[paste #1: 1,000,000 chars]`` that is expanded
back into the full text when the message is sent.

``/`` at the start offers the agent's slash commands (``SlashCommands``, mounted just above);
**tab** or **enter** completes the highlighted one, **up**/**down** move, **esc** closes the list.
The message is sent as typed: ACP agents take ``/name args`` as prompt text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea

from .slash_commands import SlashCommands, matching

#: Pastes longer than this many characters become a placeholder.
PASTE_PLACEHOLDER_AT = 4000
_PLACEHOLDER = re.compile(r"\[paste #(\d+): [\d,]+ chars\]")


class Composer(TextArea):
    """The message editor at the bottom of the screen."""

    DEFAULT_CSS = """
    Composer {
        height: auto;
        min-height: 3;
        max-height: 12;
        border: tall $primary 40%;
        &:focus { border: tall $primary; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Send", key_display="⏎", show=True, priority=False),
        Binding("ctrl+j", "newline", "Newline", show=False),
        # The composer is a few lines high: paging is for the conversation above it.
        Binding("pageup", "app.scroll_conversation(-1)", "Page up", show=False),
        Binding("pagedown", "app.scroll_conversation(1)", "Page down", show=False),
    ]

    HELP = ("The composer. **enter** sends (queued while the agent works), **ctrl+j** inserts a newline, "
            "**up** in an empty composer moves to the conversation, **pgup**/**pgdn** scroll it. "
            "**/** at the start lists the agent's slash commands: **tab** completes one.")

    class Submitted(Message):
        def __init__(self, composer: Composer, text: str) -> None:
            super().__init__()
            self.composer = composer
            self.text = text

        @property
        def control(self) -> Composer:
            return self.composer

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("soft_wrap", True)
        kwargs.setdefault("show_line_numbers", False)
        kwargs.setdefault("tab_behavior", "focus")
        super().__init__(**kwargs)
        self._pastes: dict[int, str] = {}
        self._paste_number = 0
        #: The session's slash commands (``[{name, description}]``); the app points it at the
        #: selected session's.
        self.commands: Callable[[], list[dict[str, Any]]] = list
        self._slash: SlashCommands | None = None

    def _slash_list(self) -> SlashCommands:
        if self._slash is None:
            self._slash = SlashCommands(id="slash-commands")
            if self.parent is not None:
                self.parent.mount(self._slash, before=self)
        return self._slash

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self.refresh_commands()

    def refresh_commands(self) -> None:
        found = matching(self.commands(), self.text) if self.text.startswith("/") else []
        if found:
            self._slash_list().show(found)
        elif self._slash is not None:
            self._slash.hide()

    @property
    def offering_commands(self) -> bool:
        return self._slash is not None and self._slash.is_open

    def complete_command(self) -> None:
        name = self._slash.chosen() if self._slash is not None else None
        if name is not None:
            self.load_text(f"/{name} ")
            self.move_cursor(self.document.end)
        if self._slash is not None:
            self._slash.hide()

    async def _on_key(self, event: events.Key) -> None:
        if self.offering_commands and event.key in ("tab", "enter", "up", "down", "escape"):
            event.stop()
            event.prevent_default()
            assert self._slash is not None
            if event.key in ("tab", "enter"):
                self.complete_command()
            elif event.key == "escape":
                self._slash.hide()
            elif event.key == "up":
                self._slash.action_cursor_up()
            else:
                self._slash.action_cursor_down()
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.action_submit()
            return
        if event.key in ("shift+enter", "alt+enter", "ctrl+j"):
            event.stop()
            event.prevent_default()
            self.action_newline()
            return
        await super()._on_key(event)

    async def _on_paste(self, event: events.Paste) -> None:
        if len(event.text) > PASTE_PLACEHOLDER_AT and not self.read_only:
            event.stop()
            event.prevent_default()
            self._paste_number += 1
            self._pastes[self._paste_number] = event.text
            self.insert(f"[paste #{self._paste_number}: {len(event.text):,} chars]")
            self.focus()
            return
        await super()._on_paste(event)

    def action_newline(self) -> None:
        self.insert("\n")

    def action_cursor_up(self, select: bool = False) -> None:
        if not self.text and not select:
            self.app.call_later(self.app.run_action, "focus_conversation")
            return
        super().action_cursor_up(select)

    def message_text(self) -> str:
        """What would be sent: the editor's text with paste placeholders expanded."""

        def expand(match: re.Match[str]) -> str:
            return self._pastes.get(int(match.group(1)), match.group(0))

        return _PLACEHOLDER.sub(expand, self.text)

    def action_submit(self) -> None:
        self.post_message(self.Submitted(self, self.message_text()))

    def clear_message(self) -> None:
        self.clear()
        self._pastes.clear()
