"""A dispatcher worker's customer lookup of a new delta, timed as a running worker runs it.

One process holds two customer indexes on one shared vocabulary, as a worker holds its
partitions' index and its slices' index (bench/customers.py customers, seeds 0 and 1).
An earlier UN delta (2025-04-19 -> 2025-08-02) is looked up in both first, to warm what
a worker that has served earlier deltas has warm (imports, the screening module's
caches); then the UN delta 2025-08-02 -> 2025-11-15 (added and amended designations)
with a fresh `Prepared`, as a worker's first lookup of a delta: in the first index, then
in the second sharing that `Prepared`. Prints JSON: each lookup's CPU seconds (this
thread's, `time.thread_time`: steadier on a busy machine) and wall seconds, and the
(subscription, customer, designation) triples shortlisted, which a change that only makes
the lookup cheaper leaves as they are.

The indexes are built from records once and kept as snapshots in --cache (named by the
digest of the code that reads names: another tree's code builds its own; with --any-code
one pair of snapshots serves every tree); listd is imported from PYTHONPATH, so that one
script times two trees:

  PYTHONPATH=/path/to/tree .venv/bin/python bench/delta_lookup.py --customers 1000000 \
      [--cache /tmp/delta-lookup] [--profile out.prof] [--repeat 3]

--repeat R looks the new delta up R times (each with a fresh `Prepared`): the runs after
the first find the screening module's own caches warm with its names, which a worker's
first lookup of a new delta does not (the first run is the figure). --profile P writes
the cProfile of the first run's lookups to P.partitions and P.slices.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import time
from pathlib import Path
from typing import Any

from customers import customers

import listd
from listd.model import Entity
from listd.notifications import snapshot
from listd.notifications.customers import (
    CustomerIndex,
    CustomerVocabulary,
    Prepared,
    record_check,
)
from listd.notifications.subscriptions import DEFAULT_THRESHOLD
from listd.notifications.watchlist import Customer
from listd.pipeline import delta
from listd.pipeline.ingest import process
from listd.scrapers import scraper
from listd.screening.evidence import MAX_BONUS_BIRTH, MAX_BONUS_NATIONALITY
from listd.screening.postings import freeze_long_lived, no_cyclic_gc

UN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "un"
EARLIER = ("2025-04-19", "2025-08-02")
NEW = ("2025-08-02", "2025-11-15")
CUTOFF = DEFAULT_THRESHOLD - MAX_BONUS_BIRTH - MAX_BONUS_NATIONALITY


def designations(dates: tuple[str, str]) -> list[Entity]:
    """The added and amended designations of the UN delta between two dates."""
    before, after = (
        process(scraper("un"), (UN / f"consolidated-{d}.xml").read_bytes(), "un") for d in dates
    )
    plan = delta.plan(before.hashes, after.hashes)
    listed = {e.id: e for e in after.entities}
    return [listed[i] for i in [*plan.added, *plan.amended]]


def index(seed: int, count: int, vocab: CustomerVocabulary, cache: Path) -> CustomerIndex:
    """`count` customers of `seed` on `vocab`: from a snapshot this code wrote, or built
    from records (and the snapshot written)."""
    path = cache / f"{snapshot.rules()}-{seed}-{count}.snapshot"
    with no_cyclic_gc():
        if path.exists():
            return CustomerIndex.load(path.read_bytes(), vocab)
        built = CustomerIndex(vocab)
        for customer in customers(seed, count, prefix=f"S{seed}-"):
            built.put(f"s{seed}", customer, record_check(customer.to_json()))
        cache.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".part").write_bytes(built.dump())
        path.with_suffix(".part").rename(path)
        return built


def count(found: dict[str, dict[str, set[str]]]) -> int:
    return sum(len(ids) for refs in found.values() for ids in refs.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--cache", default="/tmp/delta-lookup")
    parser.add_argument("--profile", help="the first timed run's cProfile, to this file")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--any-code",
        action="store_true",
        help="snapshots kept whatever code wrote them: for changes that leave how names "
        "are read as they are (the candidates printed tell)",
    )
    args = parser.parse_args()
    if args.any_code:
        snapshot.rules = lambda: "any-code"  # type: ignore[assignment]
    vocab = CustomerVocabulary()
    started = time.perf_counter()
    indexes = [index(seed, args.customers, vocab, Path(args.cache)) for seed in (0, 1)]
    out: dict[str, Any] = {
        "listd": str(Path(listd.__file__).parents[1]),
        "customers": [len(i) for i in indexes],
        "indexes_ready_s": round(time.perf_counter() - started, 1),
    }
    earlier, new = designations(EARLIER), designations(NEW)
    # Customers who are some of the new designations, in each index: as listed in the
    # first, one letter changed in the second (a shortlist that is not empty).
    for n, entity in enumerate(new[::3]):
        name = entity.names[0].full
        kind = "person" if entity.schema == "person" else "entity"
        indexes[0].put("p", Customer(f"P{n}", name, type=kind))
        typo = name[:-1] + ("a" if name[-1:] != "a" else "e")
        indexes[1].put("p", Customer(f"P{n}", typo, type=kind))
    out["designations"] = {"earlier": len(earlier), "new": len(new)}
    freeze_long_lived()  # as the dispatcher does once an index is built
    warm = Prepared(vocab)
    for i in indexes:
        i.candidates(earlier, CUTOFF, prepared=warm)
    runs: list[dict[str, float]] = []
    shortlisted: list[int] | None = None
    for run in range(args.repeat):
        prepared = Prepared(vocab)
        row: dict[str, float] = {}
        found = []
        for label, i in zip(("partitions", "slices"), indexes, strict=True):
            profile = cProfile.Profile() if args.profile and not run else None
            gc.collect()
            started, cpu = time.perf_counter(), time.thread_time()
            if profile is not None:
                profile.enable()
            found.append(count(i.candidates(new, CUTOFF, prepared=prepared)))
            if profile is not None:
                profile.disable()
            row[f"{label}_cpu_s"] = round(time.thread_time() - cpu, 3)
            row[f"{label}_s"] = round(time.perf_counter() - started, 3)
            if profile is not None:
                profile.dump_stats(f"{args.profile}.{label}")
        row["cpu_s"] = round(row["partitions_cpu_s"] + row["slices_cpu_s"], 3)
        runs.append(row)
        if shortlisted is None:
            shortlisted = found
        assert found == shortlisted, (found, shortlisted)
    out["runs"] = runs
    out["new_delta_cpu_s"] = runs[0]["cpu_s"]  # the figure: see --repeat
    out["candidates"] = shortlisted
    out["load_average"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
