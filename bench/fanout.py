"""The scripts one partition's fan-out sends for a list's delta, as JSON.

The UN 2025-08-02 -> 2025-11-15 delta is 135 deltas (+123 ~10 -2). For a partition whose
subscriptions hear none of them (most partitions, for most deltas), the fan-out used to
send one cursor-guarded script per delta; now the deltas raising nothing ride along with
the next script, so it sends one. Both shapes are timed here in the same run, on the same
server, with the same script (`outbox.Batch`): the round trip of the pipeline as the
dispatcher sends it (best and median of --repeat).

Run: .venv/bin/python bench/fanout.py [--repeat 20]
(LISTD_REDIS_URL, or an embedded server)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis
from servers import redis_url

from listd.connection import client
from listd.keyspace import Keys
from listd.notifications.outbox import Batch

DELTAS = 135  # UN 2025-08-02 -> 2025-11-15 (docs/../shared/data/SOURCES.md)


async def pipeline(redis: Redis, keys: Keys, scripts: int) -> float:
    """Seconds for one pipeline advancing partition 0's cursor over DELTAS deltas in
    `scripts` cursor-guarded scripts."""
    cursor = keys.partition_cursor(0)
    await redis.set(cursor, 0)
    steps = [DELTAS * (n + 1) // scripts for n in range(scripts)]
    started = time.perf_counter()
    async with redis.pipeline(transaction=False) as pipe:
        after = 0
        for seq in steps:
            batch = Batch(keys.partition_lease(0))
            batch.advance(cursor, seq, after)
            after = seq
            batch.queue(pipe)
        replies = await pipe.execute(raise_on_error=False)
    elapsed = time.perf_counter() - started
    assert all(Batch.result(r) == 0 for r in replies) and int(await redis.get(cursor)) == DELTAS
    return elapsed


async def bench(url: str, repeat: int) -> dict[str, object]:
    redis = client(url)
    keys = Keys(f"bench-fanout-{os.getpid()}")
    out: dict[str, object] = {"deltas": DELTAS, "repeat": repeat}
    try:
        timed: dict[int, list[float]] = {DELTAS: [], 1: []}
        for _ in range(repeat):
            for scripts in timed:  # interleaved: both see the same load
                timed[scripts].append(await pipeline(redis, keys, scripts))
        for scripts, label in ((DELTAS, "before_one_script_per_delta"), (1, "now_one_script")):
            out[label] = {
                "scripts": scripts,
                "best_ms": round(min(timed[scripts]) * 1000, 2),
                "median_ms": round(statistics.median(timed[scripts]) * 1000, 2),
            }
        out["ratio_median"] = round(
            statistics.median(timed[DELTAS]) / statistics.median(timed[1]), 1
        )
        await redis.delete(keys.partition_cursor(0))
    finally:
        await redis.aclose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name, redis_url(Path(name) / "redis") as url:
        result = asyncio.run(bench(url, args.repeat))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
