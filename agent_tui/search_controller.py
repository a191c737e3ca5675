"""Search in the selected session as the app shows it: the search bar's query, the matches
(``search.find`` over the model, so blocks pruned from the screen are found too), the current one,
and the classes that mark them on the conversation's widgets."""

from __future__ import annotations

import contextlib
from typing import Any

from .search import Match, find
from .widgets.foldable import FoldableBlock
from .widgets.tool_card import ToolCard


class SearchController:
    def __init__(self, app: Any) -> None:
        #: The AgentTuiApp (``Any``: importing its class here would be an import cycle).
        self.app = app
        self._matches: list[Match] = []
        self._match_index = 0
        self._query = ""

    def open(self) -> None:
        if self.app.current is None:
            return
        self.app.search_bar.open()

    def changed(self, query: str) -> None:
        self._query = query
        self._refresh_matches(keep_position=False)
        if self._matches:
            self.app.call_later(self._goto_match)

    def accepted(self) -> None:
        if self._matches:
            self.app.call_later(self._goto_match, True)

    def close(self) -> None:
        self._query = ""
        self._matches = []
        self._apply_match_classes()
        with contextlib.suppress(Exception):
            self.app.search_bar.close()

    def frame(self) -> None:
        """On each frame: the matches follow what the session gained since the last one."""
        if self._query and self.app.search_bar.is_open:
            self._refresh_matches(keep_position=True)

    def _refresh_matches(self, keep_position: bool) -> None:
        model = self.app.current
        previous = self._matches[self._match_index] if self._matches and keep_position else None
        self._matches = find(model.state, self._query) if model is not None else []
        if previous is not None and previous in self._matches:
            self._match_index = self._matches.index(previous)
        else:
            self._match_index = max(0, len(self._matches) - 1)  # start nearest to the bottom
        self.app.search_bar.set_count(self._match_index, len(self._matches), self._query)
        self._apply_match_classes()

    def _apply_match_classes(self) -> None:
        ids = {m.block_id for m in self._matches}
        thread_ids = {m.thread_id for m in self._matches if m.thread_id}
        current = self._matches[self._match_index] if self._matches else None
        for widget in self.app.conversation.block_widgets():
            card_thread = getattr(widget, "tool_use_id", None)
            result = getattr(widget, "result", None) or {}
            hit = widget.block_id in ids or result.get("id") in ids
            widget.set_class(hit, "-search-match")
            is_current = current is not None and (
                widget.block_id == current.block_id or result.get("id") == current.block_id
                or (current.thread_id is not None and card_thread == current.thread_id))
            widget.set_class(is_current, "-search-current")
            if isinstance(widget, ToolCard):
                widget.show_search(self._query if hit or card_thread in thread_ids else "")
            if card_thread in thread_ids:
                widget.add_class("-search-match")

    async def _goto_match(self, focus: bool = False) -> None:
        if not self._matches:
            return
        app = self.app
        match = self._matches[self._match_index]
        widget = await app.conversation.reveal(match.block_id, match.thread_id)
        if isinstance(widget, FoldableBlock) and not widget.expanded:
            widget.expanded = True  # the match is in its body: show it
            await widget.fill_body()
        app.search_bar.set_count(self._match_index, len(self._matches), self._query)
        self._apply_match_classes()
        if widget is not None:
            # After the layout: an unfolded card's output changes its height first.
            app.conversation.call_after_refresh(app.conversation.scroll_to_widget, widget, animate=False,
                                                center=True)
            if focus:
                widget.focus(scroll_visible=False)

    def step(self, step: int) -> None:
        app = self.app
        if not self._query:
            app.action_search()
            return
        if not self._matches:
            app.notify(f"No matches for “{self._query}”.", timeout=2)
            return
        self._match_index = (self._match_index + step) % len(self._matches)
        app.call_later(self._goto_match, not isinstance(app.focused, type(app.search_bar.input)))
