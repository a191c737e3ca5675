"""Dialogs of the Changes pane: a commit message, a merge (strategy, target, confirmation) and a
comment on a diff line. Each is dismissed with what to do, or ``None`` when cancelled."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet

STRATEGIES = (
    ("squash", "squash: one new commit on the target with all the changes"),
    ("merge", "merge: fast-forward when possible, else a merge commit"),
    ("rebase", "rebase: replay the session's commits on the target"),
)

_CSS = """
%s {
    align: center middle;
    & > Vertical { width: 76; height: auto; max-height: 90%%; border: thick $accent; background: $surface;
                   padding: 1 2; }
    & .problem { color: $error; height: auto; }
    & .quote { color: $text-muted; height: auto; max-height: 6; margin: 0 0 1 0; }
    & .buttons { height: auto; margin: 1 0 0 0; align-horizontal: right; }
    & .buttons > Button { margin: 0 0 0 1; }
    & RadioSet { width: 1fr; margin: 0 0 1 0; }
}
"""


class _Dialog(ModalScreen[Any]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    def problem(self, text: str) -> None:
        self.query_one(".problem", Label).update(text)


class CommitScreen(_Dialog):
    """Dismissed with the commit message (stripped, not empty)."""

    DEFAULT_CSS = _CSS % "CommitScreen"

    def __init__(self, branch: str, files: int) -> None:
        super().__init__()
        self.branch = branch
        self.files = files

    def compose(self):  # noqa: ANN201
        with Vertical():
            yield Label(f"Commit {self.files} changed file{'s' if self.files != 1 else ''} on {self.branch} "
                        "(enter to commit, esc to cancel)")
            yield Input(placeholder="Commit message", id="message")
            yield Label("", classes="problem")

    def on_mount(self) -> None:
        self.query_one("#message", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            self.problem("A commit needs a message.")
            return
        self.dismiss(event.value.strip())


class MergeScreen(_Dialog):
    """Dismissed with ``{"strategy", "into"}`` once the user confirms with Merge."""

    DEFAULT_CSS = _CSS % "MergeScreen"

    def __init__(self, branch: str, target: str, files: int) -> None:
        super().__init__()
        self.branch = branch
        self.target = target
        self.files = files

    def compose(self):  # noqa: ANN201
        with Vertical():
            yield Label(f"Merge {self.branch} ({self.files} changed file{'s' if self.files != 1 else ''}; "
                        "uncommitted changes are committed first)")
            with RadioSet(id="strategy"):
                for index, (strategy, text) in enumerate(STRATEGIES):
                    yield RadioButton(text, value=index == 0, name=strategy)
            yield Label("Into the branch:")
            yield Input(value=self.target, placeholder="target branch", id="into")
            yield Label("", classes="problem")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Merge", id="merge", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#strategy", RadioSet).focus()

    @property
    def strategy(self) -> str:
        pressed = self.query_one("#strategy", RadioSet).pressed_button
        return (pressed.name if pressed is not None else None) or STRATEGIES[0][0]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "merge":
            self._confirm()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#merge", Button).focus()  # enter in the field moves to Merge: one more to confirm

    def _confirm(self) -> None:
        into = self.query_one("#into", Input).value.strip()
        if not into:
            self.problem("Name the branch to merge into.")
            return
        if " " in into or ".." in into:
            self.problem(f"{into!r} is not a branch name (no spaces or '..').")
            return
        self.dismiss({"strategy": self.strategy, "into": into})


class CommentScreen(_Dialog):
    """A comment on one diff line; dismissed with the text."""

    DEFAULT_CSS = _CSS % "CommentScreen"

    def __init__(self, where: str, quote: str) -> None:
        super().__init__()
        self.where = where
        self.quote = quote

    def compose(self):  # noqa: ANN201
        with Vertical():
            yield Label(f"Comment on {self.where}: the agent gets it as a message (enter to send, esc to cancel)")
            yield Label(self.quote, classes="quote", markup=False)
            yield Input(placeholder="Your comment", id="comment")
            yield Label("", classes="problem")

    def on_mount(self) -> None:
        self.query_one("#comment", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            self.problem("The comment is empty.")
            return
        self.dismiss(event.value.strip())
