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

from listd.held import Held

_NEVER = 1 << 30  # young collections between two full ones: in effect none


def _set_threshold(values: tuple[int, int, int]) -> None:
    gc.set_threshold(*values)


no_full_collections = Held(
    gc.get_threshold, _set_threshold, lambda saved: (saved[0], saved[1], _NEVER)
)
"""No full (generation 2) collection until the last of the overlapping holders leaves:
`with no_full_collections(): ...`."""
