"""ToolCard: one tool call: name, one-line input summary, status, duration; output in a ``Log``.

Collapsed by default and unfolded automatically when the tool fails. A ``tool_result`` is drawn
inside the card of its ``tool_use``. A call that started a subagent (Claude's Task tool, or a
``subagent`` block) shows the subagent's own thread nested in the body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from rich.highlighter import Highlighter
from rich.text import Text
from textual.content import Content
from textual.widget import MountError
from textual.widgets import Log, Static

from ..formatting import as_text, clip, one_line, tool_summary
from ..session_model import format_duration
from .foldable import FoldableBlock

#: The header's mark for each outcome: a denied, interrupted or failed call never looks done.
_MARKS = {
    "asking": "[$warning]?[/]",
    "running": "[$warning]◌[/]",
    "denied": "[$warning]⊘[/]",
    "interrupted": "[$warning]■[/]",
    "failed": "[$text-error]✗[/]",
    "done": "[$text-success]✓[/]",
}


class _QueryHighlighter(Highlighter):
    """Marks every occurrence of a search query (case-insensitive) in a line of output."""

    def __init__(self, query: str) -> None:
        self.query = query.lower()

    def highlight(self, text: Text) -> None:
        if not self.query:
            return
        plain = text.plain.lower()
        start = plain.find(self.query)
        while start != -1:
            text.stylize("bold reverse", start, start + len(self.query))
            start = plain.find(self.query, start + len(self.query))


class SubagentThread(Protocol):
    """What a Task card shows its subagent's blocks in (a ThreadView widget)."""

    async def sync_all(self, blocks: list[dict[str, Any]], index: dict[str, int], dirty: set[str] | None) -> None: ...


class ToolCard(FoldableBlock):
    DEFAULT_CSS = """
    ToolCard {
        & > .fold-body > .tool-input { height: auto; color: $text-muted; }
        & > .fold-body > Log { height: auto; max-height: 20; background: $surface; margin: 0 0 0 0; }
        & > .fold-body > ThreadView { border-left: solid $secondary; padding: 0 0 0 1; }
        &.-error > FoldHeader { color: $text-error; }
        &.-stopped > FoldHeader { color: $text-warning; }
        &.-subagent > FoldHeader { text-style: bold; }
    }
    """

    def __init__(
        self, block: dict[str, Any], model: Any, *, nested_thread: Callable[[Any], SubagentThread], **kwargs: Any
    ) -> None:
        super().__init__(block, model, **kwargs)
        # Handed in by ThreadView (which renders cards), so this module does not import it back.
        self._nested_thread = nested_thread
        self.tool_use_id = str(block.get("toolUseId") or block["id"])
        self.use: dict[str, Any] = block if block.get("type") != "tool_result" else {}
        self.result: dict[str, Any] | None = block if block.get("type") == "tool_result" else None
        self._input = Static("", classes="tool-input")
        self._log: Log | None = None
        self._written = 0
        self._output_text: str | None = None
        self._thread: SubagentThread | None = None
        self._search = ""

    def on_mount(self) -> None:
        self.body.mount(self._input)

    # ------------------------------------------------------------------ data

    def attach_result(self, block: dict[str, Any]) -> None:
        self.result = block

    async def update_block(self, block: dict[str, Any]) -> None:
        if block.get("type") == "tool_result" and block.get("id") != self.block_id:
            self.result = block
        elif block.get("type") == "tool_result":
            self.result = block
            self.block = block
        else:
            self.use = block
            self.block = block
        outcome = self.outcome()
        failed = outcome == "failed"
        self.set_class(failed, "-error")
        self.set_class(outcome in ("denied", "interrupted"), "-stopped")
        self.set_class(self.subagent is not None, "-subagent")
        if failed and not self.user_toggled and not self.expanded:
            self.expanded = True  # failures unfold themselves
        self.header.update(self.header_content())
        if self.expanded:
            await self.fill_body()

    @property
    def subagent(self) -> Any:
        return self.model.state.subagents.get(self.tool_use_id)

    @property
    def failed(self) -> bool:
        if self.result is not None and (self.result.get("isError") or self.result.get("status") == "error"):
            return True
        thread = self.subagent
        return bool(thread is not None and thread.status == "failed") or self.use.get("status") == "error"

    @property
    def pending(self) -> bool:
        thread = self.subagent
        if thread is not None and thread.status == "running":
            return True
        if self.result is not None:
            return self.result.get("status") == "pending"
        return self.use.get("status", "complete") == "pending"

    @property
    def awaiting_approval(self) -> bool:
        """The agent asked permission for this call and nobody has answered yet."""
        pending = getattr(getattr(self.model, "state", None), "pending_permissions", None) or {}
        return any(p.get("tool_use_id") == self.tool_use_id for p in pending.values())

    def decision_note(self) -> str:
        """`` · denied by alice: not today``: how the permission request for this call was answered."""
        decisions = getattr(self.model, "decisions", None) or {}
        answer = decisions.get(self.tool_use_id)
        if not answer:
            return ""
        verb = {"allow": "allowed", "allow_always": "allowed always", "deny": "denied"}.get(
            answer.get("decision", ""), str(answer.get("decision") or "answered"))
        note = f" · {verb}"
        if answer.get("by"):
            note += f" by {answer['by']}"
        if answer.get("message"):
            note += f": {one_line(answer['message'], 60)}"
        return note

    @property
    def interrupted(self) -> bool:
        """An interrupt stopped this call before it finished (or killed its command)."""
        cut = getattr(self.model, "interrupted", None) or ()
        return self.tool_use_id in cut or self.block_id in cut or (self.result or {}).get("id") in cut

    @property
    def denied(self) -> bool:
        decisions = getattr(self.model, "decisions", None) or {}
        return (decisions.get(self.tool_use_id) or {}).get("decision") == "deny"

    def outcome(self) -> str:
        """How the call ended: asking, running, denied, interrupted, failed or done."""
        if self.awaiting_approval:
            return "asking"
        if self.denied:
            return "denied"
        if self.interrupted:
            return "interrupted"
        if self.pending:
            return "running"
        return "failed" if self.failed else "done"

    def tool_name(self, summary: str = "") -> str:
        use = self.use
        if use.get("type") == "subagent":
            return str(use.get("name") or "Subagent")
        display = str(use.get("displayName") or "").strip()
        # OpenCode and Gemini title a shell call with its command: the summary already shows it.
        if display and summary and _repeats(display, summary):
            display = ""
        return display or str(use.get("toolName") or "tool")

    def header_content(self) -> Content:
        outcome = self.outcome()
        asking = outcome == "asking"
        icon = _MARKS[outcome]
        summary = tool_summary(self.use)
        duration = None
        if self.result is not None:
            duration = self.result.get("durationMs")
        thread = self.subagent
        if duration is None and thread is not None:
            duration = thread.duration_ms
        extra = f" · {format_duration(duration)}" if isinstance(duration, int | float) else ""
        if thread is not None:
            extra += f" · {len(thread.blocks)} blocks"
        if asking:
            extra += " · waiting for your approval (ctrl+r)"
        else:
            extra += self.decision_note()
        exit_code = (self.result or {}).get("exitCode")
        if outcome == "interrupted":
            extra += " · interrupted"
        elif isinstance(exit_code, int) and exit_code:
            extra += f" · exit {exit_code}" if exit_code > 0 else f" · killed by signal {-exit_code}"
        header = Content.from_markup(
            f"$fold {icon} [b]$name[/] $summary[dim]$extra[/]",
            fold=self.fold_symbol(), name=self.tool_name(summary), summary=summary, extra=extra)
        preview = self.output_preview() if not self.expanded else ""
        if preview:
            header = header + Content.from_markup("\n  [dim]└ $preview[/]", preview=preview)
        return header

    def output_preview(self) -> str:
        """The output's last non-empty line, so a folded card still shows how it ended."""
        thread = self.subagent
        if self.result is not None:
            output = self.result.get("output")
        elif thread is not None and thread.output is not None:
            output = thread.output
        else:
            return ""
        text = output if isinstance(output, str) else as_text(output)
        tail = text[-2000:].rstrip()
        if not tail:
            return ""
        last = tail.rsplit("\n", 1)[-1].strip()
        return last[:117] + "…" if len(last) > 118 else last

    # ------------------------------------------------------------------ body

    async def fill_body(self) -> None:
        try:
            await self._fill_body()
        except MountError:
            pass  # torn down mid-update

    async def _fill_body(self) -> None:
        tool_input = self.use.get("input")
        if isinstance(tool_input, dict) and tool_input:
            pretty = json.dumps(tool_input, indent=2, ensure_ascii=False)
            shown, cut = clip(pretty, 4000, 30)
            if cut:
                shown += f"\n… {cut:,} more characters"
            self._input.update(Content(shown))
        thread = self.subagent
        if thread is not None:
            if self._thread is None:
                self._thread = self._nested_thread(self.model)
                await self.body.mount(self._thread)  # type: ignore[arg-type]  # a ThreadView
            await self._thread.sync_all(thread.blocks, thread.index, None)
        result = self.result
        if result is None and thread is not None and thread.output is not None:
            result = {"output": thread.output}  # a subagent's final answer
        if result is not None:
            output = result.get("output")
            if self._log is None:
                self._log = Log(auto_scroll=True)  # the end of an output says how it went
                await self.body.mount(self._log)
                if self._search:
                    self._apply_search()
            if isinstance(output, str):
                if self._output_text is not None or len(output) < self._written:
                    self._log.clear()
                    self._written = 0
                    self._output_text = None
                if len(output) > self._written:
                    self._log.write(output[self._written:])
                    self._written = len(output)
            else:
                text = as_text(output)
                if text != self._output_text:
                    self._log.clear()
                    self._log.write(text)
                    self._output_text = text
                    self._written = 0

    def show_search(self, query: str) -> None:
        """Mark ``query`` in the output (``""``: no marks) and scroll to its first line."""
        if query == self._search:
            return
        self._search = query
        self._apply_search()

    def _apply_search(self) -> None:
        log = self._log
        if log is None:
            return
        log.highlight = bool(self._search)
        log.highlighter = _QueryHighlighter(self._search)
        log.notify_style_update()  # drops the lines drawn without the marks
        log.refresh()
        if self._search:
            needle = self._search.lower()
            line = next((i for i, text in enumerate(log.lines) if needle in text.lower()), None)
            if line is not None:
                log.scroll_to(y=max(0, line - 2), animate=False)

    def copy_text(self) -> str:
        summary = tool_summary(self.use, 10_000)
        output = as_text((self.result or {}).get("output"))
        return f"{summary}\n{output}" if output else summary

    def search_text(self) -> str:
        return self.copy_text()


def _repeats(display: str, summary: str) -> bool:
    """Whether a tool's display name only repeats the summary (the command or path it shows)."""
    name = display.rstrip(" …")
    shown = summary.removeprefix("$ ").rstrip(" …")
    return name == shown or (len(name) > 12 and (shown.startswith(name) or name.startswith(shown)))
