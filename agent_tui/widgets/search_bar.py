"""SearchBar: find text in the whole conversation (also in blocks pruned from the screen)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Label


class SearchInput(Input):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close search"),
        Binding("down", "app.search_next", "Next", show=False),
        Binding("up", "app.search_previous", "Previous", show=False),
    ]

    def action_close(self) -> None:
        self.post_message(SearchBar.Closed())


class SearchBar(Horizontal):
    DEFAULT_CSS = """
    SearchBar {
        height: 1;
        display: none;
        background: $boost;
        &.-visible { display: block; }
        & > Label { width: auto; padding: 0 1; color: $text-muted; }
        & > SearchInput, & > SearchInput:focus { width: 1fr; height: 1; border: none; padding: 0;
                                                  background: $boost; }
        & > #search-count { min-width: 12; }
    }
    """

    class Changed(Message):
        def __init__(self, query: str) -> None:
            super().__init__()
            self.query = query

    class Closed(Message):
        pass

    class Accepted(Message):
        pass

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.input = SearchInput(placeholder="search the conversation", id="search-input")
        self.count = Label("", id="search-count")

    def compose(self):  # noqa: ANN201
        yield Label("/")
        yield self.input
        yield self.count

    def open(self) -> None:
        self.add_class("-visible")
        self.input.focus()

    def close(self) -> None:
        self.remove_class("-visible")

    @property
    def is_open(self) -> bool:
        return self.has_class("-visible")

    def set_count(self, current: int, total: int, query: str) -> None:
        if not query:
            self.count.update("")
        elif total == 0:
            self.count.update("no matches")
        else:
            self.count.update(f"{current + 1}/{total}")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Accepted())
