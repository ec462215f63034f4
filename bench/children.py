"""What a sync's parsing children cost: one child's CPU, and a UN parse's wall time.

Run: .venv/bin/python bench/children.py [--repeat N]

1. Validating and parsing the real UN file (`ingest.process`, two children) with children
   started for it, against children started ahead and waiting (`encode.replenish`), the two
   alternated.
2. One parsing child's share of two (`listd.scrapers.encode.run`, in this process), on the
   SDN.XML-size and Enhanced-size files `bench/sync.py` generates: reading every record of
   the whole document to take every other one, against reading the head and its own run of
   records (`record_cuts`). CPU seconds, which the machine's load hardly moves.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

import sync as bench_sync  # noqa: E402 - bench/sync.py, beside this file

from listd.pipeline.ingest import process  # noqa: E402
from listd.scrapers import encode, scraper  # noqa: E402


def child_cpu(raw: bytes, cut: bool) -> float:
    """CPU seconds of share 0 of 2, parsed as a child does (its output dropped)."""
    cuts = scraper("ofac").record_cuts(raw, 2) if cut else None
    assert cut == (cuts is not None)
    started = time.process_time()
    encode.run(raw, len, "ofac", "ofac", 0, 2, ",".join(map(str, cuts or ())))
    return time.process_time() - started


def un_wall(raw: bytes, ahead: bool) -> float:
    encode.stop_waiting()
    if ahead:
        encode.replenish()
        time.sleep(1.5)  # the children's imports, before the sync
    started = time.perf_counter()
    process(scraper("un"), raw, "un")
    elapsed = time.perf_counter() - started
    encode.stop_waiting()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    # The UN first: encode.run lowers this process's CPU priority, as a child's.
    raw = bench_sync.UN_FILE.read_bytes()
    process(scraper("un"), raw, "un")  # the imports and the schema, once
    walls: dict[str, list[float]] = {"started for it": [], "waiting": []}
    for _ in range(args.repeat * 2):
        walls["started for it"].append(un_wall(raw, ahead=False))
        walls["waiting"].append(un_wall(raw, ahead=True))
    for how, seconds in walls.items():
        shown = ", ".join(f"{s:.2f}" for s in seconds)
        median = statistics.median(seconds)
        print(f"UN validate + parse, children {how}: median {median:.3f} s ({shown})")
    files = {
        "SDN.XML-size": bench_sync.sdn_list(19_400, "09/18/2026"),
        "Enhanced-size": bench_sync.enhanced(110_000_000),
    }
    for name, raw in files.items():
        runs: dict[str, list[float]] = {"whole document": [], "own run": []}
        for _ in range(args.repeat):
            runs["whole document"].append(child_cpu(raw, cut=False))
            runs["own run"].append(child_cpu(raw, cut=True))
        for how, seconds in runs.items():
            shown = ", ".join(f"{s:.2f}" for s in seconds)
            print(f"{name}, one child of two, {how}: CPU s {shown}")


if __name__ == "__main__":
    main()
