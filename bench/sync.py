"""Time to validate, parse (+normalise) and store the newest UN file, and peak memory, as JSON.

Run: .venv/bin/python bench/sync.py [PATH]   (uses LISTD_REDIS_URL or an embedded server)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from listd import logs
from listd.connection import client
from listd.embedded import EmbeddedRedis
from listd.keys import Keys
from listd.normalize import normalize_entity
from listd.scrapers import scraper
from listd.settings import Settings, SourceConfig
from listd.store import Store
from listd.sync import Syncer

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DEFAULT = DATA / "un" / "consolidated-2026-05-08.xml"


async def main(path: Path) -> dict[str, object]:
    logs.configure("console", level=logging.WARNING)
    raw = path.read_bytes()
    un = scraper("un")
    t0 = time.perf_counter()
    un.validate(raw)
    t1 = time.perf_counter()
    entities = [normalize_entity(e) for e in un.parse(raw)]
    t2 = time.perf_counter()
    # Memory is measured in a second pass: tracemalloc slows xmlschema ten-fold.
    tracemalloc.start()
    un.validate(raw)
    again = [normalize_entity(e) for e in un.parse(raw)]
    _, peak_parse = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del again

    embedded = None
    url = os.environ.get("LISTD_REDIS_URL")
    tmp = tempfile.TemporaryDirectory()
    if not url:
        embedded = EmbeddedRedis(Path(tmp.name))
        url = embedded.start()
    redis = client(url)
    prefix = f"bench-{os.getpid()}"
    store = Store(redis, Keys(prefix))
    try:
        t3 = time.perf_counter()
        snapshot = await store.write_snapshot("un", entities)
        await store.activate("un", snapshot, expected=None, state={})
        t4 = time.perf_counter()
        # The whole path as a sync runs it (validate + parse + normalise + store), from scratch.
        settings = Settings(
            redis_url=url, key_prefix=prefix + "-full", sources={"un": SourceConfig("un", "un")}
        )
        t5 = time.perf_counter()
        await Syncer(settings, Store(redis, Keys(prefix + "-full"))).sync("un", raw=raw)
        t6 = time.perf_counter()
    finally:
        for p in (prefix, prefix + "-full"):
            keys = [k async for k in redis.scan_iter(match=Keys(p).pattern())]
            if keys:
                await redis.delete(*keys)
        await redis.aclose()
        if embedded:
            embedded.stop()
        tmp.cleanup()
    return {
        "file": path.name,
        "bytes": len(raw),
        "entities": len(entities),
        "validate_s": round(t1 - t0, 3),
        "parse_normalise_s": round(t2 - t1, 3),
        "store_s": round(t4 - t3, 3),
        "full_sync_s": round(t6 - t5, 3),
        "peak_python_alloc_mb_validate_parse": round(peak_parse / 2**20, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    print(json.dumps(asyncio.run(main(target)), indent=2))
