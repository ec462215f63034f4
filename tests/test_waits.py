"""`waits.wait`: a loop whose cancellation was swallowed below it still stops."""

from __future__ import annotations

import asyncio
import contextlib

from listd import waits


async def test_a_loop_stops_when_a_call_inside_it_lost_its_cancellation() -> None:
    halt = asyncio.Event()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while not halt.is_set():
            rounds += 1
            with contextlib.suppress(asyncio.CancelledError):  # as 3.11's wait_for can
                await asyncio.sleep(0.01)
            await waits.wait(halt, 0.01)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.05)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    halt.set()
    assert done == {task} and task.cancelled(), f"still looping after {rounds} rounds"


async def test_wait_answers_whether_the_event_was_set() -> None:
    event = asyncio.Event()
    assert await waits.wait(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await waits.wait(event, 5) is True
