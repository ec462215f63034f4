"""`python -m listd.scrapers.check KIND`: validate the document on stdin, in a process of its own.

The sync runs this for large lists so that the whole-document tree the schema check needs
(about six times the file) lives and dies in a short-lived process, never in the daemon. It
prints one JSON line: {"seconds": ..., "cpu": ..., "refused": null}, or with the
ValidationFailed as data ({"message": ..., detail...}), since an exception's details do not
cross a process boundary; "cpu" is the CPU seconds of the whole process (its start and
imports too), what the check costs whatever the machine's load.
A plain subprocess, not multiprocessing: a spawned child would re-import the daemon's
`__main__` (the CLI) before doing anything.
"""

from __future__ import annotations

import json
import os
import sys
import time

from listd.errors import ValidationFailed
from listd.scrapers import scraper
from listd.scrapers.encode import lower_priority


def main(kind: str) -> int:
    raw = sys.stdin.buffer.read()
    lower_priority(len(raw))
    started = time.perf_counter()
    refused: dict[str, object] | None = None
    try:
        scraper(kind).validate_fast(raw)
    except ValidationFailed as exc:
        refused = {"message": exc.message, **exc.detail}
    seconds = time.perf_counter() - started
    answer = {"seconds": seconds, "cpu": time.process_time(), "refused": refused}
    print(json.dumps(answer, default=str))
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1])
    sys.stdout.flush()
    # Out at once, without the interpreter's teardown: for an SDN.XML-size list it took 0.06-0.2
    # of the check's 0.65-0.8 CPU s, after its answer, and the sync waits for the exit.
    os._exit(code)
