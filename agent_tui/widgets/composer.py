"""Composer: where messages are written. Enter sends; ctrl+j (or alt/shift+enter) adds a line.

A large paste is not poured into the editor (a megabyte in a TextArea is slow to wrap and useless
to look at): it becomes a placeholder such as ``[paste #1: 1,000,000 chars]`` that is expanded
back into the full text when the message is sent.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea

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
            "**up** in an empty composer moves to the conversation, **pgup**/**pgdn** scroll it.")

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

    async def _on_key(self, event: events.Key) -> None:
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
