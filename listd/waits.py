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
from collections.abc import Coroutine
from typing import Any


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


class Aside:
    """One task at a time beside a loop (a snapshot being encoded and written while the
    loop goes on). `running` tells the loop whether to wait before starting another, and
    raises the error the last one ended with, as if the loop had run it in line; `stop`
    cancels the one running when the loop ends."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def running(self) -> bool:
        task = self._task
        if task is None:
            return False
        if not task.done():
            return True
        self._task = None
        task.result()
        return False

    def start(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self._task = asyncio.create_task(work, name=name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
