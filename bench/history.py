"""CPU cost of `GET /v1/entities/{id}/history` with a long delta stream, as JSON.

Fills the stream with real deltas (UN 2026-02-27 and 2026-05-08 synced alternately:
about 650 deltas a sync, most of them amendments of the same entities), then asks for
the history of an entity that changed once long ago (the worst case for a scan from
the newest end) and of one that changes in every sync. Reports this process's CPU
seconds per call (the API runs in-process; Redis's own time is not included) and the
wall time.

Run: .venv/bin/python bench/history.py [--syncs 30] [--calls 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer
from servers import redis_url

from listd import logs
from listd.access import KeyStore
from listd.api import create_app
from listd.api.state import READY
from listd.connection import client
from listd.keyspace import Keys
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings, SourceConfig

UN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "un"
FILES = ("2026-02-27", "2026-05-08")
OLD = "un:SDi.007"  # added once (2025-11-20 -> 2026-02-27), never amended since
BUSY = "un:QDi.001"  # amended by every sync between the two files


async def run(url: str, syncs: int, calls: int) -> dict[str, object]:
    prefix = f"bench-history-{os.getpid()}"
    un = SourceConfig("un", "un", url="http://127.0.0.1:9/unused", max_removed_ratio=1.0)
    settings = Settings(redis_url=url, key_prefix=prefix, sources={"un": un})
    redis = client(url)
    store = Store(redis, Keys(prefix))
    syncer = Syncer(settings, store)
    await syncer.sync("un", raw=(UN / "consolidated-2025-11-20.xml").read_bytes())
    for n in range(syncs):
        await syncer.sync("un", raw=(UN / f"consolidated-{FILES[n % 2]}.xml").read_bytes())
    deltas = await store.last_seq()
    keystore = KeyStore(redis, Keys(prefix))
    key = await keystore.create("bench", "screener")
    await keystore.accept_agreement(key)
    app = create_app(settings, client(url), refresh_seconds=3600)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    await app[READY].wait()  # the screening index's initial load is not the history's cost
    out: dict[str, object] = {"deltas_in_stream": deltas, "calls": calls}
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
            for label, entity in (("old_entity", OLD), ("busy_entity", BUSY)):
                url_ = server.make_url(f"/v1/entities/{entity}/history?basis=periodic_review")
                async with http.get(url_) as resp:  # warm-up, and the answer's shape
                    body = await resp.json()
                    assert resp.status == 200, body
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(calls):
                    async with http.get(url_) as resp:
                        await resp.read()
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                out[label] = {
                    "entity": entity,
                    "rows": len(body["history"]),
                    "complete": body["complete"],
                    "cpu_s_per_call": round(cpu / calls, 4),
                    "wall_s_per_call": round(wall / calls, 4),
                }
    finally:
        await server.close()
        keys = [k async for k in redis.scan_iter(match=Keys(prefix).pattern(), count=1000)]
        for start in range(0, len(keys), 1000):
            await redis.delete(*keys[start : start + 1000])
        await redis.aclose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--syncs", type=int, default=30)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    logs.configure("console")
    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp, redis_url(Path(tmp)) as url:
        result = asyncio.run(run(url, args.syncs, args.calls))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
