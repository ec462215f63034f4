"""The clock business code reads: injected, so tests move time instead of sleeping on it.

Composition roots (`create_app`, `listd.access.wire`, the daemon) take a `Clock` and hand
it down; `SYSTEM_CLOCK` is the real one. Durations of work (log timings) may still use
`time.perf_counter` directly: they decide nothing.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock and monotonic time."""

    def time(self) -> float:
        """Unix time in seconds (expiry, rate-limit windows, journal stamps)."""
        ...

    def now(self) -> dt.datetime:
        """The same instant as an aware UTC datetime."""
        ...

    def monotonic(self) -> float:
        """Seconds that only go forward (timeouts, retry waits)."""
        ...


class SystemClock:
    """The machine's clock."""

    def time(self) -> float:
        return time.time()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK: Clock = SystemClock()  # stateless: safe to share
