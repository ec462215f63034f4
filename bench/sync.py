"""Full-size syncs: time per step, peak memory, event-loop stalls and screening latency.

Run: .venv/bin/python bench/sync.py [--before TREE] [--cases un,sdn,sdn-redated,enhanced]
                                    [--arrangements process,inline]
                                    [--appendfsync always,everysec]

Files are generated from the real ones in ../shared/data with new uids and the real record
shapes: an SDN.XML-size sdnList (19,400 entries, repeating the 443 of the 2025-03-28
Consolidated list; about 41 MB, denser than OFAC's 29 MB, so a harder case), the same file
re-published under a new Publish_Date, and an Enhanced XML of about 110 MB (the IRGC export's
293 entities, repeated). The UN case is the real 2026-05-08 file.

Each case runs in a child process of its own (so peak RSS is per case) on an embedded Valkey,
with the real API serving in it, in one of two arrangements ("arr."): `process`, as `listd
run` does by default, the sync in a process of its own (`listd.pipeline.child`: the API's
process sends it the job and follows the version it publishes), and `inline`, the sync in the
API's event loop (`LISTD_SYNC_ISOLATION=inline`, and every tree before the sync process).
"worker MB" is the largest peak RSS among the processes the sync starts (the sync's own
process, the schema check, the parse). The case's process records its loop's lag every 5 ms;
this process screens against the API one request at a time throughout and compares p99
latency during the sync with the idle seconds before it.
"CPU s" is the CPU time the case's process (the API's too, answering those requests: 0.1-0.15
of a core) and the processes it started spent during the sync, "worker CPU s" the started
processes' alone (the check and the parse, and in the `process` arrangement the sync's own
process, its start and imports included: about 1 s): unlike the wall time, the latter hardly
moves with whatever else the machine is running. "validate CPU" and "parse CPU" split it (the
check's child, and the parsing children's together, starts and imports included; blank for
a tree whose SyncResult does not record them), and "Redis CPU s" is the embedded Valkey's
CPU time during the sync (the snapshot written, the deltas staged, the publication script,
and the screening requests' journal entries meanwhile: more, the longer the sync takes): a
cost the other columns do not count.

What else a screening waits for during the sync: "API wait ms", the time the API's event
loop was runnable but had no core (the scheduler's count for its thread; "API wait %" the
same as a share of the time, idle and during the sync); "Redis p99" of a
PING sent every 5 ms on a connection of its own (idle, then during the sync); "fsync max ms",
the longest fsync of Redis's append-only file during the sync (its latency monitor): with
`appendfsync always` every screening's journal entry waits for one. "p99 index ms" is the
screening p99 after the sync's answer while the API's index follows the new version ("index
s"); "sync / idle" is p99 during the sync over p99 idle (the goal: 2 or less).

BENCH_SYNC_NICE=N runs the `process` arrangement's sync process N below the API's CPU
priority (`LISTD_SYNC_PRIORITY=N`; the default is 5), or under SCHED_IDLE with
BENCH_SYNC_NICE=idle, to compare priorities. A tree from before that setting runs it at
`listd.pipeline.child.NICENESS`, set to N (idle: left as it is). BENCH_INDEX_SLICE=S
sets the API's index-building slice (`listd.screening.follow.SLICE`) to S seconds.

`--before TREE` runs every case on another checkout as well (e.g. `git worktree add
/tmp/listd-main main`), importing listd from TREE, and prints both tables. Trees without
per-step timings in SyncResult are timed by wrapping the steps from outside. `--repeat N`
runs each case N times, the trees alternating so that both meet the same load; the row then
gives each figure's median over the runs, and the latency percentiles over every run's
requests together (one UN sync is 100-600 screenings: its p99 is its two or three slowest),
with each run's p99 during the sync in the JSON lines.

`--appendfsync always,everysec` runs every case with each of these settings of the Redis
server's append-only file (set on the embedded server after it starts, `CONFIG SET`; listd
itself starts it with `always`), alternating within each repetition, and gives a row for
each ("fsync" column). With `everysec` Redis answers before the data reach the disk (a
background thread fsyncs once a second), so "fsync max ms", the longest fsync a reply waited
for, is 0 there; "AOF wait max ms" is the longest wait of any kind its latency monitor saw
for the append-only file (a write while the background fsync still runs included).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
TREE = HERE.parents[1]
DATA = TREE.parent / "shared" / "data"
SDN_TEMPLATE = DATA / "ofac" / "ofac-consolidated-nonsdn-2025-03-28.xml"
ENHANCED_TEMPLATE = DATA / "ofac" / "ofac-enhanced-IRGC-2024-08-28.xml"
UN_FILE = DATA / "un" / "consolidated-2026-05-08.xml"
BASE_FILE = DATA / "un" / "consolidated-2026-02-27.xml"  # what the API screens against
CASES = ("un", "sdn", "sdn-redated", "enhanced")
GOALS = {"un": 0.5, "sdn": 5.0, "sdn-redated": 1.0, "enhanced": 15.0}  # seconds
STEPS = ("validate", "parse", "normalise", "store", "publish")
CHILD = Path("listd") / "pipeline" / "child.py"  # a tree with the sync process
CPU_STEPS = ("validate_cpu", "parse_cpu")  # recorded by the sync itself, where it does


def server_cpu(pid: int) -> float:
    """CPU seconds (user and system) process `pid` has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- files ---------------------------------------------------------------------------------


def _shifted(template: bytes, shift: int) -> Any:
    return lambda m: template % (int(m[1]) + shift)


def sdn_list(entries: int, date: str) -> bytes:
    """An sdnList of `entries` real-shaped entries: copies with every uid moved on."""
    raw = SDN_TEMPLATE.read_bytes()
    start, end = raw.index(b"<sdnEntry>"), raw.rindex(b"</sdnEntry>") + len(b"</sdnEntry>")
    records = re.findall(rb"<sdnEntry>.*?</sdnEntry>", raw[start:end], re.S)
    out: list[bytes] = []
    for copy in range(entries // len(records) + 1):
        shift = copy * 1_000_000
        for record in records[: entries - len(out)]:
            out.append(re.sub(rb"<uid>(\d+)</uid>", _shifted(b"<uid>%d</uid>", shift), record))
    head = re.sub(rb"<Record_Count>\d+<", b"<Record_Count>%d<" % entries, raw[:start])
    head = re.sub(rb"<Publish_Date>[^<]*<", b"<Publish_Date>" + date.encode() + b"<", head)
    return head + b"\n  ".join(out) + raw[end:]


def enhanced(size: int) -> bytes:
    """An Enhanced XML document of about `size` bytes: entity copies with new ids."""
    raw = ENHANCED_TEMPLATE.read_bytes()
    start = raw.index(b"<entity id=")
    end = raw.rindex(b"</entity>") + len(b"</entity>")
    records = re.findall(rb"<entity id=.*?</entity>", raw[start:end], re.S)
    out: list[bytes] = []
    total, copy = len(raw) - (end - start), 0
    while total < size:
        shift = copy * 1_000_000
        for record in records:
            record = re.sub(rb'<entity id="(\d+)"', _shifted(b'<entity id="%d"', shift), record)
            record = re.sub(rb'entityId="(\d+)"', _shifted(b'entityId="%d"', shift), record)
            out.append(record)
            total += len(record) + 5
        copy += 1
    return raw[:start] + b"\n    ".join(out) + raw[end:]


def make_files(work: Path, cases: list[str]) -> dict[str, list[Path]]:
    """The file(s) each case syncs, in order (the last one is measured)."""
    files: dict[str, list[Path]] = {}
    if "un" in cases:
        files["un"] = [UN_FILE]
    if "sdn" in cases or "sdn-redated" in cases:
        first, second = work / "SDN.XML", work / "SDN-redated.XML"
        if not first.exists():
            first.write_bytes(sdn_list(19_400, "09/18/2026"))
            second.write_bytes(sdn_list(19_400, "09/19/2026"))
        files["sdn"] = [first]
        files["sdn-redated"] = [first, second]
    if "enhanced" in cases:
        path = work / "SDN_ENHANCED.XML"
        if not path.exists():
            path.write_bytes(enhanced(110_000_000))
        files["enhanced"] = [path]
    return {case: files[case] for case in cases}


# --- the child: one case on one tree -------------------------------------------------------


class Ticker:
    """The event loop's lateness, sampled every 5 ms: (wall time, seconds late)."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            self.samples.append((time.time(), time.perf_counter() - before - 0.005))

    def worst(self, start: float, end: float) -> float:
        return max((lag for t, lag in self.samples if start <= t <= end), default=0.0)


class RedisProbe:
    """Redis's own answer time, a PING every 5 ms on a connection of its own: (wall time,
    seconds). With `appendfsync always` a PING waits for the fsync of whatever the
    iteration before it wrote (the sync's snapshot, the screenings' journal entries)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self.samples: list[tuple[float, float]] = []

    async def run(self) -> None:
        while True:
            t = time.perf_counter()
            await self.redis.ping()
            self.samples.append((time.time(), time.perf_counter() - t))
            await asyncio.sleep(0.005)

    def p99_ms(self, start: float, end: float) -> float:
        return round(p99([d for t, d in self.samples if start <= t < end]) * 1000, 1)


APPENDFSYNC = ("always", "everysec", "no")


async def use_appendfsync(redis: Any, setting: str) -> str:
    """Set the server's `appendfsync` (`setting` one of APPENDFSYNC); return what it reports."""
    if setting not in APPENDFSYNC:
        raise ValueError(f"appendfsync must be one of {', '.join(APPENDFSYNC)}: {setting!r}")
    await redis.config_set("appendfsync", setting)
    reported = (await redis.config_get("appendfsync"))["appendfsync"]
    return reported.decode() if isinstance(reported, bytes) else str(reported)


def aof_waits(latest: list[Any]) -> dict[str, int]:
    """From LATENCY LATEST: the longest fsync a reply waited for (`appendfsync always`),
    and the longest wait of any kind for the append-only file (ms)."""
    worst: dict[str, int] = {}
    for row in latest:
        event = row[0].decode() if isinstance(row[0], bytes) else str(row[0])
        worst[event] = max(worst.get(event, 0), int(row[3]))
    return {
        "fsync_max_ms": worst.get("aof-fsync-always", 0),
        "aof_wait_max_ms": max((v for k, v in worst.items() if k.startswith("aof-")), default=0),
    }


def run_delay() -> float:
    """Seconds this thread has been runnable but waiting for a core (the scheduler's count)."""
    tid = threading.get_native_id()
    return int(Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[1]) / 1e9


def pipeline(name: str) -> Any:
    """A pipeline module of the tree under test: `listd.pipeline.<name>`, or in a tree from
    before the pipeline became a package, `listd.<name>`."""
    import importlib

    try:
        return importlib.import_module(f"listd.pipeline.{name}")
    except ModuleNotFoundError:
        return importlib.import_module(f"listd.{name}")


def timed_steps(syncer: Any, steps: dict[str, float]) -> None:
    """Time the steps of a tree whose SyncResult has no `phases`, by wrapping them."""
    sync_module = pipeline("sync")

    def add(step: str, since: float) -> None:
        steps[step] = steps.get(step, 0.0) + time.perf_counter() - since

    original_scraper, original_normalise = sync_module.scraper, sync_module.normalize_entity

    def scraper(kind: str) -> Any:
        scr = original_scraper(kind)

        def validate(raw: bytes) -> None:
            t = time.perf_counter()
            scr.validate(raw)
            add("validate", t)

        def parse(raw: bytes) -> Any:
            t = time.perf_counter()
            out = list(scr.parse(raw))
            add("parse", t)
            return iter(out)

        return dataclasses.replace(scr, validate=validate, parse=parse)

    def normalise(entity: Any) -> Any:
        t = time.perf_counter()
        out = original_normalise(entity)
        add("normalise", t)
        return out

    sync_module.scraper = scraper  # type: ignore[assignment]
    sync_module.normalize_entity = normalise
    for step, owner, name in (
        ("store", syncer.store, "write_snapshot"),
        ("publish", syncer, "publish"),
    ):
        method = getattr(owner, name)

        async def wrapped(*args: Any, _m: Any = method, _s: str = step, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return await _m(*args, **kw)
            finally:
                add(_s, t)

        setattr(owner, name, wrapped)


async def child(
    case: str, arrangement: str, files: list[Path], appendfsync: str = "always"
) -> dict[str, Any]:
    from aiohttp import web

    import listd
    from listd import logs
    from listd.access import KeyStore
    from listd.api import create_app
    from listd.api.state import INDEX
    from listd.connection import client
    from listd.embedded import EmbeddedRedis
    from listd.keyspace import Keys
    from listd.screening.follow import follow
    from listd.settings import Settings, SourceConfig

    Store = pipeline("store").Store
    Syncer, SyncResult = pipeline("sync").Syncer, pipeline("sync").SyncResult

    logs.configure("console", level=50)
    kind = "un" if case == "un" else "ofac"
    tmp = tempfile.TemporaryDirectory()
    server = EmbeddedRedis(Path(tmp.name))
    url = server.start()
    redis = client(url)
    appendfsync = await use_appendfsync(redis, appendfsync)
    prefix = f"bench-sync-{os.getpid()}"
    sources = {
        "base": SourceConfig("base", "un", url="http://127.0.0.1:9/"),  # screened throughout
        "list": SourceConfig("list", kind, url="http://127.0.0.1:9/"),
    }
    settings = Settings(redis_url=url, key_prefix=prefix, sources=sources)
    app = create_app(settings, redis, refresh_seconds=0.2)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    keys = KeyStore(redis, Keys(prefix))
    key = await keys.create("bench", "screener")
    await keys.accept_agreement(key)
    store = Store(redis, Keys(prefix))
    if arrangement == "process":
        from listd.pipeline import child as sync_child
        from listd.pipeline.child import ChildSyncer

        if os.environ.get("BENCH_SYNC_NICE"):  # to compare the sync process's priorities
            raw = os.environ["BENCH_SYNC_NICE"]
            niceness = None if raw == "idle" else int(raw)
            if "sync_niceness" in Settings.__dataclass_fields__:
                settings = dataclasses.replace(settings, sync_niceness=niceness)
            if niceness is not None:
                sync_child.NICENESS = niceness  # a tree from before LISTD_SYNC_PRIORITY

        # Every sync through it, as in `listd run`: a child waits ahead for the measured one.
        syncer = ChildSyncer(settings, store, url)
    else:
        syncer = Syncer(settings, store)
    index = app[INDEX]
    if os.environ.get("BENCH_INDEX_SLICE"):
        import listd.screening.follow as following

        following.SLICE = float(os.environ["BENCH_INDEX_SLICE"])
    ticker = Ticker()
    ticker.task = asyncio.create_task(ticker.run())
    probe = RedisProbe(client(url))
    probing = asyncio.create_task(probe.run())
    try:
        await syncer.sync("base", raw=BASE_FILE.read_bytes())
        while (await follow(store, index, ["base"])).changed:
            pass
        for path in files[:-1]:  # the list already serving, for a re-publication
            await syncer.sync("list", raw=path.read_bytes())
            while (await follow(store, index, ["list"])).changed:
                pass
        raw = files[-1].read_bytes()
        if arrangement == "process":
            await syncer.warm()  # the next child imported and waiting, as between syncs
        print(json.dumps({"ready": True, "port": port, "key": key}), flush=True)
        await asyncio.sleep(1.0)  # idle screening for the comparison (the last 3 s of it)
        idle0, idle_wait0 = time.perf_counter(), run_delay()
        await asyncio.sleep(3.0)
        idle_wait = (run_delay() - idle_wait0) / (time.perf_counter() - idle0)
        steps: dict[str, float] = {}
        if "phases" not in SyncResult.__dataclass_fields__:
            timed_steps(syncer, steps)
        server_pid = server._process.pid  # type: ignore[union-attr]
        await redis.config_set("latency-monitor-threshold", 1)  # ms: Redis's own record
        await redis.execute_command("LATENCY", "RESET")
        t0, cpu0, redis0, wait0 = time.time(), os.times(), server_cpu(server_pid), run_delay()
        result = await syncer.sync("list", raw=raw)
        t1, cpu1, redis1, wait1 = time.time(), os.times(), server_cpu(server_pid), run_delay()
        latest = await redis.execute_command("LATENCY", "LATEST")
        version = result.version
        while index.versions.get("list") != version:  # noqa: ASYNC110 - the API's index follows
            await asyncio.sleep(0.01)
        t2 = time.time()
        await asyncio.sleep(1.0)
        cpu2 = os.times()  # the sync's process has exited and been reaped by now
    finally:
        ticker.task.cancel()
        probing.cancel()
        await probe.redis.aclose()
        if arrangement == "process":
            await syncer.close()
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        await runner.cleanup()
        await redis.aclose()
        server.stop()
        tmp.cleanup()
    phases = getattr(result, "phases", None) or steps
    return {
        "case": case,
        "arrangement": arrangement,
        "tree": str(Path(listd.__file__).parents[1]),
        "bytes": len(raw),
        "entities": result.entities,
        "outcome": result.outcome,
        "sync_s": round(t1 - t0, 2),
        # CPU seconds of the case's process and of the processes it started (not Redis's):
        # what the sync costs whatever else the machine is doing, unlike its wall time.
        "cpu_s": round(sum(cpu1[:2]) - sum(cpu0[:2]) + sum(cpu2[2:4]) - sum(cpu0[2:4]), 2),
        "worker_cpu_s": round(sum(cpu2[2:4]) - sum(cpu0[2:4]), 2),
        **{f"{s}_s": round(phases.get(s, 0.0), 2) for s in STEPS},
        **{s: round(phases[s], 2) for s in CPU_STEPS if s in phases},
        "redis_cpu_s": round(redis1 - redis0, 2),
        "index_s": round(t2 - t1, 2),
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "worker_rss_mb": round(children / 1024),
        "stall_sync_ms": round(ticker.worst(t0, t1) * 1000),
        "stall_index_ms": round(ticker.worst(t1, t2 + 0.5) * 1000),
        # What a screening waits for besides the API's event loop, during the sync: a core
        # (the API's loop runnable, not running), Redis (a PING's answer), the disk (Redis's
        # longest fsync of its append-only file, from its latency monitor).
        "api_wait_ms": round((wait1 - wait0) * 1000),
        # The same as a share of the time, idle (the 3 s before) and during the sync.
        "api_wait_idle_pct": round(idle_wait * 100),
        "api_wait_sync_pct": round((wait1 - wait0) / max(t1 - t0, 1e-9) * 100),
        "redis_p99_idle_ms": probe.p99_ms(t0 - 3.0, t0),
        "redis_p99_sync_ms": probe.p99_ms(t0, t1),
        "appendfsync": appendfsync,
        **aof_waits(latest),
        "t0": t0,
        "t1": t1,
        "t2": t2,
    }


# --- the parent: screening client and tables ------------------------------------------------


def screen(port: int, key: str, stop: threading.Event, out: list[tuple[float, float]]) -> None:
    """One screening at a time until `stop`: (wall time sent, seconds to answer)."""
    import aiohttp

    async def run() -> None:
        headers = {"Authorization": f"Bearer {key}"}
        url = f"http://127.0.0.1:{port}/v1/screen"
        names = ["HANIYA Ismail", "Mohammed Ali Hassan", "Islamic Revolutionary Guard", "Petrov"]
        async with aiohttp.ClientSession(headers=headers) as session:
            n = 0
            while not stop.is_set():
                body = {"name": names[n % len(names)], "basis": "onboarding"}
                sent, t = time.time(), time.perf_counter()
                try:
                    async with session.post(url, json=body) as resp:
                        await resp.read()
                except aiohttp.ClientError:
                    break  # the case's process is shutting its API down
                out.append((sent, time.perf_counter() - t))
                n += 1

    asyncio.run(run())


def p99(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0] if samples else 0.0
    return statistics.quantiles(samples, n=100)[98]


def run_case(
    case: str, arrangement: str, files: list[Path], tree: Path, appendfsync: str = "always"
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """One run of a case: its row, and the screening latencies (idle, sync, index)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "BENCH_APPENDFSYNC": appendfsync}
    cmd = [sys.executable, str(HERE), "--child", case, arrangement, *map(str, files)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=tree)
    assert proc.stdout is not None
    latencies: list[tuple[float, float]] = []
    stop = threading.Event()
    client: threading.Thread | None = None
    result: dict[str, Any] = {}
    for line in proc.stdout:
        message = json.loads(line)
        if message.get("ready"):
            client = threading.Thread(
                target=screen, args=(message["port"], message["key"], stop, latencies)
            )
            client.start()
        else:
            result = message
    stop.set()
    if client is not None:
        client.join()
    proc.wait()
    if "error" in result:
        return result, {}
    t0, t1, t2 = result.pop("t0"), result.pop("t1"), result.pop("t2")
    samples = {
        "idle": [lat for t, lat in latencies if t0 - 3.0 <= t < t0],
        "sync": [lat for t, lat in latencies if t0 <= t < t1],
        # The API's own index following the new version, after the sync's answer.
        "index": [lat for t, lat in latencies if t1 <= t < t2],
    }
    result["load"] = round(os.getloadavg()[0], 1)  # the machine's, over the last minute
    return result, samples


def latency_fields(samples: dict[str, list[float]]) -> dict[str, Any]:
    """p50 and p99 of each window, in ms, and how many requests each had."""
    out: dict[str, Any] = {}
    for window, values in samples.items():
        out[f"p50_{window}_ms"] = round(statistics.median(values or [0.0]) * 1000, 1)
        out[f"p99_{window}_ms"] = round(p99(values) * 1000, 1)
        out[f"n_{window}"] = len(values)
    if out.get("p99_idle_ms"):
        out["p99_ratio"] = round(out["p99_sync_ms"] / out["p99_idle_ms"], 1)
    return out


def pooled(runs: list[tuple[dict[str, Any], dict[str, list[float]]]]) -> dict[str, Any]:
    """One row for repeated runs of a case: the median of each figure, the latency
    percentiles over every run's requests together, and each run's p99 during the sync."""
    rows = [row for row, _ in runs if "error" not in row]
    if not rows:
        return runs[-1][0]
    out = dict(rows[-1])
    for key, value in rows[-1].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = statistics.median(row[key] for row in rows if key in row)
    samples: dict[str, list[float]] = {}
    for row, run in runs:
        if "error" not in row:
            for window, values in run.items():
                samples.setdefault(window, []).extend(values)
    out.update(latency_fields(samples))
    out["runs"] = len(rows)
    out["p99_sync_runs_ms"] = [latency_fields(run)["p99_sync_ms"] for _, run in runs if run]
    return out


def table(rows: list[dict[str, Any]]) -> str:
    cols = [
        ("case", "case"), ("arr.", "arrangement"), ("fsync", "appendfsync"), ("load", "load"),
        ("MB", "bytes"),
        ("entities", "entities"), ("sync s", "sync_s"),
        ("CPU s", "cpu_s"), ("worker CPU s", "worker_cpu_s"), ("validate CPU", "validate_cpu"),
        ("parse CPU", "parse_cpu"), ("Redis CPU s", "redis_cpu_s"),
        ("validate", "validate_s"), ("parse", "parse_s"), ("normalise", "normalise_s"),
        ("store", "store_s"), ("publish", "publish_s"), ("index s", "index_s"),
        ("RSS MB", "rss_mb"), ("worker MB", "worker_rss_mb"), ("stall ms", "stall_sync_ms"),
        ("index stall ms", "stall_index_ms"), ("API wait ms", "api_wait_ms"),
        ("API wait % idle", "api_wait_idle_pct"), ("API wait % sync", "api_wait_sync_pct"),
        ("Redis p99 idle ms", "redis_p99_idle_ms"), ("Redis p99 sync ms", "redis_p99_sync_ms"),
        ("fsync max ms", "fsync_max_ms"), ("AOF wait max ms", "aof_wait_max_ms"),
        ("p50 idle ms", "p50_idle_ms"),
        ("p50 sync ms", "p50_sync_ms"), ("p99 idle ms", "p99_idle_ms"),
        ("p99 sync ms", "p99_sync_ms"), ("sync / idle", "p99_ratio"),
        ("p99 index ms", "p99_index_ms"), ("runs", "runs"),
    ]  # fmt: skip
    lines = ["| " + " | ".join(c for c, _ in cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['case']} | {row['arrangement']} | failed: {row['error']} |")
            continue
        values = [f"{row[k] / 1e6:.1f}" if k == "bytes" else str(row.get(k, "")) for _, k in cols]
        lines.append("| " + " | ".join(values) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout to run first")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument(
        "--arrangements",
        default="process,inline",
        help="where the sync runs: process (as listd run), inline (in the API's event loop)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each case (alternating the trees); latencies pooled over them",
    )
    parser.add_argument(
        "--appendfsync",
        default="always",
        help="the Redis server's appendfsync setting(s), alternated: always, everysec",
    )
    parser.add_argument("--work", type=Path, help="where to keep the generated files")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        case, arrangement, *files = args.child
        try:
            fsync = os.environ.get("BENCH_APPENDFSYNC", "always")
            outcome = asyncio.run(child(case, arrangement, [Path(f) for f in files], fsync))
        except Exception as exc:  # noqa: BLE001 - a failed case is a row of the table
            error = f"{type(exc).__name__}: {exc}"[:200]
            outcome = {"case": case, "arrangement": arrangement, "appendfsync": fsync}
            outcome["error"] = error
        print(json.dumps(outcome), flush=True)
        return
    cases = [c for c in args.cases.split(",") if c]
    arrangements = [a for a in args.arrangements.split(",") if a]
    fsyncs = [f for f in args.appendfsync.split(",") if f]
    if unknown := set(fsyncs) - set(APPENDFSYNC):
        parser.error(f"--appendfsync: not one of {', '.join(APPENDFSYNC)}: {sorted(unknown)}")
    work = args.work or Path(tempfile.mkdtemp(prefix="listd-bench-sync-"))
    work.mkdir(parents=True, exist_ok=True)
    files = make_files(work, cases)
    trees = [("before", args.before.resolve())] if args.before else []
    trees.append(("after", TREE))
    rows: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in trees}
    for case in cases:
        for arrangement in arrangements:
            runs: dict[tuple[str, str], list[Any]] = {
                (label, fsync): [] for label, _ in trees for fsync in fsyncs
            }
            for _ in range(args.repeat):  # trees and settings alternate: all meet the same load
                for label, tree in trees:
                    # A tree from before the sync process syncs inline only.
                    if arrangement == "process" and not (tree / CHILD).exists():
                        continue
                    for fsync in fsyncs:
                        row, samples = run_case(case, arrangement, files[case], tree, fsync)
                        runs[label, fsync].append((row, samples))
                        each = {"tree": label, **row, **latency_fields(samples)}
                        print(json.dumps(each), file=sys.stderr, flush=True)
            for (label, _), done in runs.items():
                if done:
                    row = pooled(done)
                    row["goal_met"] = "error" not in row and row["sync_s"] <= GOALS[case]
                    rows[label].append(row)
    for label, tree in trees:
        print(f"\n{label}: {tree}\n")
        print(table(rows[label]))


if __name__ == "__main__":
    main()
