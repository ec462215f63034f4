"""Short GIL turns while a sync or an index build runs beside the event loop.

A worker thread running Python (reading the parsing children's answers, the delta plan,
the deltas, decoding a version for the index) holds the GIL until the interpreter's switch
interval (5 ms) runs out whenever the event loop wants it back. The loop gives the GIL up at
every system call (each socket read and write, each Redis round trip), so a screening
request that makes ten of them waited 5 ms ten times: 50 ms, while the loop's own lateness,
one wait per turn, showed 5-8 ms. With 0.5 ms turns the request waits a tenth of that; the
thread's work costs a few more switches. Process-wide, as the interval is: set while the
first holder is inside, restored when the last leaves.
"""

from __future__ import annotations

import sys

from listd.held import Held

SWITCH_S = 0.0005  # the interval while held; CPython's default is 0.005

short_turns = Held(sys.getswitchinterval, sys.setswitchinterval, lambda saved: min(SWITCH_S, saved))
"""The GIL switch interval at SWITCH_S (if longer) until the last overlapping holder leaves:
`with short_turns(): ...`."""
