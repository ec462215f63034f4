"""Helpers the test packages share: request headers, waiting for a condition, a fake clock,
a bench script loaded as a module."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType


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


class FakeClock:
    """A `listd.clock.Clock` that moves only when told (`advance`), so tests of expiry
    and rate-limit windows never sleep. It starts one second into the current minute
    (the rate limits count per clock minute), near the real time so stamps stay plausible."""

    def __init__(self, start: float | None = None) -> None:
        self.t = float(start if start is not None else time.time() // 60 * 60 + 1)
        self.mono = 1000.0

    def time(self) -> float:
        return self.t

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.t, dt.UTC)

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self.mono += seconds


def load_bench(name: str) -> ModuleType:
    """bench/`name`.py as a module (bench/ is no package: its scripts run as files)."""
    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
