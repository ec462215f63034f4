"""Helpers the test packages share: request headers and waiting for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


def auth(key: str) -> dict[str, str]:
    """The header that presents API key `key`."""
    return {"Authorization": f"Bearer {key}"}


async def until(
    check: Callable[[], Awaitable[bool]], seconds: float = 60.0, what: str = ""
) -> float:
    """Wait for `check` (polled every 50 ms); returns the seconds it took."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"timed out after {seconds} s waiting for {what or check}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def eventually(check: Callable[[], bool], seconds: float = 15.0, what: str = "") -> None:
    """`until` for a check that needs no Redis round trip (state in this process)."""

    async def checked() -> bool:
        return check()

    await until(checked, seconds, what)
