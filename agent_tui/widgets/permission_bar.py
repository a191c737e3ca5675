"""PermissionBar: the agent asks before using a tool; answer here (allow, always, deny).

The bar shows the tool and its input by the request's kind (the command to execute, the diff of an
edit, the head of a file written, the JSON otherwise). It answers to ``y`` / ``a`` / ``n`` only while it (or one of
its buttons) has focus, so typing in the composer is never taken as an answer, and it ignores
those keys for ``GRACE_S`` after a request appears, so a key typed just before is not either."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Static

from runtime.runner.converters.tool_kinds import tool_fields

from ..formatting import one_line
from ..session_model import SessionModel

#: Seconds after a request appears during which y / a / n are ignored.
GRACE_S = 0.4
#: Lines of a command, diff or file head shown in the bar.
MAX_LINES = 12

DECISIONS = {"allow": "allow", "always": "allow_always", "deny": "deny"}


def _clip(lines: list[str], limit: int = MAX_LINES) -> list[str]:
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"… {len(lines) - limit} more line{'s' if len(lines) - limit != 1 else ''}"]


def _diff_lines(diff: str) -> list[str]:
    """A unified diff without its file headers (``Index:``, ``===``, ``---``, ``+++``): from the first hunk."""
    lines = diff.splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith("@@")), 0)
    return lines[first:]


def describe_input(request: Mapping[str, Any]) -> Content:
    """What the tool would do, as a few lines, by the request's kind: the command (``execute``), a
    unified diff or the file's head (``edit``), else the input as JSON. A request without a kind
    (an older server) is read by the shape of its input."""
    tool_input = request.get("input") if isinstance(request.get("input"), dict) else {}
    kind = request.get("kind") if isinstance(request.get("kind"), str) else None
    derived = tool_fields(kind, tool_input) if kind else {**tool_fields("edit", tool_input),
                                                          **tool_fields("execute", tool_input)}
    fields = {**derived, **{k: request[k] for k in ("command", "path", "diff") if isinstance(request.get(k), str)}}
    if isinstance(fields.get("command"), str):
        lines = _clip(fields["command"].splitlines() or [""])
        out = [Content.styled("$ " + lines[0], "bold"), *(Content(line) for line in lines[1:])]
        description = tool_input.get("description")
        if isinstance(description, str) and description:
            out.append(Content.styled(one_line(description, 160), "dim"))
        return Content("\n").join(out)
    path = fields.get("path") or "a file"
    if isinstance(fields.get("diff"), str):
        suffix = " (every occurrence)" if tool_input.get("replace_all") else ""
        out = [Content.styled(f"edit {path}{suffix}", "bold")]
        for line in _clip(_diff_lines(fields["diff"])):
            style = ("$text-success" if line.startswith("+") else "$text-error" if line.startswith("-")
                     else "$text-accent" if line.startswith("@@") else "")
            out.append(Content.styled(line, style) if style else Content(line))
        return Content("\n").join(out)
    if kind in (None, "edit") and "path" in fields and isinstance(tool_input.get("content"), str):
        lines = tool_input["content"].splitlines()
        out = [Content.styled(f"write {path} ({len(lines)} line{'s' if len(lines) != 1 else ''})", "bold")]
        out.extend(Content(line) for line in _clip(lines, MAX_LINES - 2))
        return Content("\n").join(out)
    if not tool_input:
        return Content("")
    return Content.styled(one_line(json.dumps(tool_input, ensure_ascii=False), 160), "dim")


class PermissionBar(Horizontal):
    DEFAULT_CSS = """
    PermissionBar {
        height: auto;
        max-height: 20;
        display: none;
        background: $warning 15%;
        border-top: tall $warning;
        padding: 0 1;
        &.-visible { display: block; }
        &:focus-within { background: $warning 25%; }
        & > Static { width: 1fr; height: auto; padding: 1 0 0 0; text-wrap: nowrap; text-overflow: ellipsis; }
        & > Button { margin: 0 0 0 1; min-width: 8; }
    }
    """

    can_focus = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer('allow')", "Allow", key_display="y"),
        Binding("a", "answer('always')", "Always", key_display="a"),
        Binding("n", "answer('deny')", "Deny", key_display="n"),
    ]

    class Answered(Message):
        def __init__(self, session_id: str, request_id: str, decision: str) -> None:
            super().__init__()
            self.session_id = session_id
            self.request_id = request_id
            self.decision = decision

    class Closed(Message):
        """The bar hid while it had the focus."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model: SessionModel | None = None
        self.request_id: str | None = None
        self.shown_at = 0.0
        self._text = Static("")

    def compose(self):  # noqa: ANN201
        yield self._text
        yield Button("Allow (y)", id="perm-allow", variant="success")
        yield Button("Always (a)", id="perm-always", variant="primary")
        yield Button("Deny (n)", id="perm-deny", variant="error")

    @property
    def visible_request(self) -> bool:
        return self.request_id is not None

    def set_model(self, model: SessionModel | None) -> None:
        self.model = model
        self.sync()

    def sync(self) -> None:
        model = self.model
        pending = list(model.state.pending_permissions.values()) if model else []
        self.set_class(bool(pending), "-visible")
        if not pending:
            self.request_id = None
            if self.has_focus_within:  # answered, or another session: don't leave the focus on nothing
                self.post_message(self.Closed())
            return
        request = pending[0]
        if request["request_id"] != self.request_id:
            self.shown_at = time.monotonic()
        self.request_id = request["request_id"]
        tool_name = request.get("tool_name") or "a tool"
        title = request.get("title") or f"Allow {tool_name}?"
        more = f" (+{len(pending) - 1} more)" if len(pending) > 1 else ""
        keys = "keys y / a / n" if self.has_focus_within else "ctrl+r, then y / a / n"
        head = Content.from_markup("[b]$title[/]$more  [dim]$keys[/]", title=title, more=more, keys=keys)
        detail = describe_input(request)
        self._text.update(head + "\n" + detail if detail.plain else head)

    def on_descendant_focus(self) -> None:
        self.sync()

    def on_descendant_blur(self) -> None:
        self.call_later(self.sync)

    def on_focus(self) -> None:
        self.sync()

    def on_blur(self) -> None:
        self.sync()

    def _answer(self, decision: str) -> None:
        if self.model is None or self.request_id is None:
            return
        self.post_message(self.Answered(self.model.session_id, self.request_id, decision))

    def action_answer(self, choice: str) -> None:
        if self.request_id is None or time.monotonic() - self.shown_at < GRACE_S:
            return  # nothing shown, or shown so recently that the key was meant for something else
        self._answer(DECISIONS[choice])

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        choice = {"perm-allow": "allow", "perm-always": "always", "perm-deny": "deny"}.get(event.button.id or "")
        if choice:
            self._answer(DECISIONS[choice])
