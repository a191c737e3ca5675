"""Keeps a ``SessionModel`` per session up to date from the client. No Textual here.

Every session is followed (its subscription replays the log, then goes live), so hidden sessions
keep their state, unread count and notifications current; only the visible one has widgets, and
the view is told what changed through ``on_change`` after each batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from runtime.agent_runtime import SessionsChanged, SessionStatusChanged
from runtime.errors import AgentTuiError, SessionNotFound, SubscriberLagged
from runtime.models import SessionSummary

from .session_model import BatchChanges, SessionModel

log = logging.getLogger(__name__)

#: Events taken from a subscription per batch (one reducer pass, one view update).
BATCH_LIMIT = 5000

OnChange = Callable[[SessionModel, BatchChanges | None], None]
OnListChange = Callable[[str, SessionModel], None]


class SessionsController:
    def __init__(self, client: Any, on_change: OnChange, on_list_change: OnListChange) -> None:
        self.client = client
        self.models: dict[str, SessionModel] = {}
        self._on_change = on_change
        self._on_list_change = on_list_change
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._unobserve: Callable[[], None] | None = None
        self._closed = False

    async def load(self) -> None:
        self._unobserve = self.client.add_observer(self._notice)
        summaries = await self.client.list_sessions()
        for summary in sorted(summaries, key=lambda s: (s.created_at, s.session_id)):
            self._add(summary)

    def ordered(self) -> list[SessionModel]:
        return list(self.models.values())

    # ------------------------------------------------------------------ notices

    def _notice(self, notice: Any) -> None:
        if self._closed:
            return
        if isinstance(notice, SessionsChanged):
            session = notice.session
            if notice.action == "deleted":
                self._remove(session.session_id)
            elif session.session_id in self.models:
                model = self.models[session.session_id]
                model.summary = session
                self._on_list_change("updated", model)
            elif notice.action in ("created", "updated"):
                self._add(session)
        elif isinstance(notice, SessionStatusChanged):
            model = self.models.get(notice.session_id)
            if model is not None:
                model.summary = model.summary.model_copy(update={"runtime": notice.runtime})
                if not model.loaded:
                    self._on_change(model, None)

    def resync(self, summaries: list[SessionSummary]) -> None:
        """After a reconnect: add sessions created meanwhile, drop deleted ones."""
        seen = set()
        for summary in summaries:
            seen.add(summary.session_id)
            if summary.session_id in self.models:
                self.models[summary.session_id].summary = summary
                self._on_list_change("updated", self.models[summary.session_id])
            else:
                self._add(summary)
        for session_id in [s for s in self.models if s not in seen]:
            self._remove(session_id)

    # ------------------------------------------------------------------ following

    def _add(self, summary: SessionSummary) -> SessionModel:
        model = SessionModel(summary)
        self.models[summary.session_id] = model
        self._tasks[summary.session_id] = asyncio.get_running_loop().create_task(
            self._follow(model), name=f"follow-{summary.session_id}")
        self._on_list_change("created", model)
        return model

    def _remove(self, session_id: str) -> None:
        model = self.models.pop(session_id, None)
        task = self._tasks.pop(session_id, None)
        if task is not None:
            task.cancel()
        if model is not None:
            self._on_list_change("deleted", model)

    async def _follow(self, model: SessionModel) -> None:
        while not self._closed:
            try:
                subscription = self.client.subscribe(model.session_id, model.state.last_seq)
            except SessionNotFound:
                return
            try:
                while True:
                    batch = await subscription.next_batch(BATCH_LIMIT)
                    if batch:
                        changes = model.apply(batch)
                        self._on_change(model, changes)
            except SubscriberLagged:
                continue  # fell behind: resubscribe from the last applied seq
            except (StopAsyncIteration, SessionNotFound):
                return
            except asyncio.CancelledError:
                raise
            except AgentTuiError as exc:
                log.warning("following %s: %s", model.session_id, exc)
                await asyncio.sleep(1.0)  # the remote end is away; its client reconnects
            except Exception:
                log.exception("following session %s failed", model.session_id)
                return
            finally:
                subscription.close()

    async def close(self) -> None:
        self._closed = True
        if self._unobserve is not None:
            self._unobserve()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
