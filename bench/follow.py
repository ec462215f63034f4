"""The API's index taking in a new list: how long the event loop is held at a time.

Run: .venv/bin/python bench/follow.py [--entities 19400] [--seed 7]
     PYTHONPATH=<another tree> .venv/bin/python bench/follow.py   (the same on that tree)

The index holds the real lists (UN + Kazakh AFM + OFAC samples, as bench/screen.py loads
them), then takes in a list of `--entities` synthetic entities made of real name parts,
some mutated (bench/screen.py's `synthetic`: new words, as a first load of the real
SDN.XML brings; bench/sync.py's SDN-size file repeats 443 entries and brings none). It is
built as the API builds it (`listd.screening.follow`): `SourceBuild.step` for a slice of
`follow.SLICE` seconds between two turns of the event loop, `seal` in a worker thread. A
screening waits for at most one step at each turn it needs, so the longest steps are what
a sync adds to its latency. Printed, as JSON: the steps before the seal (entities filed,
words interned) and after it (the common words' lookups), each with its count and the
p50, p99 and longest step in ms of CPU (`thread_time`: what another process on the
machine changes least), and the seal's; then the same for a delta of 1 % of the list
amended with new words.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from dataclasses import replace
from typing import Any

import quality
import screen

from listd.collector import no_full_collections
from listd.model import Entity, Name
from listd.screening import ScreeningIndex
from listd.screening import follow as following
from listd.screening.postings import SourceBuild


def steps(build: SourceBuild) -> dict[str, Any]:
    """Run one phase of `build` in slices; each step's CPU ms."""
    out: list[float] = []
    while True:
        start = time.thread_time()
        done = build.step(following.SLICE)
        out.append((time.thread_time() - start) * 1000)
        if done:
            break
    out.sort()
    return {
        "steps": len(out),
        "p50_ms": round(statistics.median(out), 2),
        "p99_ms": round(out[int(len(out) * 0.99)], 2),
        "max_ms": round(out[-1], 2),
        "over_5ms": sum(1 for x in out if x > 5),
        "total_ms": round(sum(out)),
    }


def take_in(index: ScreeningIndex, build: SourceBuild) -> dict[str, Any]:
    before = steps(build)
    start = time.thread_time()
    build.seal()
    seal_ms = (time.thread_time() - start) * 1000
    after = steps(build)
    assert index.install(build)
    return {"filing": before, "seal_ms": round(seal_ms, 1), "common_lookups": after}


def amended(entities: list[Entity], share: float, seed: int) -> list[Entity]:
    rng = random.Random(seed)
    chosen = rng.sample(entities, max(1, int(len(entities) * share)))
    out = []
    for e in chosen:
        words = e.names[0].full.split()
        words[0] = screen.mutate(words[0], rng)
        out.append(replace(e, names=(*e.names, Name(" ".join(words), kind="alias"))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=19_400)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    lists = quality.load_lists()
    index = ScreeningIndex()
    for source, entities in lists.items():
        assert index.install(index.build_source(source, "1", entities).complete())
    made = screen.synthetic(lists, 2 * args.entities, args.seed)[: args.entities]
    changed = amended(made, 0.01, args.seed)
    with no_full_collections():  # as `follow` builds
        first = take_in(index, index.build_source("syn", "1", made))
        delta = take_in(index, index.build_delta("syn", "2", changed, []))
    print(
        json.dumps(
            {
                "entities": len(made),
                "names": sum(len(e.names) for e in made),
                "first_load": first,
                "delta_1pct": delta,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
