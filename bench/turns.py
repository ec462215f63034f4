"""Requests on the event loop while a worker thread runs Python: what the GIL's turns cost.

Run: .venv/bin/python bench/turns.py [--seconds S] [--repeat N]

A request here is ten Redis round trips (PING, on the embedded Valkey): about the system
calls a screening makes (its socket reads and writes, its key check and journal append).
Meanwhile a worker thread does what a sync's threads do, building a first load's deltas
(`delta.payloads` over the real UN file's 1,009 entities, over and over). Requests run one
at a time, with the thread idle, with it busy at the interpreter's default switch interval
(5 ms) and with it busy inside `listd.turns.short_turns` (0.5 ms), the three alternated;
p50, p99 and the worst latency of each, and how much work the thread got done.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from listd.connection import client
from listd.embedded import EmbeddedRedis
from listd.pipeline import delta
from listd.scrapers import encode, scraper
from listd.turns import short_turns

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
UN_FILE = DATA / "un" / "consolidated-2026-05-08.xml"


Work = tuple[delta.Plan, dict[str, str]]


def first_load() -> Work:
    """The UN file's first-load delta plan and entity JSON."""
    records = encode.in_process(scraper("un"), UN_FILE.read_bytes(), "un")
    return delta.plan({}, records.hashes), {i: b.decode() for i, b in records.encoded.items()}


def work(load: Work, stop: threading.Event, done: list[int]) -> None:
    """Build the first load's deltas until `stop`, counting the rounds."""
    plan, texts = load
    while not stop.is_set():
        delta.payloads("un", "2", None, "2026-12-07T00:00:00Z", plan, texts, {})
        done[0] += 1


async def requests(url: str, seconds: float) -> list[float]:
    redis = client(url)
    out: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        started = time.perf_counter()
        for _ in range(10):
            await redis.ping()
        out.append(time.perf_counter() - started)
    await redis.aclose()
    return out


def measure(url: str, load: Work, mode: str, seconds: float) -> tuple[list[float], int]:
    stop, done = threading.Event(), [0]
    thread = threading.Thread(target=work, args=(load, stop, done))
    if mode != "idle":
        thread.start()
    held: AbstractContextManager[None] = short_turns() if mode == "short turns" else nullcontext()
    with held:
        before = done[0]
        latencies = asyncio.run(requests(url, seconds))
        rounds = done[0] - before
    stop.set()
    if mode != "idle":
        thread.join()
    return latencies, rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    modes = ("idle", "busy, 5 ms turns", "short turns")
    found: dict[str, list[float]] = {mode: [] for mode in modes}
    rounds: dict[str, int] = dict.fromkeys(modes, 0)
    load = first_load()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp))
        url = server.start()
        try:
            for _ in range(args.repeat):
                for mode in modes:
                    latencies, done = measure(url, load, mode, args.seconds)
                    found[mode] += latencies
                    rounds[mode] += done
        finally:
            server.stop()
    print(f"switch interval {sys.getswitchinterval() * 1000:g} ms by default\n")
    print("| thread | requests | p50 ms | p99 ms | max ms | deltas built per s |")
    print("|---|---|---|---|---|---|")
    for mode in modes:
        values = sorted(found[mode])
        p99 = statistics.quantiles(values, n=100)[98]
        rate = rounds[mode] / (args.seconds * args.repeat)
        print(
            f"| {mode} | {len(values)} | {statistics.median(values) * 1000:.2f} | "
            f"{p99 * 1000:.2f} | {values[-1] * 1000:.1f} | {rate:.1f} |"
        )


if __name__ == "__main__":
    main()
