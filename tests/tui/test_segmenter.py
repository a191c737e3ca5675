"""FenceSegmenter: however a reply is cut into deltas, prose and fences come out the same."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agent_tui.segmenter import FenceClose, FenceLines, FenceOpen, FencePartial, FenceSegmenter, Op, Prose

REPLY = """Intro with `inline code` and a list:

- one
- two

```python
def f(x):
    return "```"  # a backtick run inside a line is code
```

Between fences.
~~~
tilde fence
~~~~
  ```js
  const a = 1;
  ```
The end, no newline"""


def run(chunks: list[str]) -> list[Op]:
    segmenter = FenceSegmenter()
    ops: list[Op] = []
    for chunk in chunks:
        ops.extend(segmenter.feed(chunk))
    ops.extend(segmenter.finish())
    return ops


def normalise(ops: list[Op]) -> list[tuple[str, object]]:
    """Merge what a different chunking may split differently; drop transient partial lines."""
    out: list[tuple[str, object]] = []
    for op in ops:
        if isinstance(op, FencePartial):
            continue
        if isinstance(op, Prose):
            item: tuple[str, object] = ("prose", op.text)
        elif isinstance(op, FenceLines):
            item = ("code", "".join(line + "\n" for line in op.lines))
        elif isinstance(op, FenceOpen):
            item = ("open", op.info)
        else:
            item = ("close", None)
        if out and item[0] in ("prose", "code") and out[-1][0] == item[0]:
            out[-1] = (item[0], str(out[-1][1]) + str(item[1]))
        else:
            out.append(item)
    return out


def test_whole_reply_splits_into_prose_and_fences() -> None:
    assert normalise(run([REPLY])) == [
        ("prose", "Intro with `inline code` and a list:\n\n- one\n- two\n\n"),
        ("open", "python"),
        ("code", 'def f(x):\n    return "```"  # a backtick run inside a line is code\n'),
        ("close", None),
        ("prose", "\nBetween fences.\n"),
        ("open", ""),
        ("code", "tilde fence\n"),
        ("close", None),
        ("open", "js"),
        ("code", "const a = 1;\n"),  # the opener's indent is removed from its lines
        ("close", None),
        ("prose", "The end, no newline"),
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=60))
def test_any_chunking_gives_the_same_result(cuts: list[int]) -> None:
    chunks, position = [], 0
    for size in cuts:
        chunks.append(REPLY[position:position + size])
        position += size
    chunks.append(REPLY[position:])
    assert normalise(run(chunks)) == normalise(run([REPLY]))


def test_a_line_that_may_open_a_fence_is_held_until_it_is_complete() -> None:
    segmenter = FenceSegmenter()
    assert segmenter.feed("text\n``") == [Prose("text\n")]
    assert segmenter.feed("`py") == []
    assert segmenter.feed("thon\nx = 1") == [FenceOpen("python", "```"), FencePartial("x = 1")]
    assert segmenter.feed("\n``") == [FenceLines(("x = 1",))]  # "``" may be the closer: not shown
    assert segmenter.feed("`\n") == [FenceClose()]


def test_an_unclosed_fence_is_closed_when_the_reply_ends() -> None:
    segmenter = FenceSegmenter()
    segmenter.feed("```\nlast line")
    assert segmenter.finish() == [FenceLines(("last line",)), FenceClose()]
