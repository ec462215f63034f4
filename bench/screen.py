"""Screening speed, as JSON: in-process latency, index size, HTTP throughput, batch rate.

Run: .venv/bin/python bench/screen.py [--sizes 100000,1000000] [--queries 1000] [--no-http]

Figures, all measured in this one run on this machine:
* one query against the real lists (UN + Kazakh AFM + OFAC samples): p50/p99 latency of
  `ScreeningIndex.screen`, cold (every query-time cache emptied before every query: token
  lookups and initials; what the index computes at load, such as the lookups of its most
  common words, stays, as a new process has it) and warm (caches kept from query to query
  through one pass over the queries, starting empty),
  beside the brute-force baseline (rapidfuzz token_sort/token_set over every folded list
  name, the previous matcher) and the exhaustive reference (our scorer on every name);
* the same with synthetic names (real name parts recombined and mutated, so the vocabulary
  grows too) added up to 100,000 and 1,000,000 names, with index memory per million names
  and the check that the index loses no match the exhaustive scorer finds, and the time to
  patch in a delta of the synthetic source (100 entities amended, 10 removed);
* HTTP: the real aiohttp app (embedded Redis, API key auth) pinned to one core, a
  keep-alive client with 32 concurrent requests on the other core: screens/s and p99;
* batch: `screen_many` names per second.

The machine has 2 cores shared with other work: treat every figure as noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import quality
from rapidfuzz import fuzz, process

from listd.model import Entity, Name
from listd.normalize import fold
from listd.screening import Query, ScreeningIndex


def progress(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:  # e.g. --exhaustive 0: nothing was timed
        return {"n": 0}
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
        "n": len(ordered),
    }


def queries_from(cases: Sequence[quality.Case], n: int, seed: int) -> list[Query]:
    rng = random.Random(seed)
    chosen = rng.sample(list(cases), min(n, len(cases)))
    return [Query(c.name, type=c.type) for c in chosen if not c.cross_script]


def time_index(index: ScreeningIndex, queries: Sequence[Query], *, cold: bool) -> dict[str, Any]:
    samples = []
    cpu = []
    for q in queries:
        if cold:
            index.clear_caches()  # every query pays its own token lookups
        t, c = time.perf_counter(), time.thread_time()
        index.screen(q)
        samples.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    # CPU time beside wall time: on a machine shared with other work, wall time also
    # counts the moments this process waited for a core.
    return {**percentiles(samples), "cpu": percentiles(cpu)}


def compare_unpruned(index: ScreeningIndex, queries: Sequence[Query]) -> dict[str, Any]:
    """Index vs the same candidates without the count filter and the per-name bound, on
    every timed query (exhaustive scoring is too slow for that many at a million names)."""
    differ = [
        q.name
        for q in queries
        if [(m.entity.id, m.score) for m in index.screen(q)]
        != [(m.entity.id, m.score) for m in index.screen_unpruned(q)]
    ]
    return {"queries": len(queries), "answers_differ": len(differ), "differing": differ[:10]}


class BruteForce:
    """The previous matcher: rapidfuzz over every folded list name, no index."""

    def __init__(self, index: ScreeningIndex) -> None:
        self.names = sorted({fold(n.full) for e in index.entities.values() for n in e.names})

    def screen(self, query: Query) -> int:
        folded = fold(query.name)
        hits = process.extract(
            folded, self.names, scorer=fuzz.token_sort_ratio, processor=None, limit=None,
            score_cutoff=70,
        )  # fmt: skip
        if len(folded.split()) > 1:
            hits += process.extract(
                folded, self.names, scorer=fuzz.token_set_ratio, processor=None, limit=None,
                score_cutoff=76,
            )  # fmt: skip
        return len(hits)


def time_brute(brute: BruteForce, queries: Sequence[Query]) -> dict[str, Any]:
    samples = []
    for q in queries:
        t = time.perf_counter()
        brute.screen(q)
        samples.append(time.perf_counter() - t)
    return percentiles(samples)


def compare_exhaustive(
    index: ScreeningIndex, cases: Sequence[quality.Case], n: int, seed: int
) -> dict[str, Any]:
    """Index vs exhaustive scoring: identical answers, and no labelled target lost."""
    rng = random.Random(seed)
    chosen = rng.sample([c for c in cases if not c.cross_script], n)
    differ = lost = found_exhaustive = 0
    samples = []
    for case in chosen:
        q = Query(case.name, type=case.type)
        t = time.perf_counter()
        full = index.screen_exhaustive(q)
        samples.append(time.perf_counter() - t)
        fast = index.screen(q)
        if [(m.entity.id, m.score) for m in fast] != [(m.entity.id, m.score) for m in full]:
            differ += 1
        if case.target and any(m.entity.id == case.target for m in full):
            found_exhaustive += 1
            lost += not any(m.entity.id == case.target for m in fast)
    return {
        "queries": len(chosen),
        "answers_differ": differ,
        "targets_found_by_exhaustive": found_exhaustive,
        "targets_lost_by_index": lost,
        "exhaustive_latency": percentiles(samples),
    }


# --- synthetic names -------------------------------------------------------------------


def synthetic(lists: dict[str, list[Entity]], n_names: int, seed: int) -> list[Entity]:
    """Listed-looking entities made of real name parts, some mutated (new vocabulary)."""
    rng = random.Random(seed)
    latin: list[str] = []
    cyrillic: list[str] = []
    firms: list[str] = []
    for entities in lists.values():
        for e in entities:
            for n in e.names:
                words = quality.parts(n.full)
                if e.schema != "person":
                    firms.extend(words)
                elif quality.is_cyrillic(n.full):
                    cyrillic.extend(words)
                elif not quality.is_arabic(n.full):
                    latin.extend(words)
    out: list[Entity] = []
    made = 0
    while made < n_names:
        roll = rng.random()
        pool = latin if roll < 0.55 else cyrillic if roll < 0.9 else firms
        size = rng.choice((2, 3, 3, 4)) if pool is not firms else rng.choice((2, 3, 4, 5))
        words = [rng.choice(pool) for _ in range(size)]
        if rng.random() < 0.5:
            i = rng.randrange(size)
            words[i] = mutate(words[i], rng)
        names = [Name(" ".join(words), kind="primary")]
        for _ in range(rng.choice((0, 0, 1, 2))):
            alias = list(words)
            rng.shuffle(alias)
            if rng.random() < 0.5:
                j = rng.randrange(size)
                alias[j] = mutate(alias[j], rng)
            names.append(Name(" ".join(alias), kind="alias"))
        made += len(names)
        i = len(out)
        out.append(
            Entity(
                id=f"syn:{i}",
                source="syn",
                schema="entity" if pool is firms else "person",
                reference=str(i),
                names=tuple(names),
            )
        )
    return out


def mutate(word: str, rng: random.Random) -> str:
    cyr = quality.is_cyrillic(word)
    letters = "абвгдежзиклмнопрстуфхцшқұүәө" if cyr else "abcdefghijklmnoprstuvyz"
    if len(word) > 3 and rng.random() < 0.7:
        k = rng.randrange(1, len(word) - 1)
        return word[:k] + rng.choice(letters) + word[k + 1 :]
    suffix = rng.choice(("ов", "ев", "бек", "улы", "ин") if cyr else ("ov", "i", "bek", "ullah"))
    return word + suffix


# --- HTTP --------------------------------------------------------------------------------


def serve(port: int, redis_url: str, prefix: str) -> None:
    """Child process: the real API on one core, index loaded with the real lists."""
    from aiohttp import web

    from listd.api import create_app
    from listd.api.state import INDEX
    from listd.connection import client
    from listd.settings import Settings, SourceConfig

    os.sched_setaffinity(0, {0})
    settings = Settings(
        redis_url=redis_url, key_prefix=prefix, sources={"un": SourceConfig("un", "un")}
    )
    if hasattr(settings, "rate_limit"):
        settings = replace(settings, rate_limit=0)  # a throughput bench, not a tenant
    app = create_app(settings, client(redis_url), refresh_seconds=3600)
    index = app[INDEX]
    for source, entities in quality.load_lists().items():
        index.replace_source(source, "bench", entities)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


_BODY = {"basis": "onboarding"}  # every screening states its legal ground


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _client(
    port: int, key: str, names: Sequence[str], seconds: float, concurrency: int, server: int
) -> dict[str, Any]:
    import aiohttp

    url = f"http://127.0.0.1:{port}/v1/screen"
    headers = {"Authorization": f"Bearer {key}"}
    samples: list[float] = []
    statuses: Counter[int] = Counter()
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency), headers=headers
    ) as session:
        # Warm up until the server answers (and the index is loaded: 200, not 503).
        for _ in range(600):
            try:
                async with session.post(url, json={**_BODY, "name": "warm up"}) as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        end = time.perf_counter() + seconds
        counter = iter(range(10**9))

        async def worker() -> None:
            while time.perf_counter() < end:
                name = names[next(counter) % len(names)]
                t = time.perf_counter()
                async with session.post(url, json={**_BODY, "name": name}) as resp:
                    await resp.read()
                    statuses[resp.status] += 1
                samples.append(time.perf_counter() - t)

        started = time.perf_counter()
        cpu, mine = cpu_seconds(server), cpu_seconds(os.getpid())
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu, mine = cpu_seconds(server) - cpu, cpu_seconds(os.getpid()) - mine
    return {
        "screens_per_second": round(len(samples) / elapsed, 1),
        # What one core would serve if the server had it to itself: the figure that
        # survives a machine shared with other work (wall-clock rate does not).
        "screens_per_server_cpu_second": round(len(samples) / cpu, 1) if cpu else None,
        "server_cpu_share": round(cpu / elapsed, 2),
        "client_cpu_share": round(mine / elapsed, 2),
        "requests": len(samples),
        "errors": sum(n for status, n in statuses.items() if status != 200),
        "statuses": dict(statuses),
        "concurrency": concurrency,
        "latency_under_load": percentiles(samples),
    }


def http_bench(names: Sequence[str], seconds: float = 10.0) -> dict[str, Any]:
    from listd.access import KeyStore
    from listd.connection import client
    from listd.embedded import EmbeddedRedis
    from listd.keyspace import Keys

    with tempfile.TemporaryDirectory() as tmp:
        redis_server = EmbeddedRedis(Path(tmp))
        url = redis_server.start()
        prefix = f"bench-http-{os.getpid()}"
        port = 18000 + os.getpid() % 1000

        async def make_key() -> str:
            redis = client(url)
            keystore = KeyStore(redis, Keys(prefix))
            key = await keystore.create("bench", "screener")
            if hasattr(keystore, "accept_agreement"):  # keys must accept the terms of use
                await keystore.accept_agreement(key)
            await redis.aclose()
            return key

        key = asyncio.run(make_key())
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), url, prefix],
            stdout=subprocess.DEVNULL,
        )
        try:
            os.sched_setaffinity(0, {1})
            return asyncio.run(_client(port, key, names, seconds, 32, child.pid))
        finally:
            os.sched_setaffinity(0, {0, 1})
            child.terminate()
            child.wait(timeout=10)
            redis_server.stop()


# --- main ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    import structlog

    # Log lines (embedded Redis start/stop) go to stderr: stdout is the JSON.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--exhaustive", type=int, default=200)
    parser.add_argument("--exhaustive-large", type=int, default=30)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "load": os.getloadavg()}}

    progress("loading lists")
    lists = quality.load_lists()
    cases, _ = quality.labelled_set(lists, args.seed, 250)
    queries = queries_from(cases, args.queries, args.seed)
    index = ScreeningIndex()
    t = time.perf_counter()
    for source, entities in sorted(lists.items()):
        index.replace_source(source, "bench", entities)
    build_real = time.perf_counter() - t
    t = time.perf_counter()
    index.replace_source("un", "again", lists["un"])
    rebuild_un = time.perf_counter() - t
    brute = BruteForce(index)
    out["real_lists"] = {
        "entities": len(index),
        "names": index.name_count,
        "first_build_s": round(build_real, 2),
        "rebuild_un_s": round(rebuild_un, 3),
        "index_cold": time_index(index, queries, cold=True),
        "index_warm": time_index(index, queries, cold=False),
        "brute_force_rapidfuzz": time_brute(brute, queries),
        "vs_exhaustive": compare_exhaustive(index, cases, args.exhaustive, args.seed),
        "vs_unpruned": compare_unpruned(index, queries),
    }
    batch = [q for _ in range(10) for q in queries][:10_000]
    t = time.perf_counter()
    index.screen_many(batch)
    out["real_lists"]["batch_names_per_second"] = round(len(batch) / (time.perf_counter() - t))

    if not args.no_http:
        progress("http")
        names = [q.name for q in queries]
        out["http_one_core"] = http_bench(names)

    for size in [int(s) for s in args.sizes.split(",") if s]:
        progress(f"synthetic {size}")
        gc.collect()
        before_entities = rss_mb()
        fill = synthetic(lists, size - index.name_count, args.seed + size)
        gc.collect()
        before_index = rss_mb()
        t = time.perf_counter()
        index.replace_source("syn", str(size), fill)
        build = time.perf_counter() - t
        gc.collect()
        after = rss_mb()
        names = index.name_count
        section: dict[str, Any] = {
            "names": names,
            "entities": len(index),
            "vocabulary_tokens": len(index.vocabulary.tokens),
            "build_s": round(build, 1),
            "index_memory_mb_per_million_names": round(
                (after - before_index) / (names - out["real_lists"]["names"]) * 1e6, 1
            ),
            "entity_objects_mb_per_million_names": round(
                (before_index - before_entities) / (names - out["real_lists"]["names"]) * 1e6, 1
            ),
        }
        progress(f"built {names} names in {build:.0f} s; timing queries")
        section["index_cold"] = time_index(index, queries, cold=True)
        section["index_warm"] = time_index(index, queries, cold=False)
        progress("exhaustive comparison")
        section["vs_exhaustive"] = compare_exhaustive(
            index, cases, args.exhaustive_large, args.seed + 1
        )
        section["vs_unpruned"] = compare_unpruned(index, queries)
        progress("brute force and batch")
        bf = BruteForce(index)
        section["brute_force_rapidfuzz"] = time_brute(bf, queries[:50])
        del bf
        t = time.perf_counter()
        index.screen_many(batch[:2000])
        section["batch_names_per_second"] = round(2000 / (time.perf_counter() - t))
        # A delta on the big source: 100 entities amended (a new alias each), 10 removed.
        amended = [
            replace(e, names=(*e.names, replace(e.names[0], full=e.names[0].full + " Zed")))
            for e in fill[:100]
        ]
        t = time.perf_counter()
        index.apply_delta("syn", "delta", amended, [e.id for e in fill[100:110]])
        section["apply_delta_s"] = round(time.perf_counter() - t, 3)
        out[f"synthetic_{size}"] = section
        del fill
        index.replace_source("syn", "empty", [])
    out["machine"]["load_after"] = os.getloadavg()
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        json.dump(main(), sys.stdout, indent=2)
        sys.stdout.write("\n")
