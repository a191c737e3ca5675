"""One query's run of the agent: the runner process, the batch loop over its output, and a typed
outcome (``QueryOutcome``) saying how it ended."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import SandboxError
from ..events import EventBus
from ..reducer import SessionState
from .environment import ExecutionEnvironment
from .permissions import PermissionBroker
from .runner_events import parse_runner_line

log = logging.getLogger(__name__)

#: Lines of runner output turned into one published batch at most.
MAX_BATCH = 2000
#: ``QueryOutcome.code`` when the liveness watchdog found the sandbox gone under the query.
SANDBOX_LOST = "SANDBOX_LOST"


@dataclass(frozen=True, slots=True)
class QueryOutcome:
    """How the agent's run ended (what ``query:completed`` / ``query:failed`` are made from)."""

    success: bool
    error: str | None = None
    code: str | None = None
    #: The agent or its sandbox died: the sandbox is suspect and the next message gets a new one.
    crashed: bool = False

    @property
    def sandbox_lost(self) -> bool:
        return self.code == SANDBOX_LOST


class QueryRun:
    """Runs the agent once through the runner, publishing its events as they come."""

    def __init__(
        self,
        session_id: str,
        *,
        bus: EventBus,
        environment: ExecutionEnvironment,
        permissions: PermissionBroker,
        state: Callable[[], SessionState],
        interrupted: Callable[[], str | None],
    ) -> None:
        self._session_id = session_id
        self._bus = bus
        self._environment = environment
        self._permissions = permissions
        self._state = state
        self._interrupted = interrupted
        #: The runner process while it runs (what an interrupt or an answer is written to).
        self.process: Any = None
        #: Set once the process is gone (and its output published).
        self.done = asyncio.Event()
        #: Set by the liveness watchdog when the sandbox went away under the running agent.
        self.sandbox_lost = False

    async def execute(self, request: dict[str, Any]) -> QueryOutcome:
        """Start the runner with ``request``; publish its events; return how it ended."""
        try:
            process = await self._environment.start_runner("execute-query", request)
        except SandboxError as exc:
            return QueryOutcome(False, exc.message, exc.code, crashed=True)
        self.process = process
        result: dict[str, Any] | None = None
        helpers: list[asyncio.Task[None]] = []
        try:
            stderr_task = asyncio.create_task(self._drain_stderr(process))
            helpers.append(stderr_task)
            helpers.append(asyncio.create_task(self._watch_sandbox(process)))
            lines: asyncio.Queue[bytes | None] = asyncio.Queue(4 * MAX_BATCH)

            async def pump() -> None:
                try:
                    async for line in process.stdout_lines():
                        await lines.put(line)
                finally:
                    await lines.put(None)

            pump_task = asyncio.create_task(pump())
            helpers.append(pump_task)
            eof = False
            while not eof:
                batch = [await lines.get()]
                while len(batch) < MAX_BATCH and not lines.empty():
                    batch.append(lines.get_nowait())
                drafts: list[dict[str, Any]] = []
                claimed: list[str] = []
                seen: dict[tuple[str, str], dict[str, Any]] = {}
                for line in batch:
                    if line is None:
                        eof = True
                        break
                    draft = self._parse_runner_line(line, seen)
                    if draft is None:
                        continue
                    if draft.get("type") == "query_result":
                        result = draft
                        continue
                    if draft["type"] == "permission:resolved":
                        draft = self._permissions.withdrawal(draft, drafts, claimed)
                        if draft is None:
                            continue
                    drafts.append(draft)
                try:
                    if drafts:
                        await self._bus.publish(self._session_id, drafts)
                finally:
                    self._permissions.release(claimed)
            await pump_task
            code = await process.wait()
            await stderr_task
        finally:
            # Anything the agent left behind in its process group ends with the query.
            await process.kill()
            # On the way out after a failure (the store's, say) the helpers are still running:
            # stop them, and let no error of theirs go unretrieved.
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            self.process = None
            self.done.set()
        if self.sandbox_lost:
            return QueryOutcome(
                False,
                "the sandbox went away during the query (deleted or stopped from outside); "
                "the agent was stopped, and the next message starts a new sandbox",
                SANDBOX_LOST,
                crashed=True,
            )
        if self._interrupted():
            # A runner that had to be killed (it never answered the interrupt) leaves a suspect
            # sandbox: the next message gets a new one.
            return QueryOutcome(False, crashed=result is None and code < 0)
        if result is not None and result.get("success") and code == 0:
            return QueryOutcome(True)
        if result is None or code < 0:
            how = f"killed by signal {-code}" if code < 0 else f"exited with code {code} without a result"
            return QueryOutcome(False, f"the agent process died unexpectedly ({how})", "AGENT_CRASHED", crashed=True)
        # The runner's own words, but only as the strings the wire promises (it is untrusted).
        error, failure_code = result.get("error"), result.get("code")
        return QueryOutcome(
            False,
            error[:4000] if isinstance(error, str) and error else f"agent exited with code {code}",
            failure_code[:100] if isinstance(failure_code, str) and failure_code else "AGENT_FAILED",
        )

    async def _watch_sandbox(self, process: Any) -> None:
        """Stop the agent when its sandbox goes away under it (a local sandbox's folder deleted):
        the agent would otherwise run on in a sandbox that no longer exists. Only for backends
        whose liveness check is cheap (``Capabilities.liveness_check_s``)."""
        primitive = self._environment.primitive
        interval = self._environment.capabilities.liveness_check_s
        if primitive is None or not interval:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                alive = await primitive.is_running()
            except Exception:  # noqa: BLE001 - unknown is not gone
                log.debug("session %s: sandbox liveness check failed", self._session_id, exc_info=True)
                continue
            if not alive:
                log.warning("session %s: the sandbox went away during a query; stopping the agent", self._session_id)
                self.sandbox_lost = True
                await process.kill()
                return

    def _parse_runner_line(
        self, line: bytes, seen: dict[tuple[str, str], dict[str, Any]] | None = None
    ) -> dict[str, Any] | None:
        return parse_runner_line(line, self._known_block, {} if seen is None else seen)

    def _known_block(self, conversation_id: str, block_id: str) -> dict[str, Any] | None:
        """The block as the log has it so far (what a runner's upsert would merge into)."""
        state = self._state()
        if conversation_id == "main":
            blocks, index = state.blocks, state.index
        else:
            thread = state.subagents.get(conversation_id) or next(
                (t for t in state.subagents.values() if t.agent_id == conversation_id), None
            )
            if thread is None:
                return None
            blocks, index = thread.blocks, thread.index
        position = index.get(block_id)
        return blocks[position] if position is not None else None

    async def _drain_stderr(self, process: Any) -> None:
        pending: list[str] = []
        async for line in process.stderr_lines():
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                pending.append(text[:4000])
            if len(pending) >= 50:
                await self._bus.publish_one(
                    self._session_id,
                    "log", {"level": "warn", "message": "\n".join(pending), "data": {"stream": "stderr"}}
                )
                pending = []
        if pending:
            await self._bus.publish_one(
                self._session_id,
                "log", {"level": "warn", "message": "\n".join(pending), "data": {"stream": "stderr"}}
            )
