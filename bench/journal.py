"""What the journal key and checkpoints cost, as JSON.

Writes N request-sized entries through the API's group-commit writer, unsealed and
sealed (HMAC-SHA256 under the journal key), then times one checkpoint and `verify`
(chain, seals, checkpoint, organisation indexes) over them.

Run: .venv/bin/python bench/journal.py [--entries N]   (LISTD_REDIS_URL or an embedded server)
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
from typing import Any

from servers import redis_url

from listd import logs
from listd.audit import Journal, JournalWriter
from listd.connection import client
from listd.keyspace import Keys
from listd.seal import Checkpointer, Seal

ORGS = [f"bank-{i}" for i in range(20)]


def entry(n: int) -> dict[str, Any]:
    """About the size of a screening request's entry."""
    return {
        "kind": "request",
        "org": ORGS[n % len(ORGS)],
        "user": "u-0123456789ab",
        "name": "screening desk",
        "key": "0123456789ab",
        "via": "key",
        "role": "screener",
        "method": "POST",
        "route": "/v1/screen",
        "path": "/v1/screen",
        "status": 200,
        "outcome": "ok",
        "basis": "onboarding",
        "query": {"name": f"Aamir Ali Chaudhry {n}", "birth_date": "1986"},
        "matches": [{"id": "un:QDi.312", "score": 0.97}],
        "list_versions": {"un": "v17"},
        "ip": "10.0.0.7",
        "request_id": f"r-{n:012d}",
        "ms": 1.4,
    }


async def one(url: str, entries: int, sealed: bool, state: Path) -> dict[str, float]:
    redis = client(url)
    keys = Keys(f"bench-journal-{os.getpid()}-{int(sealed)}")
    seal = Seal(os.urandom(32)) if sealed else None
    journal = Journal(redis, keys, state / "journal", seal)
    writer = JournalWriter(journal, state / "journal" / "spool")
    started = time.perf_counter()
    for wave in range(0, entries, 500):  # 500 requests in flight, as under load
        await asyncio.gather(*(writer.write(entry(n)) for n in range(wave, wave + 500)))
    write_s = time.perf_counter() - started
    out = {"write_entries_per_s": round(entries / write_s)}
    if seal is not None:
        checkpoints = Checkpointer(redis, keys, seal, state / "journal", "bench")
        started = time.perf_counter()
        await checkpoints.write()
        out["checkpoint_ms"] = round((time.perf_counter() - started) * 1000, 1)
    started = time.perf_counter()
    verdict = await journal.verify()
    assert verdict.ok, verdict.problem
    out["verify_entries_per_s"] = round(entries / (time.perf_counter() - started))
    async for key in redis.scan_iter(match=keys.pattern(), count=1000):
        await redis.delete(key)
    await redis.aclose()
    return out


async def main(entries: int) -> dict[str, object]:
    logs.configure("console", level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, redis_url(Path(tmp) / "redis") as url:
        plain = await one(url, entries, False, Path(tmp) / "plain")
        sealed = await one(url, entries, True, Path(tmp) / "sealed")
    return {"entries": entries, "organisations": len(ORGS), "unsealed": plain, "sealed": sealed}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=20_000)
    print(json.dumps(asyncio.run(main(parser.parse_args().entries)), indent=2))
