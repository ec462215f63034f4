"""Waiting in long-running loops without losing a request to stop.

On Python 3.11, `asyncio.wait_for` returns the awaited result instead of raising when a
cancellation lands just as that result arrives, and redis-py writes every command through
it. The task then runs on with its cancellation still counted (`Task.cancelling()`), and
every later `asyncio.timeout` takes that count for its own and swallows its expiry as a
timeout: a loop that pauses that way never ends. A dispatcher worker's TaskGroup waited
for such a loop until shutdown, so the worker did not start again after a Redis error.

Every loop of listd pauses with `wait` or `sleep`, which raise the lost cancellation
before they wait; `stop_if_cancelled` does the same for a loop that waits on something
else.
"""

from __future__ import annotations

import asyncio
import contextlib


def stop_if_cancelled() -> None:
    """Raise CancelledError when this task was asked to stop and goes on regardless."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def sleep(seconds: float) -> None:
    """asyncio.sleep for a loop whose body calls Redis."""
    stop_if_cancelled()
    await asyncio.sleep(seconds)


async def wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set, at most `seconds`; True if it is set.

    asyncio.timeout, not wait_for: on 3.11 wait_for can itself swallow a cancellation that
    lands as the event is set."""
    stop_if_cancelled()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(seconds, 0.0)):
            await event.wait()
    return event.is_set()
