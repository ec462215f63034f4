"""Time from "file received" to "delta readable on the stream", as JSON.

Pairs: UN 2025-08-02 -> 2025-11-15 (+123 -2 ~10) and a no-op sync (same content,
new dateGenerated: 2025-11-15 -> 2025-11-20). The clock starts when the bytes are
handed to the sync and stops when a separate reader sees the last delta.

Then the API side: how long an in-memory screening index takes to reach the new version,
patched by the difference (what the API does) and, for comparison, reloaded whole.

Run: .venv/bin/python bench/delta.py [--repeat N] [--cluster]
(LISTD_REDIS_URL, with LISTD_REDIS_CLUSTER=1 for a cluster's node, or an embedded server;
--cluster starts a Redis Cluster of 3 primaries and 3 replicas on loopback instead, as the
tests do, so the figures include the WAIT for a replica after each publication)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from listd import logs
from listd.connection import client
from listd.embedded import EmbeddedRedis
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.screening import ScreeningIndex
from listd.screening.follow import follow
from listd.settings import Settings, SourceConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.cluster_server
from tests.cluster_server import LocalCluster, cluster_binary  # noqa: E402

UN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "un"


def raw(date: str) -> bytes:
    return (UN / f"consolidated-{date}.xml").read_bytes()


async def one_round(url: str, n: int, cluster: bool) -> dict[str, float]:
    redis = client(url, cluster=cluster)
    prefix = f"bench-delta-{os.getpid()}-{n}"
    settings = Settings(
        redis_url=url,
        redis_cluster=cluster,
        key_prefix=prefix,
        sources={"un": SourceConfig("un", "un", url="x")},
    )
    keys = settings.keys
    writer = Store(redis, keys)
    reader = Store(client(url, cluster=cluster), keys)
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
        found = [k async for k in redis.scan_iter(match=keys.pattern())]
        if found:
            await redis.delete(*found)
        await redis.aclose()
        await reader.redis.aclose()


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 1), "max": round(max(values), 1)}


async def main(repeat: int, start_cluster: bool) -> dict[str, object]:
    logs.configure("console", level=logging.WARNING)
    url = os.environ.get("LISTD_REDIS_URL")
    cluster = Settings.from_env(dict(os.environ)).redis_cluster
    embedded = None
    local: LocalCluster | None = None
    tmp = tempfile.TemporaryDirectory()
    if start_cluster:
        binary = cluster_binary()
        assert binary is not None, "no server binary for a cluster"
        local = LocalCluster.start(binary, Path(tmp.name))
        url, cluster = local.url, True
    elif not url:
        embedded = EmbeddedRedis(Path(tmp.name))
        url = embedded.start()
    try:
        rounds = [await one_round(url, n, cluster) for n in range(repeat)]
    finally:
        if embedded:
            embedded.stop()
        if local:
            local.stop()
        tmp.cleanup()
    delta = [r["delta_ms"] for r in rounds]
    noop = [r["noop_ms"] for r in rounds]
    return {
        "server": "cluster (3 primaries + 3 replicas)" if cluster else "single",
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
    parser.add_argument("--cluster", action="store_true", help="start a loopback cluster")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.repeat, args.cluster)), indent=2))
