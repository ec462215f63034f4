"""What a sync's CPU priority does to the API's latency, without the rest of a sync.

Run: .venv/bin/python bench/priority.py [--seconds 4] [--rounds 2]

This process plays the API: it sleeps 2 ms, then works 1 ms (a screening), over and over,
and records how late each round ends. Beside it, two CPU-bound processes play the sync's
process and a parsing child on a 2-core machine: none, at niceness 5 below this process (the
sync process's default priority), or under SCHED_IDLE (LISTD_SYNC_PRIORITY=idle).
Modes alternate, `--rounds` times; each line gives p50, p99 and max lateness in ms and the
load average (other work on the machine shows in every mode alike).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HOG = [sys.executable, "-c", "while True: pass"]


def rounds(seconds: float) -> list[float]:
    """Lateness of each sleep-then-work round, in seconds."""
    out: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        time.sleep(0.002)
        busy = time.perf_counter() + 0.001
        while time.perf_counter() < busy:
            pass
        out.append(time.perf_counter() - start - 0.003)
    return sorted(out)


def hogs(mode: str) -> list[subprocess.Popen[bytes]]:
    started = []
    for _ in range(2 if mode != "none" else 0):
        proc = subprocess.Popen(HOG)  # noqa: S603 - our own interpreter, no shell
        if mode == "idle":
            os.sched_setscheduler(proc.pid, os.SCHED_IDLE, os.sched_param(0))
        else:
            os.setpriority(os.PRIO_PROCESS, proc.pid, os.getpriority(os.PRIO_PROCESS, 0) + 5)
        started.append(proc)
    return started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    for _ in range(args.rounds):
        for mode in ("none", "nice5", "idle"):
            procs = hogs(mode)
            time.sleep(0.3)
            try:
                late = rounds(args.seconds)
            finally:
                for proc in procs:
                    proc.kill()
                    proc.wait()
            p50 = statistics.median(late) * 1000
            p99 = late[int(len(late) * 0.99)] * 1000
            print(
                f"{mode:>5}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {late[-1] * 1000:.1f} ms"
                f" (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
