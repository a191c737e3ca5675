"""RenameScreen: a new name for the focused session (1 to 200 characters, as the runtime allows)."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

#: What ``AgentRuntime.rename_session`` accepts (checked here too, so the dialog says why).
MAX_NAME = 200


class RenameScreen(ModalScreen[str | None]):
    """Dismissed with the new name (stripped), or ``None`` when cancelled or unchanged."""

    DEFAULT_CSS = """
    RenameScreen {
        align: center middle;
        & > Vertical { width: 64; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
        & #problem { color: $error; height: auto; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self):  # noqa: ANN201
        with Vertical():
            yield Label("Rename the session (enter to save, esc to cancel)")
            yield Input(value=self.current, max_length=MAX_NAME, id="name")
            yield Label("", id="problem")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.value.strip()
        if not name:
            self.query_one("#problem", Label).update("A name cannot be empty.")
            return
        self.dismiss(None if name == self.current else name)

    def action_cancel(self) -> None:
        self.dismiss(None)
