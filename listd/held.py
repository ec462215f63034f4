"""A process-wide interpreter setting changed while heavy work runs beside the event loop.

The collector's thresholds and the GIL switch interval belong to the process, not to a
thread, and syncs and index builds overlap: the setting is changed when the first holder
enters and restored, as it was then, when the last one leaves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class Held(Generic[T]):
    """`read` the setting, `write` it; `change(saved)` is the value while held."""

    def __init__(
        self, read: Callable[[], T], write: Callable[[T], object], change: Callable[[T], T]
    ) -> None:
        self._read, self._write, self._change = read, write, change
        self._lock = threading.Lock()
        self._count = 0
        self._saved = read()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._count == 0:
                self._saved = self._read()
                self._write(self._change(self._saved))
            self._count += 1
        try:
            yield
        finally:
            with self._lock:
                self._count -= 1
                if self._count == 0:
                    self._write(self._saved)
