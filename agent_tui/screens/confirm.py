"""ConfirmScreen: a yes/no question (deleting a session cannot be undone)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from ..widgets.session_row import MINUS, workspace_totals

if TYPE_CHECKING:
    from ..session_model import SessionModel


def delete_question(model: SessionModel) -> tuple[str, str]:
    """The question (and the yes button) for deleting ``model``'s session. What happens to a
    workspace is SPEC §10's: the worktree goes, uncommitted work is committed onto the branch
    first, and a branch with unmerged work is kept in the repository."""
    question = f"Delete session “{model.name}”?\nIts sandbox and its whole history are removed."
    info = model.summary.workspace
    if info is None:
        return question, "Delete"
    if info.mode == "in-place":
        return question + f"\nThe project folder {info.project} is left as it is.", "Delete"
    totals = workspace_totals(model)
    branch = info.branch or "its branch"
    if totals is not None and totals[0]:
        files, added, removed = totals
        plural = "s" if files != 1 else ""
        return (question + f"\nIts branch {branch} has UNMERGED work ({files} file{plural}, +{added} {MINUS}{removed}):"
                f" it is committed and the branch is KEPT in {info.project}; only the worktree is removed.",
                "Delete, keep branch")
    return (question + f"\nIts worktree is removed; the branch {branch} is kept only if it holds unmerged commits.",
            "Delete")


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
        & > Vertical { width: 60; height: auto; border: thick $error; background: $surface; padding: 1 2; }
        & Label { width: 100%; }
        & .buttons { height: auto; margin: 1 0 0 0; align-horizontal: right; }
        & .buttons > Button { margin: 0 0 0 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "No"),
        Binding("y", "answer(True)", "Yes"),
    ]

    def __init__(self, question: str, yes: str = "Delete") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self):  # noqa: ANN201
        with Vertical():
            yield Label(Content(self.question))  # as text: names and paths may hold [brackets]
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="no")
                yield Button(self.yes, id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
