"""PermissionBroker: who may answer a session's open tool requests, and when they expire.

The log (``SessionState.pending_permissions`` / ``resolved_permissions``) says which requests are
open; the broker adds what the log cannot: the claims of answers being published (so of two
concurrent answers exactly one gets through), the timers that deny unanswered requests, and
the control line that tells the running agent the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import AlreadyResolved, PermissionNotFound, StoreError
from ..events import EventBus
from ..reducer import SessionState

log = logging.getLogger(__name__)

#: ``by`` of the requests the runtime itself closes (interrupt, sandbox end, timeout, restart).
RUNTIME_NAME = "agent-tui"

#: Answers a request as a client would (``AgentSession.resolve_permission``): what an expiry calls.
Answer = Callable[[str, str, str | None, str | None], Awaitable[None]]


def resolution(request_id: str, decision: str, message: str | None, by: str | None) -> dict[str, Any]:
    """The payload of ``permission:resolved``."""
    payload: dict[str, Any] = {"requestId": request_id, "decision": decision}
    if message:
        payload["message"] = message
    if by:
        payload["by"] = by
    return payload


class PermissionBroker:
    def __init__(
        self,
        session_id: str,
        *,
        bus: EventBus,
        state: Callable[[], SessionState],
        process: Callable[[], Any],
        agent_name: str,
        timeout_s: Callable[[], float | None],
        expire: Answer,
    ) -> None:
        self.session_id = session_id
        self._bus = bus
        self._state = state
        self._process = process
        self._agent_name = agent_name
        self._timeout_s = timeout_s
        self._expire = expire
        #: Requests whose answer is being published (claimed before any await).
        self._resolving: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._background: set[asyncio.Task[None]] = set()

    # -- answers -------------------------------------------------------------------------------

    def claim(self, request_id: str) -> dict[str, Any]:
        """Take the right to answer ``request_id``; synchronous, so no other answer can interleave."""
        state = self._state()
        pending = state.pending_permissions.get(request_id)
        if request_id in self._resolving or (pending is None and request_id in state.resolved_permissions):
            raise AlreadyResolved(f"permission request {request_id!r} was already answered")
        if pending is None:
            raise PermissionNotFound(f"no pending permission request {request_id!r}")
        self._resolving.add(request_id)
        return pending

    def release(self, request_ids: list[str]) -> None:
        """Drop claims once their answers are in the log (or failed to get there)."""
        self._resolving.difference_update(request_ids)

    def unclaimed(self) -> list[str]:
        """Open requests nobody is answering right now."""
        return [r for r in self._state().pending_permissions if r not in self._resolving]

    async def answer(
        self, request_id: str, decision: str, message: str | None = None, by: str | None = None
    ) -> dict[str, Any]:
        """Publish the answer to an open request; returns the request as it was pending.

        The first answer wins; later ones get ``AlreadyResolved``, unknown ids ``PermissionNotFound``.
        """
        pending = self.claim(request_id)
        try:
            await self._bus.publish_one(
                self.session_id, "permission:resolved", resolution(request_id, decision, message, by)
            )
        finally:
            self._resolving.discard(request_id)
        return pending

    async def tell_runner(self, request_id: str, decision: str, message: str | None) -> None:
        process = self._process()
        if process is None:
            return
        control: dict[str, Any] = {
            "type": "permission_response",
            "requestId": request_id,
            "decision": decision,
        }
        if message:
            control["message"] = message
        try:
            await process.write_stdin((json.dumps(control) + "\n").encode())
        except Exception:  # noqa: BLE001 - the agent ended meanwhile; the query end closes the rest
            log.debug("session %s: answer to %s not delivered", self.session_id, request_id, exc_info=True)

    def withdrawal(
        self, draft: dict[str, Any], batch: list[dict[str, Any]], claimed: list[str]
    ) -> dict[str, Any] | None:
        """A runner may withdraw its own open question (the agent stopped waiting), as a deny;
        it can never answer one for the user, and a question already answered stays answered.
        The claim is added to ``claimed``: the caller releases it once the batch is published."""
        payload = draft.get("payload") or {}
        request_id = payload.get("requestId")
        asked_in_batch = any(
            d["type"] == "permission:requested" and d["payload"].get("requestId") == request_id for d in batch
        )
        if (
            not isinstance(request_id, str)
            or request_id in self._resolving
            or (request_id not in self._state().pending_permissions and not asked_in_batch)
        ):
            return None
        self._resolving.add(request_id)
        claimed.append(request_id)
        message = payload.get("message")
        draft["payload"] = resolution(
            request_id,
            "deny",
            str(message)[:1000] if message else "the agent withdrew the request",
            str(payload.get("by") or self._agent_name)[:100],
        )
        return draft

    async def close_pending(self, reason: str, *, tell_runner: bool = False) -> None:
        """Deny every open request (interrupt, end of the query or of the sandbox, shutdown)."""
        claimed: list[str] = []
        for request_id in list(self._state().pending_permissions):
            with contextlib.suppress(AlreadyResolved, PermissionNotFound):
                self.claim(request_id)
                claimed.append(request_id)
        if not claimed:
            return
        try:
            await self._bus.publish(
                self.session_id,
                [
                    {"type": "permission:resolved", "payload": resolution(r, "deny", reason, RUNTIME_NAME)}
                    for r in claimed
                ],
            )
        except StoreError:
            log.exception("session %s: could not close pending permission requests", self.session_id)
            return
        finally:
            self.release(claimed)
        if tell_runner:
            for request_id in claimed:
                await self.tell_runner(request_id, "deny", reason)

    # -- timeout -------------------------------------------------------------------------------

    def observe(self, event_type: str, request_id: Any) -> None:
        """Follow the log: a request starts its timer, its resolution cancels it."""
        if event_type == "permission:requested":
            self._start_timer(request_id)
        elif event_type == "permission:resolved":
            self._cancel_timer(request_id)

    def _start_timer(self, request_id: Any) -> None:
        timeout = self._timeout_s()
        if timeout is None or not isinstance(request_id, str) or request_id in self._timers:
            return
        loop = asyncio.get_running_loop()
        self._timers[request_id] = loop.call_later(max(0.0, timeout), self._on_timeout, request_id, timeout)

    def _cancel_timer(self, request_id: Any) -> None:
        handle = self._timers.pop(request_id, None) if isinstance(request_id, str) else None
        if handle is not None:
            handle.cancel()

    def _on_timeout(self, request_id: str, timeout: float) -> None:
        self._timers.pop(request_id, None)

        async def expire() -> None:
            # Lost to an answer that came in meanwhile: nothing to do.
            with contextlib.suppress(AlreadyResolved, PermissionNotFound):
                await self._expire(request_id, "deny", f"no answer within {timeout:g} s", RUNTIME_NAME)

        task = asyncio.get_running_loop().create_task(expire(), name=f"permission-timeout-{request_id}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
