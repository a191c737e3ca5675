"""NewSessionScreen: pick an architecture (with why one is unavailable), profile, name, the project
(git repository, base ref, branch, worktree or in-place: SPEC §10) and the primitive.

The dialog opens at once, before the runtime has listed architectures and profiles (``loader``):
keys typed in the meantime are kept and replayed into the dialog once it is filled, so nothing
typed right after ctrl+n lands on the screen underneath. The fields scroll between a fixed title
and fixed buttons, so Create stays visible on an 80x24 (or 60x20) terminal.

With a ``creator`` the dialog creates the session itself and stays open when the runtime refuses
(not a git repository, a bad branch name): the error is shown under the fields and the field it is
about gets the focus, so nothing typed is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Footer, Input, Label, OptionList, RadioButton, RadioSet, Select
from textual.widgets.option_list import Option

from runtime.models import ArchitectureInfo, ProfileInfo
from runtime.workspaces.project import BRANCH_PREFIX, slugify

from ..projects import ProjectGuess

#: What the dialog needs from the runtime: architectures, profiles and the default primitive.
Loader = Callable[[], Awaitable[tuple[list[ArchitectureInfo], list[ProfileInfo], str]]]
#: The project the dialog starts with (agent-tui PATH, or the git repository it was started in).
ProjectLoader = Callable[[], Awaitable[ProjectGuess]]
#: Creates the session from ``CreateSessionArgs`` (a dict); raises what the runtime refused.
Creator = Callable[[dict[str, Any]], Awaitable[Any]]

#: Which field an error the runtime gave is about (by code, then by what its message names).
_ERROR_FIELDS = (("NOT_A_GIT_REPOSITORY", "project"), ("baseRef", "base-ref"), ("branch", "branch"),
                 ("project", "project"), ("name", "name"))

#: Rows around the scrolling fields: the dialog's border, title, buttons and the footer.
_CHROME_ROWS = 8


class NewSessionScreen(ModalScreen[dict[str, Any] | None]):
    """Returns ``CreateSessionArgs`` as a dict, or ``None`` when cancelled.

    **enter** on an architecture creates the session with the other fields as they are (the
    defaults: the project guessed, its HEAD, a branch named after the session); **tab** moves on to
    profile, name, project, base ref, branch, mode and sandbox; **ctrl+s** creates from anywhere.
    """

    DEFAULT_CSS = """
    NewSessionScreen {
        align: center middle;
        & > #dialog {
            width: 76;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: thick $primary;
            background: $surface;
            padding: 0 1;
        }
        & #fields { height: auto; scrollbar-size-vertical: 1; }
        & Label { margin: 1 0 0 0; color: $text-muted; }
        & Label.title { margin: 0; color: $text; text-style: bold; }
        & Label.warning { margin: 0; color: $error; text-style: bold; }
        & Label.hint { margin: 0; color: $text-muted; text-style: italic; }
        & #error { width: 100%; margin: 1 0 0 0; color: $text-error; text-style: bold; display: none; }
        & #error.-shown { display: block; }
        & OptionList { height: auto; max-height: 8; }
        & RadioSet { layout: horizontal; width: 1fr; }
        & .pair { height: auto; }
        & .pair > Vertical { height: auto; width: 1fr; }
        & .buttons { height: auto; margin: 1 0 0 0; align-horizontal: right; }
        & .buttons > Button { margin: 0 0 0 1; min-width: 12; }
    }
    """

    #: Focused by on_mount without scrolling: the auto focus would scroll the title out of sight.
    AUTO_FOCUS = ""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "create", "Create", priority=True),
    ]

    def __init__(self, architectures: list[ArchitectureInfo] | None = None,
                 profiles: list[ProfileInfo] | None = None, primitive: str = "local",
                 primitives: tuple[str, ...] | None = None, *, loader: Loader | None = None,
                 project: ProjectGuess | None = None, project_loader: ProjectLoader | None = None,
                 creator: Creator | None = None, remote: bool = False) -> None:
        from runtime.primitives.registry import names as registered_primitives

        super().__init__()
        self.project = project or ProjectGuess()
        self._project_loader = project_loader
        self._creator = creator
        self.remote = remote
        #: A create is in flight: enter again does nothing (no second session).
        self.creating = False
        #: What the runtime refused the last create with (shown under the fields), if anything.
        self._error: str | None = None
        self.architectures = architectures or []
        self.profiles = profiles or []
        self.primitive = primitive
        self.primitives = primitives if primitives is not None else tuple(registered_primitives())
        self._loader = loader
        self.loaded = loader is None and project_loader is None
        self._early_keys: list[events.Key] = []

    def compose(self):  # noqa: ANN201
        with Vertical(id="dialog"):
            yield Label("New session", classes="title")
            with VerticalScroll(id="fields", can_focus=False):  # focusing a field scrolls to it
                yield Label("Architecture")
                yield OptionList(*self._options(), id="architecture")
                yield Label("Profile")
                yield Select(self._profile_choices(), value=self._default_profile(), allow_blank=False,
                             id="profile")
                yield Label("Name (optional)")
                yield Input(placeholder="e.g. fix-login-bug", id="name", max_length=200)
                yield Label("Project (empty: a new empty folder)")
                yield Input(self.project.path, placeholder=self._project_placeholder(), id="project",
                            max_length=4096)
                if self.remote:
                    yield Label("a path on the server's machine, not this one", id="project-hint", classes="hint")
                # Side by side, in pairs: the dialog stays short enough to show most of it at once.
                with Horizontal(classes="pair"):
                    with Vertical():
                        yield Label("Base ref")
                        yield Input(placeholder=self._base_placeholder(), id="base-ref", max_length=1000)
                    with Vertical():
                        yield Label("New branch")
                        yield Input(placeholder=self._branch_placeholder(""), id="branch", max_length=200)
                with Horizontal(classes="pair"):
                    with Vertical():
                        yield Label("Mode")
                        with RadioSet(id="mode"):
                            yield RadioButton("worktree", value=True, name="worktree")
                            yield RadioButton("in-place", name="in-place")
                    with Vertical():
                        yield Label("Sandbox")
                        with RadioSet(id="primitive"):
                            for name in self.primitives:
                                yield RadioButton(name, value=name == self.primitive, name=name)
                isolation = getattr(getattr(self.app, "client", None), "isolation", None)
                if "local" in self.primitives and isolation is not None and not isolation.enabled:
                    yield Label(f"local is NOT isolated: the agent can read and write what you can "
                                f"({isolation.reason})", id="not-isolated", classes="warning")
            yield Label("", id="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Create", id="create", variant="primary")
        yield Footer()

    def _options(self) -> list[Option]:
        options = []
        for info in self.architectures:
            if info.available:
                prompt = Content.from_markup("[b]$name[/] [dim]$id[/]", name=info.display_name, id=info.id)
            else:
                prompt = Content.from_markup("[dim]$name — unavailable: $reason[/]", name=info.display_name,
                                             reason=info.reason or "not installed")
            options.append(Option(prompt, id=info.id, disabled=not info.available))
        return options

    def _profile_choices(self) -> list[tuple[str, str]]:
        return [(p.name if p.name == p.id else f"{p.name} ({p.id})", p.id) for p in self.profiles] \
            or [("Default", "default")]

    def _default_profile(self) -> str:
        return self.profiles[0].id if self.profiles else "default"

    def _project_placeholder(self) -> str:
        return "a path on the server, e.g. /srv/repo" if self.remote else "e.g. ~/src/my-repo"

    def _base_placeholder(self) -> str:
        branch = self.project.branch
        return f"HEAD ({branch})" if branch else "HEAD (its current branch)"

    @staticmethod
    def _branch_placeholder(name: str) -> str:
        # What the runtime will choose (SPEC §10; made unique with -2, -3… if it exists).
        return f"{BRANCH_PREFIX}{slugify(name) if name.strip() else '<name>'}"

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "name":
            self.query_one("#branch", Input).placeholder = self._branch_placeholder(event.value)
        elif event.input.id == "project" and event.value != self.project.path:
            # The branch shown is that of the project guessed, not of one typed since.
            self.query_one("#base-ref", Input).placeholder = "HEAD (its current branch)"
        self._show_error(None)

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if event.radio_set.id == "mode":
            # In place there is no branch: the agent works in the folder itself.
            worktree = event.pressed.name == "worktree"
            for field in ("#base-ref", "#branch"):
                self.query_one(field, Input).disabled = not worktree

    def on_mount(self) -> None:
        self._fit()
        # At once (focus() would wait a turn, behind keys typed early), and without scrolling: the
        # dialog opens at its top.
        self.set_focus(self.query_one("#architecture", OptionList), scroll_visible=False)
        if self._loader is not None or self._project_loader is not None:
            self.run_worker(self._load(self._loader, self._project_loader), group="load", exit_on_error=False)
        else:
            self._highlight_first_available()

    async def _load(self, loader: Loader | None, project_loader: ProjectLoader | None) -> None:
        guessing = asyncio.ensure_future(project_loader()) if project_loader is not None else None
        try:
            if loader is not None:
                self.architectures, self.profiles, self.primitive = await loader()
        except Exception as exc:  # noqa: BLE001 - shown; the dialog cannot work without the lists
            if guessing is not None:
                guessing.cancel()
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            self.app.notify(message, title="Cannot list architectures", severity="error", markup=False)
            self.dismiss(None)
            return
        if guessing is not None:
            try:
                self.project = await guessing
            except Exception:  # noqa: BLE001 - no guess is a fine default: an empty folder
                self.project = ProjectGuess()
            project = self.query_one("#project", Input)
            if not project.value:
                project.value = self.project.path
            self.query_one("#base-ref", Input).placeholder = self._base_placeholder()
        option_list = self.query_one("#architecture", OptionList)
        option_list.set_options(self._options())
        self.query_one("#profile", Select).set_options(self._profile_choices())
        self.query_one("#profile", Select).value = self._default_profile()
        for button in self.query(RadioButton):
            button.value = button.name == self.primitive
        self._highlight_first_available()
        self.loaded = True
        early, self._early_keys = self._early_keys, []
        for key in early:
            self._type(key)

    def _highlight_first_available(self) -> None:
        option_list = self.query_one("#architecture", OptionList)
        for index, info in enumerate(self.architectures):
            if info.available:
                option_list.highlighted = index
                break

    def _forward_event(self, event: events.Event) -> None:
        # Keys the app hands to the screen itself arrived while no field had the focus yet (right
        # after ctrl+n): typed into the dialog here, in order, once it is filled.
        if isinstance(event, events.Key):
            event._to_dialog = True  # type: ignore[attr-defined]
        super()._forward_event(event)

    async def _on_key(self, event: events.Key) -> None:
        if event.key in ("ctrl+q", "ctrl+c"):
            return
        if self.loaded and not getattr(event, "_to_dialog", False):
            return  # typed into a field: the field and the bindings handle it
        # Before the lists are in, every key waits (the architecture list is still empty).
        event.stop()
        event.prevent_default()
        if not self.loaded:
            self._early_keys.append(event)
            return
        self._type(event)

    def _type(self, key: events.Key) -> None:
        """What ``key`` does in the dialog, done at once (not queued behind other keys)."""
        focused = self.focused
        if key.key == "escape":
            self.action_cancel()
        elif key.key == "ctrl+s":
            self.action_create()
        elif key.key == "tab":
            self.focus_next()
        elif key.key == "shift+tab":
            self.focus_previous()
        elif isinstance(focused, OptionList) and key.key in ("up", "down"):
            (focused.action_cursor_up if key.key == "up" else focused.action_cursor_down)()
        elif key.key == "enter" and isinstance(focused, OptionList | Input | Button | type(None)):
            if isinstance(focused, Button):
                focused.press()
            else:
                self.action_create()
        elif isinstance(focused, Input) and key.is_printable and key.character:
            focused.insert_text_at_cursor(key.character)

    def on_resize(self, event: events.Resize) -> None:
        self._fit()

    def _fit(self) -> None:
        # Textual has no calc(): the fields get what the title, buttons and footer leave.
        fields = self.query_one("#fields", VerticalScroll)
        # An error shown under the fields takes its lines (and a blank one above) from them; counted
        # from its text, as it is not laid out yet when it appears.
        shown = 0
        if self._error:
            width = max(10, self.query_one("#dialog").content_region.width or 70)
            shown = 1 + len(Content(self._error).wrap(width))
        fields.styles.max_height = max(3, self.size.height - _CHROME_ROWS - shown)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # Keep the field being typed into in sight (the fields scroll on a small terminal).
        self.call_after_refresh(self._reveal, event.widget)  # after Textual's own scroll to it

    def _reveal(self, widget: Widget) -> None:
        fields = self.query_one("#fields", VerticalScroll)
        field = next((w for w in (widget, *widget.ancestors) if w.parent is fields), None)
        if field is None:
            return
        children = list(fields.children)
        label = children[children.index(field) - 1] if children.index(field) > 0 else None
        # The field and the label naming it, when both fit; else the field alone.
        top = (label if isinstance(label, Label) else field).virtual_region.y
        bottom = field.virtual_region.bottom
        height = fields.scrollable_content_region.height
        if bottom - top > height:
            top = field.virtual_region.y
        if top < fields.scroll_y or bottom > fields.scroll_y + height:
            fields.scroll_to(y=top if top < fields.scroll_y else bottom - height, animate=False, immediate=True)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        # Enter on an architecture creates the session with the defaults: quick from the keyboard.
        event.stop()
        self.action_create()

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
        if not self.loaded or self.creating:
            return
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
        workspace = self._workspace()
        if workspace is not None:
            args["workspace"] = workspace
        if self._creator is None:
            self.dismiss(args)
            return
        self.creating = True
        self.query_one("#create", Button).label = "Creating…"
        self.run_worker(self._create(self._creator, args), group="create", exit_on_error=False)

    def _workspace(self) -> dict[str, Any] | None:
        """``CreateSessionArgs.workspace`` from the fields; ``None`` without a project. Fields left
        empty are left out, so the runtime's defaults apply (HEAD, a branch named after the session)."""
        project = self.query_one("#project", Input).value.strip()
        if not project:
            return None
        pressed = self.query_one("#mode", RadioSet).pressed_button
        mode = pressed.name if pressed is not None and pressed.name else "worktree"
        workspace: dict[str, Any] = {"project": project, "mode": mode}
        if mode == "worktree":
            base_ref = self.query_one("#base-ref", Input).value.strip()
            branch = self.query_one("#branch", Input).value
            if base_ref:
                workspace["baseRef"] = base_ref
            if branch:
                workspace["branch"] = branch  # as typed: the runtime says what is wrong with it
        return workspace

    async def _create(self, creator: Creator, args: dict[str, Any]) -> None:
        try:
            result = await creator(args)
        except Exception as exc:  # noqa: BLE001 - shown in the dialog, which stays open
            self.creating = False
            self.query_one("#create", Button).label = "Create"
            self._refused(exc)
            return
        self.dismiss(result)

    def _refused(self, exc: Exception) -> None:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        code = str(getattr(exc, "code", "") or "")
        self._show_error(f"{code}: {message}" if code and code not in message else message)
        field = next((f for key, f in _ERROR_FIELDS if key == code or key in message), None)
        if field is not None:
            self.set_focus(self.query_one(f"#{field}"))

    def _show_error(self, message: str | None) -> None:
        error = self.query_one("#error", Label)
        if message == self._error:
            return
        self._error = message
        error.update(Content(message or ""))  # as text: a path may hold [brackets]
        error.set_class(message is not None, "-shown")
        self._fit()
