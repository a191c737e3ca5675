"""StoreRecovery: the ends of queries the store failed to record, published once it works again.

A write of a session's events can fail mid-query (disk full, a read-only database file). The
agent is stopped then and nothing unpersisted was delivered; the query's end
(``query:failed {code: STORE_ERROR}``) waits here, and comes first in the log as soon as the store
takes writes again: the worker retries before it runs anything else, a ``send`` tries first too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from ..errors import StoreError
from ..events import EventBus
from ..reducer import SessionState
from .environment import ExecutionEnvironment
from .permissions import RUNTIME_NAME, PermissionBroker, resolution

log = logging.getLogger(__name__)


class StoreRecovery:
    def __init__(
        self,
        session_id: str,
        *,
        bus: EventBus,
        state: Callable[[], SessionState],
        environment: ExecutionEnvironment,
        permissions: PermissionBroker,
        on_recorded: Callable[[], None],
    ) -> None:
        self._session_id = session_id
        self._bus = bus
        self._state = state
        self._environment = environment
        self._permissions = permissions
        self._on_recorded = on_recorded
        #: Ends of queries the store could not record, in order.
        self._unrecorded: list[dict[str, Any]] = []
        #: Set when the session closes: retrying stops (start-up recovery closes the query then).
        self._stopped = asyncio.Event()

    @property
    def pending(self) -> bool:
        """Some query's end is still unrecorded (so the store was failing at last try)."""
        return bool(self._unrecorded)

    def stop(self) -> None:
        self._stopped.set()

    def failed(self, message_id: str, exc: StoreError) -> None:
        """A write of this session's events failed during a query (disk full, read-only file...).

        By now the agent is stopped (``QueryRun.execute`` kills its process group on the way
        out) and nothing unpersisted was delivered. The query ends as ``query:failed {code: STORE_ERROR}``:
        subscribers learn it from the log itself, as soon as the store takes writes again (the
        worker retries before it runs anything else; a ``send`` tries first too). Messages queued
        behind it stay queued and run after that.
        """
        log.error(
            "session %s: the store failed during query %s; the agent was stopped: %s",
            self._session_id,
            message_id,
            exc,
        )
        state = self._state()
        # Only if the log still shows it open (the failure may have come after its end was written).
        if not (
            (state.active_query or {}).get("message_id") == message_id
            or message_id in state.unstarted
            or message_id in state.queued
        ):
            return
        reason = (
            f"the session's events could not be saved ({exc.message}); the agent was stopped. "
            "Free some disk space (or fix the database file) and send the message again"
        )
        self._unrecorded.append(
            {
                "type": "query:failed",
                "payload": {"messageId": message_id, "error": reason, "code": "STORE_ERROR"},
            }
        )

    async def record(self) -> None:
        """Publish the recorded ends (raises ``StoreError`` while the store still fails)."""
        # Taken before the await, so a concurrent caller (a send racing the retry) finds nothing
        # left to record and its own events are ordered after these.
        ended, self._unrecorded = self._unrecorded, []
        if not ended:
            return
        drafts: list[dict[str, Any]] = []
        # Questions the stopped agent asked can no longer be answered.
        for request_id in self._permissions.unclaimed():
            drafts.append(
                {
                    "type": "permission:resolved",
                    "payload": resolution(
                        request_id, "deny", "the session's events could not be saved", RUNTIME_NAME
                    ),
                }
            )
        drafts.extend(ended)
        # Sandbox events may have been lost with the failed writes: say where it really is.
        status = (self._state().environment or {}).get("status")
        primitive = self._environment.primitive
        if primitive is not None and status != "ready":
            drafts.append(
                {
                    "type": "ee:ready",
                    "payload": {
                        "eeId": primitive.environment_id,
                        "primitive": self._environment.primitive_name,
                    },
                }
            )
        elif primitive is None and status in ("starting", "ready"):
            drafts.append({"type": "ee:terminated", "payload": {"reason": "unhealthy"}})
        try:
            await self._bus.publish(self._session_id, drafts)
        except BaseException:
            self._unrecorded[:0] = ended
            raise
        self._on_recorded()

    async def retry(self) -> None:
        delay = 0.25
        while self._unrecorded and not self._stopped.is_set():
            try:
                await self.record()
            except StoreError:
                # Until the store takes writes again (or the session closes: start-up recovery
                # then closes the query as INTERRUPTED_BY_RESTART).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), delay)
                delay = min(delay * 2, 5.0)
                continue
            log.info("session %s: the store works again; the failed query is recorded", self._session_id)
