"""Running commands in a shell session and reading what they printed."""

from __future__ import annotations

from runtime import AgentRuntime
from tests.helpers import collect_until, query_end


async def shell(runtime: AgentRuntime, session_id: str, command: str) -> tuple[str, int]:
    """Run ``command`` in the session (a real runner and bash in its sandbox): output, exit code."""
    after = (await runtime.get_summary(session_id)).last_seq
    message_id, _ = await runtime.send_message(session_id, command)
    events = await collect_until(runtime, session_id, query_end(message_id), after_seq=after)
    assert events[-1].type == "query:completed", events[-1]
    detail = await runtime.get_session(session_id)
    result = [b for b in detail.blocks if b.type == "tool_result"][-1]
    assert result.model_extra is not None
    return result.output or "", int(result.model_extra["exitCode"])


def verdicts(output: str) -> dict[str, str]:
    """``name:verdict`` lines printed by a probe script, as a dict."""
    pairs = (line.split(":", 1) for line in output.splitlines() if ":" in line)
    return {name: verdict for name, verdict in pairs}
