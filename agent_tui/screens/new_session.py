"""NewSessionScreen: pick an architecture (with why one is unavailable), profile, name, primitive."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, RadioButton, RadioSet, Select
from textual.widgets.option_list import Option

from runtime.models import ArchitectureInfo, ProfileInfo


class NewSessionScreen(ModalScreen[dict[str, Any] | None]):
    """Returns ``CreateSessionArgs`` as a dict, or ``None`` when cancelled."""

    DEFAULT_CSS = """
    NewSessionScreen {
        align: center middle;
        & > Vertical {
            width: 76;
            height: auto;
            max-height: 90%;
            border: thick $primary;
            background: $surface;
            padding: 1 2;
        }
        & Label { margin: 1 0 0 0; color: $text-muted; }
        & Label.title { margin: 0; color: $text; text-style: bold; }
        & Label.warning { margin: 0; color: $error; text-style: bold; }
        & OptionList { height: auto; max-height: 8; }
        & RadioSet { layout: horizontal; width: 1fr; }
        & .buttons { height: auto; margin: 1 0 0 0; align-horizontal: right; }
        & .buttons > Button { margin: 0 0 0 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "create", "Create"),
    ]

    def __init__(self, architectures: list[ArchitectureInfo], profiles: list[ProfileInfo],
                 primitive: str = "local", primitives: tuple[str, ...] = ("local", "modal")) -> None:
        super().__init__()
        self.architectures = architectures
        self.profiles = profiles
        self.primitive = primitive
        self.primitives = primitives

    def compose(self):  # noqa: ANN201
        options = []
        for info in self.architectures:
            if info.available:
                prompt = Content.from_markup("[b]$name[/] [dim]$id[/]", name=info.display_name, id=info.id)
            else:
                prompt = Content.from_markup("[dim]$name — unavailable: $reason[/]", name=info.display_name,
                                             reason=info.reason or "not installed")
            options.append(Option(prompt, id=info.id, disabled=not info.available))
        with Vertical():
            yield Label("New session", classes="title")
            yield Label("Architecture")
            yield OptionList(*options, id="architecture")
            yield Label("Profile")
            yield Select([(p.name if p.name == p.id else f"{p.name} ({p.id})", p.id) for p in self.profiles],
                         value=self.profiles[0].id if self.profiles else Select.NULL, allow_blank=False,
                         id="profile")
            yield Label("Name (optional)")
            yield Input(placeholder="e.g. fix-login-bug", id="name", max_length=200)
            yield Label("Sandbox")
            with RadioSet(id="primitive"):
                for name in self.primitives:
                    yield RadioButton(name, value=name == self.primitive, name=name)
            isolation = getattr(getattr(self.app, "client", None), "isolation", None)
            if "local" in self.primitives and isolation is not None and not isolation.enabled:
                yield Label(f"local is NOT isolated: the agent can read and write what you can "
                            f"({isolation.reason})", id="not-isolated", classes="warning")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Create", id="create", variant="primary")

    def on_mount(self) -> None:
        option_list = self.query_one("#architecture", OptionList)
        for index, info in enumerate(self.architectures):
            if info.available:
                option_list.highlighted = index
                break
        option_list.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        # Enter on an architecture moves on to the next field; ctrl+s creates from anywhere.
        event.stop()
        self.query_one("#name", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_create()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "create":
            self.action_create()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_create(self) -> None:
        option_list = self.query_one("#architecture", OptionList)
        highlighted = option_list.highlighted
        if highlighted is None:
            self.notify("Pick an architecture first", severity="warning")
            return
        option = option_list.get_option_at_index(highlighted)
        if option.disabled:
            self.notify("That architecture is not available here", severity="warning")
            return
        pressed = self.query_one("#primitive", RadioSet).pressed_button
        profile = self.query_one("#profile", Select).value
        args: dict[str, Any] = {
            "architecture": option.id,
            "agentProfileRef": profile if isinstance(profile, str) else "default",
            "primitive": pressed.name if pressed is not None and pressed.name else self.primitive,
        }
        name = self.query_one("#name", Input).value.strip()
        if name:
            args["name"] = name
        self.dismiss(args)
