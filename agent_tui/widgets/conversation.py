"""ConversationView: the visible session's conversation, kept in step with its reducer state.

Only the visible session has widgets. Long conversations are pruned on screen: at most
``max_mounted`` widgets stay mounted, older ones are dropped (the store and the model keep
everything) and a button at the top brings earlier blocks back. The view stays anchored to the
bottom while the user is there, and stops following once they scroll up.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.widget import MountError
from textual.widgets import Button, Static

from ..session_model import SessionModel
from .block import BlockWidget
from .log_line import LogLine
from .thread_view import ThreadView
from .tool_card import ToolCard

#: Blocks mounted before a switch paints; the rest of the window follows above them, in steps.
FIRST_PAINT = 6
BACKFILL_STEP = 8

WELCOME = """\
[b]agent-tui[/b]

No session selected. Press [b]{new}[/b] to start one, [b]ctrl+p[/b] for all commands, [b]{help}[/b] for help.
"""


class LoadEarlier(Button):
    """Brings back blocks pruned from the top of a long conversation."""

    DEFAULT_CSS = """
    LoadEarlier { width: 1fr; height: 1; border: none; min-width: 10; margin: 0 0 1 0;
                  background: $boost; color: $text-muted; }
    """


class ConversationView(VerticalScroll):
    """The focused session's conversation."""

    DEFAULT_CSS = """
    ConversationView {
        height: 1fr;
        padding: 0 1;
        scrollbar-size-vertical: 1;
        & > .welcome { color: $text-muted; padding: 1 2; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "focus_block(-1)", "Prev block", show=False),
        Binding("down,j", "focus_block(1)", "Next block", show=False),
        # Not in the footer: the app's own search binding is there already (once is enough).
        Binding("slash", "app.search", "Search", key_display="/", show=False),
        Binding("n", "app.search_next", "Next match", show=False),
        Binding("N", "app.search_previous", "Previous match", show=False),
        Binding("i", "app.focus_composer", "Compose", show=False),
    ]

    HELP = "The conversation. **up**/**down** move between blocks, **/** searches, **i** goes to the composer."

    class LoadEarlierRequested(Message):
        pass

    def __init__(self, *, window: int = 80, max_mounted: int = 160, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.window = window
        self.max_mounted = max(max_mounted, window)
        self.model: SessionModel | None = None
        self.show_logs = False
        self.thread: ThreadView | None = None
        self.window_start = 0
        self._logs_rendered = 0
        self._load_earlier: LoadEarlier | None = None
        self._dirty: set[str] = set()
        self._dirty_threads: set[str] = set()
        self._lock = asyncio.Lock()
        self._generation = 0
        #: The window above the first paint is still being mounted.
        self.backfilling = False

    # ------------------------------------------------------------------ what to show

    async def show(self, model: SessionModel | None, start: int | None = None) -> None:
        """Replace what is shown by ``model``'s conversation (its last ``window`` blocks)."""
        # Serialised with sync(): a redraw must not run on widgets a switch is removing.
        async with self._lock:
            try:
                await self._show(model, start)
            except MountError:
                pass  # the app is quitting under us

    async def _show(self, model: SessionModel | None, start: int | None = None) -> None:
        self.model = model
        # The old session's widgets are hidden now and removed in the background: tearing down
        # dozens of Markdown widgets should not delay the next session's first paint.
        for child in list(self.children):
            child.display = False
        self.remove_children()
        self.thread = None
        self._load_earlier = None
        self._dirty.clear()
        self._dirty_threads.clear()
        if model is None:
            # The keys as bound now (keymap.toml may have moved them).
            key_for = getattr(self.app, "key_for", lambda action, default: default)
            welcome = WELCOME.format(new=escape(key_for("new_session", "ctrl+n")), help=escape(key_for("help", "f1")))
            await self.mount(Static(welcome, classes="welcome"))
            return
        blocks = model.state.blocks
        target = max(0, len(blocks) - self.window) if start is None else max(0, start)
        # First paint: the last few blocks, so a switch shows the screen at once; the rest of the
        # window is mounted above them in the background (``_backfill``).
        first = target if self.show_logs else max(target, len(blocks) - FIRST_PAINT)
        while first > target and blocks[first].get("type") == "tool_result":
            first -= 1  # keep a call and its result together
        self.window_start = first
        self._generation += 1
        self._load_earlier = LoadEarlier("", classes="load-earlier")
        self.thread = ThreadView(model)
        self.thread.reset(self.window_start)
        self._logs_rendered = max(0, model.log_count - len(model.logs))
        await self.mount_all([self._load_earlier, self.thread])
        self._update_load_earlier()
        await self._sync(prune=False)  # an explicit window (load earlier, search) stays as asked
        self.anchor()
        if first > target:
            self.backfilling = True
            self.run_worker(self._backfill(self._generation, target), group="backfill", exclusive=True)

    async def _backfill(self, generation: int, target: int) -> None:
        try:
            await self._backfill_steps(generation, target)
        finally:
            if generation == self._generation:
                self.backfilling = False

    async def _backfill_steps(self, generation: int, target: int) -> None:
        while True:
            async with self._lock:
                model, thread = self.model, self.thread
                if generation != self._generation or model is None or thread is None \
                        or self.window_start <= target:
                    return
                lo, hi = max(target, self.window_start - BACKFILL_STEP), self.window_start
                widgets, adopted = thread.earlier_widgets(model.state.blocks, lo, hi)
                try:
                    if widgets:
                        children = list(thread.children)
                        if children:
                            await thread.mount_all(widgets, before=children[0])
                        else:
                            await thread.mount_all(widgets)
                    index = model.state.index
                    for widget in widgets:
                        if isinstance(widget, BlockWidget) and widget.block_id in index:
                            await widget.update_block(model.state.blocks[index[widget.block_id]])
                    for card, block in adopted:
                        await card.update_block(block)
                except MountError:
                    return  # the app is quitting
                self.window_start = lo
                self._update_load_earlier()
            await asyncio.sleep(0)  # frames and keys get their turn between steps

    def mark_dirty(self, dirty: set[str], threads: set[str] | None = None) -> None:
        self._dirty |= dirty
        if threads:
            self._dirty_threads |= threads

    @property
    def is_dirty(self) -> bool:
        model = self.model
        if model is None or self.thread is None:
            return False
        return bool(self.backfilling or self._dirty or self._dirty_threads
                    or self.thread.rendered_upto < len(model.state.blocks)
                    or (self.show_logs and self._logs_rendered < model.log_count))

    async def sync(self) -> None:
        """Mount new blocks, redraw changed ones, prune the top. At most once per frame."""
        async with self._lock:
            try:
                await self._sync()
            except MountError:
                pass  # the app is quitting under us

    async def _sync(self, prune: bool = True) -> None:
        model, thread = self.model, self.thread
        if model is None or thread is None:
            return
        state = model.state
        if len(state.blocks) - thread.rendered_upto > self.window:
            # More new blocks than fit the window (a replay, a burst): draw only the window.
            await self._show(model)
            return
        dirty, self._dirty = self._dirty, set()
        threads, self._dirty_threads = self._dirty_threads, set()
        fresh: list[Any] = []
        if self.show_logs and self._logs_rendered < model.log_count:
            new_logs = list(model.logs)[-(model.log_count - self._logs_rendered):]
            self._logs_rendered = model.log_count
            for entry in new_logs:
                if entry.position < self.window_start:
                    continue
                fresh.extend(thread.new_widgets(state.blocks, max(entry.position, thread.rendered_upto)))
                fresh.append(LogLine(entry.event))
        fresh.extend(thread.new_widgets(state.blocks))
        for thread_id in threads:
            card = thread.cards.get(thread_id)
            if card is not None:
                dirty.add(card.block_id)
        await thread.update_blocks(state.blocks, state.index, dirty)
        if fresh:
            await thread.mount_all(fresh)
            for widget in fresh:
                if isinstance(widget, BlockWidget):
                    position = state.index.get(widget.block_id)
                    if position is not None:
                        await widget.update_block(state.blocks[position])
            if prune:
                self._prune()

    def _prune(self) -> None:
        thread, model = self.thread, self.model
        if thread is None or model is None or len(thread.children) <= self.max_mounted:
            return
        if self.max_scroll_y and self.scroll_y < self.max_scroll_y - 1:
            return  # the reader is up in the history: do not pull it from under them
        drop = list(thread.children)[: len(thread.children) - self.window]
        last = self.window_start - 1
        for widget in drop:
            if isinstance(widget, BlockWidget):
                last = max(last, model.state.index.get(widget.block_id, last))
                for key in [k for k, w in thread.widgets.items() if w is widget]:
                    del thread.widgets[key]
                if isinstance(widget, ToolCard):
                    thread.cards.pop(widget.tool_use_id, None)
        self.window_start = last + 1
        thread.remove_children(drop)
        self._update_load_earlier()

    def _update_load_earlier(self) -> None:
        if self._load_earlier is None:
            return
        hidden = self.window_start
        self._load_earlier.display = hidden > 0
        self._load_earlier.label = f"↑ {hidden} earlier blocks (click to load more)"

    async def load_earlier(self, count: int | None = None) -> None:
        if self.model is None:
            return
        async with self._lock:
            await self._show(self.model, self.window_start - (count or self.window))
        self.scroll_home(animate=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if isinstance(event.button, LoadEarlier):
            event.stop()
            self.run_worker(self.load_earlier(), group="load-earlier")

    async def set_show_logs(self, show: bool) -> None:
        """Add or remove the log lines in place: folds, focus and scroll position stay as they are."""
        async with self._lock:
            self.show_logs = show
            try:
                await (self._insert_logs() if show else self._remove_logs())
            except MountError:
                pass  # the app is quitting under us

    async def _remove_logs(self) -> None:
        thread = self.thread
        if thread is not None:
            await thread.remove_children(LogLine)

    async def _insert_logs(self) -> None:
        model, thread = self.model, self.thread
        if model is None or thread is None:
            return
        blocks = model.state.blocks
        self._logs_rendered = model.log_count
        for entry in list(model.logs):
            # Drawn after block ``position - 1``, when that block is on screen.
            if entry.position < self.window_start or entry.position > thread.rendered_upto:
                continue
            line = LogLine(entry.event)
            anchor = thread.widgets.get(blocks[entry.position - 1]["id"]) if entry.position > 0 else None
            if anchor is not None and anchor.parent is thread:
                following = _after_logs(thread, anchor)
                await thread.mount(line, after=following)
            elif thread.children:
                await thread.mount(line, before=thread.children[0])
            else:
                await thread.mount(line)

    # ------------------------------------------------------------------ search support

    async def reveal(self, block_id: str, thread_id: str | None = None) -> BlockWidget | None:
        """Make the widget of ``block_id`` (or of the card of ``thread_id``) mounted; return it."""
        model = self.model
        if model is None or self.thread is None:
            return None
        if thread_id is not None:
            card = self.thread.cards.get(thread_id)
            if card is None:
                return None
            if not card.expanded:
                card.expanded = True
            return card
        position = model.state.index.get(block_id)
        if position is None:
            return None
        if position < self.window_start:
            async with self._lock:
                await self._show(model, max(0, position - 5))
        return self.thread.widgets.get(block_id) if self.thread else None

    def block_widgets(self) -> list[BlockWidget]:
        if self.thread is None:
            return []
        return [w for w in self.thread.query(BlockWidget) if w.display]

    def action_focus_block(self, step: int) -> None:
        focused = self.screen.focused
        chain = [w for w in self.screen.focus_chain if isinstance(w, BlockWidget) and self in w.ancestors]
        if not chain:
            return
        if focused in chain:
            index = chain.index(focused) + step  # type: ignore[arg-type]
            if index < 0 or index >= len(chain):
                return
        else:
            index = len(chain) - 1 if step < 0 else 0
        chain[index].focus()
        chain[index].scroll_visible()


def _after_logs(thread: ThreadView, anchor: Any) -> Any:
    """``anchor`` or the last log line already drawn right after it (logs keep their order)."""
    children = list(thread.children)
    index = children.index(anchor)
    while index + 1 < len(children) and isinstance(children[index + 1], LogLine):
        index += 1
    return children[index]
