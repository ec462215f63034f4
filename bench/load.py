"""Sustained HTTP screening load on the real daemon, as JSON, minute by minute.

Run: .venv/bin/python bench/load.py [--duration 600] [--window 60] [--concurrency 32]

The server is `listd run` itself in a child process (scheduler, webhook dispatcher,
journal archiver and all), pinned to core 0, on the embedded Valkey. It syncs the real
lists (UN, Kazakhstan AFM, the OFAC enhanced samples) at start-up from a local
file server, as it would from the publishers. A keep-alive aiohttp client pinned to core
1 keeps `--concurrency` screenings in flight for `--duration` seconds with a screener
key, mixing listed names (exact, misspelt) and names that match nothing, each with a
legal basis, as a bank's onboarding does.

Printed per window (default one minute): requests/s, p50/p99/max latency, non-200
answers, and the server's RSS; at the end, whether memory stayed flat (RSS of the last
window within 10 % of the second's; the first holds warm-up) and whether the throughput
goal of the screening issue (1,500 screens/s per core) held in every window.

The machine has 2 cores shared with other work: treat every figure as noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from listd.access import KeyStore
from listd.connection import client
from listd.embedded import EmbeddedRedis
from listd.keyspace import Keys

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FILES = {  # source name -> (kind, the file served for it)
    "un": ("un", DATA / "un" / "consolidated-2026-05-08.xml"),
    "kz-afm-tf": ("kz-afm-tf", DATA / "kz" / "afm-terror-extremism-active-2022-10-03.xml"),
    "ofac": ("ofac", DATA / "ofac" / "CONS_ENHANCED-2025-01-10.zip"),
    "ofac-irgc": ("ofac", DATA / "ofac" / "ofac-enhanced-IRGC-2024-08-28.xml"),
}
GOAL_PER_CORE = 1500.0  # screens/s, the screening issue's target
FLAT_TOLERANCE = 0.10
BASES = ("onboarding", "transaction", "periodic_review")


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def percentile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


# --- the publishers' side ------------------------------------------------------------------


class FileServer:
    """The list files over HTTP, in a thread of this process (hit only at start-up)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)

    async def _start(self) -> None:
        app = web.Application()

        async def serve(request: web.Request) -> web.StreamResponse:
            kind, path = FILES[request.match_info["name"]]
            return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})

        app.router.add_get("/{name}", serve)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def sources_toml(port: int) -> str:
    out = []
    for name, (kind, _) in FILES.items():
        out += [
            f"[sources.{name}]",
            f'kind = "{kind}"',
            f'url = "http://127.0.0.1:{port}/{name}"',
            "interval_minutes = 60",
            "min_entities = 0",
            "",
        ]
    return "\n".join(out)


# --- the bank's side -----------------------------------------------------------------------


async def make_key(redis_url: str, prefix: str) -> str:
    redis = client(redis_url)
    store = KeyStore(redis, Keys(prefix))
    key = await store.create("load test", "screener", org="bench-bank")
    await store.accept_agreement(key)
    await redis.aclose()
    return key


async def wait_loaded(base: str, key: str, seconds: float) -> dict[str, int]:
    """Until /readyz answers 200 and every source's list is in the index."""
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{base}/readyz") as ready:
                    if ready.status == 200:
                        async with session.get(f"{base}/v1/sources", headers=headers) as resp:
                            rows = (await resp.json())["sources"]
                        if all(r["loaded_version"] for r in rows):
                            return {r["name"]: r["entities"] for r in rows}
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit(f"the daemon did not load every list within {seconds:.0f} s")


async def sample_names(base: str, key: str, rng: random.Random) -> list[str]:
    """Query names: listed ones as they are and misspelt, and combinations of listed
    words that name nobody (most customers match nothing)."""
    listed: list[str] = []
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as session:
        for name in FILES:
            async with session.get(f"{base}/v1/sources/{name}/snapshot", headers=headers) as resp:
                lines = (await resp.read()).splitlines()[1:]
            for line in rng.sample(lines, min(400, len(lines))):
                primary = json.loads(line).get("names", [{}])[0].get("full")
                if primary:
                    listed.append(primary)
    words = [w for n in listed for w in n.split() if len(w) > 2]
    names: list[str] = []
    for n in listed:
        names.append(n)
        cut = rng.randrange(len(n))
        names.append(n[:cut] + n[cut + 1 :])  # one letter dropped
        names.append(" ".join(rng.sample(words, 2)))
        names.append(" ".join(rng.sample(words, 3)))
    rng.shuffle(names)
    return names


async def load(
    base: str,
    key: str,
    names: list[str],
    *,
    duration: float,
    window: float,
    concurrency: int,
    server_pid: int,
    redis_url: str,
) -> list[dict[str, Any]]:
    url = f"{base}/v1/screen"
    headers = {"Authorization": f"Bearer {key}"}
    windows: list[dict[str, Any]] = []
    samples: list[float] = []
    statuses: Counter[int] = Counter()
    counter = iter(range(10**12))
    started = time.perf_counter()
    end = started + duration
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            while time.perf_counter() < end:
                n = next(counter)
                body = {"name": names[n % len(names)], "basis": BASES[n % len(BASES)]}
                t = time.perf_counter()
                try:
                    async with session.post(url, json=body) as resp:
                        await resp.read()
                        statuses[resp.status] += 1
                except aiohttp.ClientError as exc:
                    statuses[-1] += 1
                    say(f"client error: {exc!r}")
                samples.append(time.perf_counter() - t)

        async def reporter() -> None:
            nonlocal samples, statuses
            mark = started
            while mark < end - 1e-6:
                mark = min(mark + window, end)
                await asyncio.sleep(max(0.0, mark - time.perf_counter()))
                taken, samples = samples, []
                seen, statuses = statuses, Counter()
                ordered = sorted(taken)
                row = {
                    "window": len(windows) + 1,
                    "seconds": round(mark - started, 1),
                    "requests_per_s": round(len(taken) / window, 1),
                    "p50_ms": round(statistics.median(ordered) * 1000, 2) if ordered else None,
                    "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
                    "max_ms": round(ordered[-1] * 1000, 2) if ordered else None,
                    "non_200": sum(c for s, c in seen.items() if s != 200),
                    "rss_mb": rss_mb(server_pid),
                    # The journal grows with every request until the archiver moves it out.
                    "redis_used_mb": round(
                        int((await redis.info("memory"))["used_memory"]) / 2**20, 1
                    ),
                }
                windows.append(row)
                say(json.dumps(row))

        redis = client(redis_url)
        try:
            await asyncio.gather(reporter(), *(worker() for _ in range(concurrency)))
        finally:
            await redis.aclose()
    return windows


def verdict(windows: list[dict[str, Any]], rss_start: float) -> dict[str, Any]:
    rates = [w["requests_per_s"] for w in windows]
    out: dict[str, Any] = {
        "requests_per_s_min": min(rates),
        "requests_per_s_mean": round(statistics.fmean(rates), 1),
        "p99_ms_max": max(w["p99_ms"] for w in windows),
        "non_200": sum(w["non_200"] for w in windows),
        "goal_requests_per_s": GOAL_PER_CORE,
        "goal_held_every_window": min(rates) >= GOAL_PER_CORE,
        "rss_start_mb": rss_start,
    }
    if len(windows) >= 3:
        second, last = windows[1]["rss_mb"], windows[-1]["rss_mb"]
        growth = (last - second) / second
        out["rss_growth_after_warm_up"] = round(growth, 4)
        out["memory_flat"] = abs(growth) <= FLAT_TOLERANCE
    else:
        out["memory_flat"] = None
        out["memory_note"] = "needs at least 3 windows (the first is warm-up)"
    return out


# --- main ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    import structlog

    # Log lines (embedded Redis start/stop) go to stderr: stdout is the JSON.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--window", type=float, default=60.0, help="seconds per report row")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    cores = sorted(os.sched_getaffinity(0))
    pinned = len(cores) >= 2
    with tempfile.TemporaryDirectory(prefix="listd-load-") as tmp_dir:
        tmp = Path(tmp_dir)
        redis_server = EmbeddedRedis(tmp / "redis")
        redis_url = redis_server.start()
        files = FileServer()
        files.start()
        daemon: subprocess.Popen[bytes] | None = None
        log_path = tmp / "daemon.log"
        try:
            prefix = "load"
            key = asyncio.run(make_key(redis_url, prefix))
            (tmp / "sources.toml").write_text(sources_toml(files.port))
            port = 18500 + os.getpid() % 1000
            env = {
                **os.environ,
                "LISTD_REDIS_URL": redis_url,
                "LISTD_SOURCES": str(tmp / "sources.toml"),
                "LISTD_LISTEN": f"127.0.0.1:{port}",
                "LISTD_KEY_PREFIX": prefix,
                "LISTD_STATE_DIR": str(tmp / "state"),
                "LISTD_LOG_FORMAT": "json",
                "LISTD_RATE_LIMIT": "0",  # a throughput test, not a tenant
            }
            with log_path.open("wb") as log:
                daemon = subprocess.Popen(
                    [sys.executable, "-m", "listd", "run"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            if pinned:
                os.sched_setaffinity(daemon.pid, {cores[0]})
                os.sched_setaffinity(0, {cores[1]})
            base = f"http://127.0.0.1:{port}"
            say("waiting for the daemon to sync and load the lists")
            t = time.monotonic()
            entities = asyncio.run(wait_loaded(base, key, 600))
            loaded_in = round(time.monotonic() - t, 1)
            names = asyncio.run(sample_names(base, key, random.Random(args.seed)))
            rss_start = rss_mb(daemon.pid)
            say(f"loaded {entities} in {loaded_in} s; {len(names)} names; RSS {rss_start} MB")
            windows = asyncio.run(
                load(
                    base,
                    key,
                    names,
                    duration=args.duration,
                    window=args.window,
                    concurrency=args.concurrency,
                    server_pid=daemon.pid,
                    redis_url=redis_url,
                )
            )
            return {
                "setup": {
                    "server": "listd run (child process)",
                    "server_core": cores[0] if pinned else None,
                    "client_core": cores[1] if pinned else None,
                    "redis": "embedded valkey, unpinned",
                    "concurrency": args.concurrency,
                    "duration_s": args.duration,
                    "window_s": args.window,
                    "entities": entities,
                    "initial_sync_and_load_s": loaded_in,
                    "query_names": len(names),
                    "load_average_before": os.getloadavg(),
                },
                "windows": windows,
                "summary": verdict(windows, rss_start),
            }
        finally:
            os.sched_setaffinity(0, cores)
            if daemon is not None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait()
                if daemon.returncode not in (0, -signal.SIGTERM):
                    say(f"daemon exited with {daemon.returncode}; its log: {log_path}")
                    say(log_path.read_text()[-3000:])
            files.stop()
            redis_server.stop()


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
