"""Keeps a ``SessionModel`` per session up to date from the client. No Textual here.

Cost follows the screen (issue #17): the list is built from the sessions' summaries and kept
current by the runtime's notices (status, cost, unread: the server's counts); only the shown
session's log is followed (its subscription replays the log, then goes live), plus the few shown
last so switching back is quick. A hidden, unfollowed session's notifications come from its
summary changing. The view is told what changed through ``on_change`` after each batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from runtime.agent_runtime import SessionsChanged, SessionStatusChanged
from runtime.errors import AgentTuiError, SessionNotFound, SubscriberLagged
from runtime.models import SessionSummary

from .session_model import BatchChanges, Notice, SessionModel

log = logging.getLogger(__name__)

#: Events taken from a subscription per batch (one reducer pass, one view update).
BATCH_LIMIT = 5000
#: Sessions whose logs stay followed: the shown one, its neighbours in the list (read ahead, so
#: ctrl+up/down lands on a replayed log) and the last shown (switching back is instant).
FOLLOWED_MAX = 6

OnChange = Callable[[SessionModel, BatchChanges | None], None]
OnListChange = Callable[[str, SessionModel], None]


class SessionsController:
    def __init__(self, client: Any, on_change: OnChange, on_list_change: OnListChange) -> None:
        self.client = client
        self.models: dict[str, SessionModel] = {}
        self._on_change = on_change
        self._on_list_change = on_list_change
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: Followed sessions, least recently shown first.
        self._followed: OrderedDict[str, None] = OrderedDict()
        self.visible: str | None = None
        self._marking: set[str] = set()
        self._unobserve: Callable[[], None] | None = None
        self._closed = False

    async def load(self) -> None:
        self._unobserve = self.client.add_observer(self._notice)
        summaries = await self.client.list_sessions()
        for summary in sorted(summaries, key=lambda s: (s.created_at, s.session_id)):
            self._add(summary)

    def ordered(self) -> list[SessionModel]:
        return list(self.models.values())

    def show(self, session_id: str | None) -> None:
        """``session_id`` is on screen: follow its log, mark it read; unfollow the oldest shown."""
        self.visible = session_id
        model = self.models.get(session_id) if session_id is not None else None
        if model is None:
            return
        ids = list(self.models)
        at = ids.index(model.session_id)
        neighbours = {ids[(at - 1) % len(ids)], ids[(at + 1) % len(ids)]} - {model.session_id}
        for followed in (*neighbours, model.session_id):  # the shown one last: most recent
            self._start_following(self.models[followed])
        while len(self._followed) > FOLLOWED_MAX:
            oldest = next(iter(self._followed))
            del self._followed[oldest]
            self._unfollow(oldest)
        self._mark_read(model)

    def _start_following(self, model: SessionModel) -> None:
        if model.session_id not in self._tasks:
            model.follow()
            self._tasks[model.session_id] = asyncio.get_running_loop().create_task(
                self._follow(model), name=f"follow-{model.session_id}")
        self._followed[model.session_id] = None
        self._followed.move_to_end(model.session_id)

    def _unfollow(self, session_id: str) -> None:
        task = self._tasks.pop(session_id, None)
        if task is not None:
            task.cancel()
        model = self.models.get(session_id)
        if model is not None:
            model.unfollow()
            self._on_change(model, None)

    def _mark_read(self, model: SessionModel) -> None:
        mark = getattr(self.client, "mark_read", None)
        if not model.unread or mark is None or model.session_id in self._marking:
            return
        model.unread = 0  # at once on screen; the server's notice confirms it
        session_id = model.session_id
        self._marking.add(session_id)

        async def run() -> None:
            try:
                await mark(session_id)
            except AgentTuiError as exc:
                log.warning("marking %s read: %s", session_id, exc)
            finally:
                self._marking.discard(session_id)

        asyncio.get_running_loop().create_task(run(), name=f"mark-read-{session_id}")

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
                before = model.summary
                model.summary = session
                self._on_list_change("updated", model)
                if session.session_id == self.visible:
                    self._mark_read(model)
                elif session.unread > before.unread and not model.followed:
                    failed = session.status == "error"
                    notice = Notice("error" if failed else "information",
                                    f"{model.name} {'failed' if failed else 'finished'}", "")
                    self._on_change(model, BatchChanges(status_changed=True, notices=[notice]))
            elif notice.action in ("created", "updated"):
                self._add(session)
        elif isinstance(notice, SessionStatusChanged):
            model = self.models.get(notice.session_id)
            if model is not None:
                asked = len(model.summary.runtime.pending_permissions)
                model.summary = model.summary.model_copy(update={"runtime": notice.runtime})
                if not model.loaded:
                    changes = None
                    if not model.followed and len(notice.runtime.pending_permissions) > asked:
                        request = notice.runtime.pending_permissions[-1]
                        tool = request.title or request.tool_name or "a tool"
                        changes = BatchChanges(status_changed=True, notices=[
                            Notice("warning", f"{model.name} needs input", f"Allow {tool}?")])
                    self._on_change(model, changes)

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
        self._on_list_change("created", model)
        return model

    def _remove(self, session_id: str) -> None:
        self._followed.pop(session_id, None)
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
