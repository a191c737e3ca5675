"""SlashCommands: the agent's slash commands offered while ``/name`` is typed at the start of the
composer (ACP agents advertise them with ``available_commands_update``; the reducer keeps the last
list in ``state.agent_offers["commands"]``). It never takes the focus: the composer moves its
highlight and completes from it, so typing goes on uninterrupted."""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option


def matching(commands: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The commands a composer holding ``text`` is typing: ``/`` then a name prefix, nothing else
    (no space or newline yet: past the name the user is writing its arguments)."""
    if not text.startswith("/") or any(c.isspace() for c in text):
        return []
    prefix = text[1:].lower()
    return [c for c in commands if isinstance(c.get("name"), str) and c["name"].lower().startswith(prefix)]


class SlashCommands(OptionList):
    DEFAULT_CSS = """
    SlashCommands {
        height: auto;
        max-height: 8;
        border: round $primary 60%;
        padding: 0 1;
        display: none;
        &.-open { display: block; }
    }
    """

    can_focus = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.names: list[str] = []

    def show(self, commands: list[dict[str, Any]]) -> None:
        names = [str(c["name"]) for c in commands]
        if names != self.names:
            self.names = names
            self.clear_options()
            self.add_options(Option(Content.assemble((f"/{c['name']}", "bold"), "  ",
                                                     (str(c.get("description") or ""), "dim")))
                             for c in commands)
            self.highlighted = 0 if names else None
        self.set_class(bool(names), "-open")

    def hide(self) -> None:
        self.set_class(False, "-open")

    @property
    def is_open(self) -> bool:
        return self.has_class("-open") and bool(self.names)

    def chosen(self) -> str | None:
        index = self.highlighted
        return self.names[index] if index is not None and 0 <= index < len(self.names) else None
