"""Time from "file received" to "delta readable on the stream", as JSON.

Pairs: UN 2025-08-02 -> 2025-11-15 (+123 -2 ~10) and a no-op sync (same content,
new dateGenerated: 2025-11-15 -> 2025-11-20). The clock starts when the bytes are
handed to the sync and stops when a separate reader sees the last delta.

Then the API side: how long an in-memory screening index takes to reach the new version,
patched by the difference (what the API does) and, for comparison, reloaded whole.

Run: .venv/bin/python bench/delta.py [--repeat N]   (LISTD_REDIS_URL or an embedded server)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

from listd import logs
from listd.connection import client
from listd.embedded import EmbeddedRedis
from listd.keyspace import Keys
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.screening import ScreeningIndex
from listd.screening.follow import follow
from listd.settings import Settings, SourceConfig

UN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "un"


def raw(date: str) -> bytes:
    return (UN / f"consolidated-{date}.xml").read_bytes()


async def one_round(url: str, n: int) -> dict[str, float]:
    redis = client(url)
    prefix = f"bench-delta-{os.getpid()}-{n}"
    settings = Settings(
        redis_url=url, key_prefix=prefix, sources={"un": SourceConfig("un", "un", url="x")}
    )
    writer = Store(redis, Keys(prefix))
    reader = Store(client(url), Keys(prefix))
    syncer = Syncer(settings, writer)
    try:
        await syncer.sync("un", raw=raw("2025-08-02"))
        before = await reader.last_seq()
        patched, reloaded = ScreeningIndex(), ScreeningIndex()
        for index in (patched, reloaded):
            await follow(reader, index, ["un"])
        body = raw("2025-11-15")
        t0 = time.perf_counter()
        result = await syncer.sync("un", raw=body)
        # Read back by another connection: the deltas are on the stream when sync returns.
        deltas, _ = await reader.read_deltas(before, 1000)
        t1 = time.perf_counter()
        assert len(deltas) == 135 and result.deltas == {"added": 123, "amended": 10, "removed": 2}
        assert (await follow(reader, patched, ["un"])).patched == ["un"]
        t_patch = time.perf_counter()
        entities = await reader.entities("un")
        reloaded.replace_source("un", str(result.version), entities)
        t_reload = time.perf_counter()
        assert patched.entities == reloaded.entities
        noop_body = raw("2025-11-20")
        t2 = time.perf_counter()
        noop = await syncer.sync("un", raw=noop_body)
        t3 = time.perf_counter()
        assert noop.outcome == "unchanged"
        return {
            "delta_ms": (t1 - t0) * 1000,
            "noop_ms": (t3 - t2) * 1000,
            "patch_ms": (t_patch - t1) * 1000,
            "reload_ms": (t_reload - t_patch) * 1000,
        }
    finally:
        keys = [k async for k in redis.scan_iter(match=Keys(prefix).pattern())]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await reader.redis.aclose()


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 1), "max": round(max(values), 1)}


async def main(repeat: int) -> dict[str, object]:
    logs.configure("console", level=logging.WARNING)
    url = os.environ.get("LISTD_REDIS_URL")
    embedded = None
    tmp = tempfile.TemporaryDirectory()
    if not url:
        embedded = EmbeddedRedis(Path(tmp.name))
        url = embedded.start()
    try:
        rounds = [await one_round(url, n) for n in range(repeat)]
    finally:
        if embedded:
            embedded.stop()
        tmp.cleanup()
    delta = [r["delta_ms"] for r in rounds]
    noop = [r["noop_ms"] for r in rounds]
    return {
        "pair": "UN 2025-08-02 -> 2025-11-15 (+123 -2 ~10)",
        "repeat": repeat,
        "file_to_stream_ms": {
            "p50": round(statistics.median(delta), 1),
            "max": round(max(delta), 1),
        },
        "noop_pair": "UN 2025-11-15 -> 2025-11-20 (same content)",
        "noop_sync_ms": {"p50": round(statistics.median(noop), 1), "max": round(max(noop), 1)},
        "note": "includes XSD validation (xmlschema, pure Python) of the 2 MB file",
        "api_index_patch_ms": _summary([r["patch_ms"] for r in rounds]),
        "api_index_reload_whole_ms": _summary([r["reload_ms"] for r in rounds]),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    print(json.dumps(asyncio.run(main(parser.parse_args().repeat)), indent=2))
