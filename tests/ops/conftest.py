"""Real `listd run` processes on the test session's Redis, for fail-over and drain tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from listd.access import KeyStore
from listd.settings import Settings
from tests.conftest import SourceServer

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Daemon:
    """One `listd run` child process."""

    name: str
    port: int
    log: Path
    proc: asyncio.subprocess.Process
    http: aiohttp.ClientSession
    started: float = field(default_factory=time.monotonic)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def ready(self) -> dict[str, Any] | None:
        """/readyz's body, or None while the process does not answer."""
        try:
            async with self.http.get(
                self.url("/readyz"), timeout=aiohttp.ClientTimeout(total=2)
            ) as resp:
                body: dict[str, Any] = await resp.json()
                return body
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def role(self) -> str | None:
        body = await self.ready()
        return None if body is None or "role" not in body else str(body["role"]["role"])

    def events(self) -> list[dict[str, Any]]:
        """The structured log lines written so far (JSON, one per line)."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def logged(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e.get("event") == event]

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    async def wait(self, seconds: float) -> int:
        return await asyncio.wait_for(self.proc.wait(), seconds)


Start = Callable[..., Awaitable[Daemon]]


def write_sources(path: Path, url: str, **extra: Any) -> Path:
    """A sources file with one `un` source polling `url`."""
    table = {
        "kind": "un",
        "url": url,
        "interval_minutes": 0.05,  # every 3 s: the new file is picked up quickly
        "timeout": 60,
        "retries": 1,
        "retry_backoff": 0.1,
        "min_entities": 500,
        **extra,
    }
    lines = ["[sources.un]"] + [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so a fixture can tell that its test failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.fixture
async def start_daemon(
    request: pytest.FixtureRequest,
    settings: Settings,
    tmp_path: Path,
    source_server: SourceServer,
    http: aiohttp.ClientSession,
) -> AsyncIterator[Start]:
    """start(name, **env) runs `listd run` with its own port and log file, on this test's
    Redis prefix and a sources file pointing at the test's SourceServer; it returns once
    the process answers, or at once with `wait=False`."""
    sources = write_sources(tmp_path / "sources.toml", source_server.url("/un.xml"))
    made: list[Daemon] = []

    async def start(name: str, *, wait: bool = True, **env: str) -> Daemon:
        port = free_port()
        log = tmp_path / f"{name}.log"
        full = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "LISTD_REDIS_URL": str(settings.redis_url),
            "LISTD_KEY_PREFIX": settings.key_prefix,
            "LISTD_REDIS_CLUSTER": "1" if settings.redis_cluster else "0",
            "LISTD_SOURCES": str(sources),
            "LISTD_LISTEN": f"127.0.0.1:{port}",
            "LISTD_STATE_DIR": str(tmp_path / f"state-{name}"),
            "LISTD_LOG_FORMAT": "json",
            "LISTD_WEBHOOK_ALLOW_HOSTS": "127.0.0.1:1-65535",
            **env,
        }
        full.pop("NOTIFY_SOCKET", None)
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "listd", "run",
                cwd=ROOT, env=full, stdout=out, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        daemon = Daemon(name, port, log, proc, http)
        made.append(daemon)
        if not wait:  # the test watches the start itself
            return daemon
        deadline = time.monotonic() + 60
        while await daemon.ready() is None:
            if proc.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"{name} did not start:\n{log.read_text()[-3000:]}")
            await asyncio.sleep(0.1)
        return daemon

    yield start
    for daemon in made:
        if daemon.proc.returncode is None:
            daemon.proc.send_signal(signal.SIGKILL)
            await daemon.proc.wait()
    called = request.node.stash.get(_REPORTS, {}).get("call")
    if called is not None and called.failed:
        # The daemons' own logs are what explain a timed-out wait in CI.
        for daemon in made:
            print(f"--- {daemon.name}.log (last 6000 characters) ---")
            print(daemon.log.read_text(errors="replace")[-6000:])


async def leader_of(daemons: list[Daemon]) -> list[Daemon]:
    return [d for d in daemons if d.proc.returncode is None and await d.role() == "leader"]


@pytest.fixture
async def subscriber_key(redis: Redis, settings: Settings) -> str:
    ks = KeyStore(redis, settings.keys)
    key = await ks.create("bank-a webhooks", "subscriber", org="bank-a")
    await ks.accept_agreement(key)
    return key
