"""Hold off the cyclic garbage collector's full collections while a large, acyclic
structure is built: a sync's parsed list, a new screening index.

A full collection walks every tracked object, holding the GIL. A sync of an SDN.XML-size
list keeps a million (entities, names, tuples, dicts) alive that form no cycles and are
freed by reference counting; Python runs a full collection each time the survivors grow
by a quarter, so the growing list meets a dozen of them, each a 0.2-0.6 s pause, in
whichever thread allocates: from the parse's worker thread the event loop waits on the
GIL all that time. Young collections go on (the short-lived cycles of requests are still
freed); the full ones resume when the last holder leaves, when that structure is freed
(a sync's) or frozen (`screening.index.freeze_long_lived`).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_NEVER = 1 << 30  # young collections between two full ones: in effect none


class _Holders:
    """How many hold full collections off: process-wide, as the collector is."""

    lock = threading.Lock()
    count = 0
    saved = gc.get_threshold()


@contextmanager
def no_full_collections() -> Iterator[None]:
    """No full (generation 2) collection until the last of the overlapping holders leaves."""
    with _Holders.lock:
        if _Holders.count == 0:
            _Holders.saved = gc.get_threshold()
            young, middle, _ = _Holders.saved
            gc.set_threshold(young, middle, _NEVER)
        _Holders.count += 1
    try:
        yield
    finally:
        with _Holders.lock:
            _Holders.count -= 1
            if _Holders.count == 0:
                gc.set_threshold(*_Holders.saved)
