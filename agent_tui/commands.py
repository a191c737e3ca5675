"""Command palette providers: every app action (with its key) and "switch to session …"."""

from __future__ import annotations

from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .keymap import ACTIONS


class ActionsProvider(Provider):
    """The app's actions, as listed in ``keymap.ACTIONS``."""

    def _commands(self) -> list[tuple[str, str, Any]]:
        app: Any = self.app
        out = []
        for action in ACTIONS:
            if not action.in_palette:
                continue
            if app.check_action(action.id, ()) is False:
                continue
            out.append((action.description, action.display, partial(app.run_action, action.id)))
        return out

    async def discover(self) -> Hits:
        for text, key, command in self._commands():
            yield DiscoveryHit(text, command, help=f"key: {key}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, key, command in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), command, text=text, help=f"key: {key}")


class SessionsProvider(Provider):
    """Jump to any session by name."""

    async def search(self, query: str) -> Hits:
        app: Any = self.app
        matcher = self.matcher(query)
        models = getattr(app, "models", {})
        for model in list(models.values()):
            text = f"Session: {model.name}"
            score = matcher.match(f"{text} {model.summary.architecture}")
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(app.call_later, app.select_session,
                                                                   model.session_id),
                          text=text, help=f"{model.summary.architecture} · {model.status()}")
