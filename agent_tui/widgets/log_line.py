"""LogLine: one ``log`` or ``file:*`` event, shown only while logs are toggled on."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from runtime.models import SessionEvent

_LEVEL_STYLES = {"debug": "$text-muted", "info": "$text-primary", "warn": "$text-warning", "error": "$text-error"}


class LogLine(Static):
    DEFAULT_CSS = """
    LogLine { color: $text-muted; padding: 0 1; height: auto; }
    """

    def __init__(self, event: SessionEvent) -> None:
        super().__init__(self._content(event))
        self.event = event

    @staticmethod
    def _content(event: SessionEvent) -> Content:
        payload = event.payload
        if event.type == "log":
            level = str(payload.get("level") or "info")
            message = str(payload.get("message") or "")
            if len(message) > 2000:
                message = message[:2000] + " …"
            style = _LEVEL_STYLES.get(level, "$text-muted")
            return Content.from_markup(f"[{style}]$level[/] $message", level=level, message=message)
        return Content.from_markup("[$text-accent]$kind[/] $path", kind=event.type,
                                   path=str(payload.get("path") or ""))
