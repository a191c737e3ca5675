"""HelpScreen (F1): every action and its key, plus help for the focused widget."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from ..keymap import ACTIONS


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        & > VerticalScroll { width: 84; height: 80%; border: thick $primary; background: $surface; padding: 0 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "close", "Close")]

    def __init__(self, widget_help: str | None = None) -> None:
        super().__init__()
        self.widget_help = widget_help

    def compose(self):  # noqa: ANN201
        rows = ["| Key | Action |", "|---|---|"]
        for action in ACTIONS:
            rows.append(f"| `{action.display}` | {action.description} |")
        text = "# agent-tui keys\n\n" + "\n".join(rows)
        if self.widget_help:
            text += "\n\n## Here\n\n" + self.widget_help
        text += ("\n\n## Keymap\n\nOverride any key in `keymap.toml` in the agent-tui config folder, "
                 "e.g. `new_session = \"ctrl+o\"`.")
        with VerticalScroll():
            yield Markdown(text)

    def action_close(self) -> None:
        self.dismiss(None)
