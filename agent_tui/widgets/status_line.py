"""StatusLine: what the visible session is doing right now, above the composer.

Sandbox progress (``ee:creating`` status messages) while a sandbox starts, the running query's
elapsed time and the queue, or the last error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.content import Content
from textual.widget import Widget

from ..session_model import SessionModel, format_duration


class StatusLine(Widget):
    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        color: $text-muted;
        &.-starting { color: $text-warning; }
        &.-error { color: $text-error; text-style: bold; }
        &.-busy { color: $text-success; }
    }
    """

    def __init__(self, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.model: SessionModel | None = None
        self._last = ""

    def set_model(self, model: SessionModel | None) -> None:
        self.model = model
        self.sync()

    def sync(self) -> None:
        model = self.model
        status = model.status() if model else ""
        for name in ("starting", "error", "busy"):
            self.set_class(status == name, f"-{name}")
        text = self.render().plain
        if text != self._last:
            self._last = text
            self.refresh()

    def render(self) -> Content:
        model = self.model
        if model is None:
            return Content("")
        state = model.state
        env = state.environment or {}
        parts: list[str] = []
        if env.get("status") == "starting":
            parts.append(f"◌ {env.get('status_message') or 'starting sandbox'}")
        since = model.running_since_ms()
        if since is not None:
            parts.append(f"● running {format_duration(max(0, self.clock() * 1000 - since))} · esc interrupts")
        if state.queued:
            parts.append(f"{len(state.queued)} queued")
        if state.pending_permissions:
            parts.append("? waiting for your answer")
        if not parts:
            status = model.status()
            if status == "error":
                parts.append(f"✗ {env.get('last_error') or model.last_error or 'failed'}")
            elif status == "terminated":
                parts.append(f"■ sandbox {env.get('status_message') or 'terminated'}; the next message starts a new one")
            elif env.get("status") == "ready":
                parts.append(f"○ idle · {env.get('primitive', 'local')} sandbox ready")
            else:
                parts.append("○ idle")
        mode = state.agent_offers.get("mode")
        if isinstance(mode, str) and state.agent_offers.get("modes"):  # only where the agent has modes to pick
            parts.append(f"mode {mode}")
        if state.model and state.agent_offers.get("models"):
            parts.append(f"model {state.model}")
        return Content("  ·  ".join(parts))
