"""PermissionBar: the agent asks before using a tool; answer here (allow, always, deny)."""

from __future__ import annotations

import json
from typing import Any

from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Static

from ..formatting import one_line
from ..session_model import SessionModel


class PermissionBar(Horizontal):
    DEFAULT_CSS = """
    PermissionBar {
        height: auto;
        display: none;
        background: $warning 15%;
        border-top: tall $warning;
        padding: 0 1;
        &.-visible { display: block; }
        & > Static { width: 1fr; height: auto; padding: 1 0 0 0; }
        & > Button { margin: 0 0 0 1; min-width: 8; }
    }
    """

    class Answered(Message):
        def __init__(self, session_id: str, request_id: str, decision: str) -> None:
            super().__init__()
            self.session_id = session_id
            self.request_id = request_id
            self.decision = decision

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model: SessionModel | None = None
        self.request_id: str | None = None
        self._text = Static("")

    def compose(self):  # noqa: ANN201
        yield self._text
        yield Button("Allow", id="perm-allow", variant="success")
        yield Button("Always", id="perm-always", variant="primary")
        yield Button("Deny", id="perm-deny", variant="error")

    def set_model(self, model: SessionModel | None) -> None:
        self.model = model
        self.sync()

    def sync(self) -> None:
        model = self.model
        pending = list(model.state.pending_permissions.values()) if model else []
        self.set_class(bool(pending), "-visible")
        if not pending:
            self.request_id = None
            return
        request = pending[0]
        self.request_id = request["request_id"]
        tool_input = request.get("input") or {}
        detail = one_line(json.dumps(tool_input, ensure_ascii=False), 160) if tool_input else ""
        more = f" (+{len(pending) - 1} more)" if len(pending) > 1 else ""
        self._text.update(Content.from_markup(
            "[b]$title[/]$more\n[dim]$detail[/]", title=request.get("title") or f"Allow {request['tool_name']}?",
            more=more, detail=detail))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if self.model is None or self.request_id is None:
            return
        decision = {"perm-allow": "allow", "perm-always": "allow_always", "perm-deny": "deny"}.get(event.button.id or "")
        if decision:
            self.post_message(self.Answered(self.model.session_id, self.request_id, decision))
