"""MessageQueue: messages run one at a time in the order they were queued; closing drops what waits
but lets the running one finish."""

from __future__ import annotations

import asyncio

from runtime.sessions.queue import MessageQueue


class _Runs:
    """A run that records what it ran and waits for a go per message."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.running = 0
        self.most_at_once = 0
        self.go: dict[str, asyncio.Event] = {}

    async def __call__(self, message_id: str, content: str) -> None:
        self.started.append(message_id)
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        await self.go.setdefault(message_id, asyncio.Event()).wait()
        self.running -= 1
        self.finished.append(message_id)

    def release(self, message_id: str) -> None:
        self.go.setdefault(message_id, asyncio.Event()).set()

    async def until_started(self, message_id: str) -> None:
        while message_id not in self.started:
            await asyncio.sleep(0)


async def test_messages_run_one_at_a_time_in_queue_order_even_when_queued_meanwhile() -> None:
    runs = _Runs()
    queue = MessageQueue("q", runs)
    queue.push(("m1", "a"))
    queue.push(("m2", "b"))
    queue.start()
    queue.start()  # a second start while working adds no second worker
    await runs.until_started("m1")
    assert queue.working and len(queue) == 1
    queue.push(("m3", "c"))  # the running worker takes it; start() is a no-op
    queue.start()
    for message_id in ("m1", "m2", "m3"):
        runs.release(message_id)
    await queue.join(5)
    assert runs.finished == ["m1", "m2", "m3"]
    assert runs.most_at_once == 1
    assert not queue.working and len(queue) == 0


async def test_a_withdrawn_message_never_runs() -> None:
    runs = _Runs()
    queue = MessageQueue("q", runs)
    queue.push(("m1", "a"))
    queue.push(("m2", "b"))
    queue.withdraw(("m1", "a"))
    queue.withdraw(("m1", "a"))  # twice: nothing to take back, no error
    runs.release("m2")
    queue.start()
    await queue.join(5)
    assert runs.started == ["m2"]


async def test_close_drops_waiting_messages_and_lets_the_running_one_end() -> None:
    runs = _Runs()
    queue = MessageQueue("q", runs)
    queue.push(("m1", "a"))
    queue.push(("m2", "b"))
    queue.start()
    await runs.until_started("m1")
    queue.close()
    assert len(queue) == 0
    runs.release("m1")
    runs.release("m2")
    await queue.join(5)
    assert runs.finished == ["m1"]
    queue.push(("m3", "c"))
    queue.start()  # closed: no new worker
    assert not queue.working
