"""Fixtures for asset-blocking notifications: real webhook receivers, the API with the
dispatcher wired in, tiny retry timings, and memoised list parsing (syncs stay real)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

import listd.pipeline.ingest
from listd.access import KeyStore
from listd.model import Entity, Name, entity_to_json
from listd.notifications.config import WebhookConfig
from listd.notifications.delivery import Policy
from listd.notifications.routes import BLOCKING
from listd.notifications.signing import verify
from listd.pipeline import delta
from listd.pipeline.ingest import Parsed
from listd.pipeline.store import Store, now_iso
from listd.pipeline.sync import Syncer
from listd.settings import Settings
from tests.conftest import MakeApi, un_file
from tests.helpers import auth

Client = TestClient[Any, Any]

_PARSED: dict[tuple[str, str], Parsed] = {}
_process = listd.pipeline.ingest.process


def _cached_process(scr: Any, raw: bytes, source: str | None = None) -> Parsed:
    # Validating and parsing a UN file takes seconds; the result is immutable.
    key = (hashlib.sha256(raw).hexdigest(), source or "")
    if key not in _PARSED:
        _PARSED[key] = _process(scr, raw, source)
    return _PARSED[key]


@pytest.fixture(autouse=True)
def fast_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listd.pipeline.ingest, "process", _cached_process)


async def sync(redis: Redis, settings: Settings, date: str) -> Any:
    store = Store(redis, settings.keys)
    return await Syncer(settings, store).sync("un", raw=un_file(date).read_bytes())


@dataclass
class Receiver:
    """A webhook receiver as a bank would write one: verifies the signature, drops
    duplicates by idempotency key, answers what the test scripted."""

    secret: str = ""
    script: list[int] = field(default_factory=list)  # statuses to answer first, then 200
    headers: dict[int, dict[str, str]] = field(default_factory=dict)  # extra, by status
    delay: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)  # accepted, first copies
    requests: list[dict[str, Any]] = field(default_factory=list)  # every request
    seen: set[str] = field(default_factory=set)
    duplicates: int = 0
    bad_signatures: int = 0
    server: TestServer | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            {"at": time.monotonic(), "headers": dict(request.headers), "body": body}
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.script:
            status = self.script.pop(0)
            if status != 200:
                return web.Response(status=status, headers=self.headers.get(status))
        if self.secret and not verify(
            self.secret, request.headers.get("Listd-Signature", ""), body
        ):
            self.bad_signatures += 1
            return web.Response(status=401)
        key = request.headers["Listd-Idempotency-Key"]
        if key in self.seen:
            self.duplicates += 1
            return web.Response(status=200, text="duplicate")
        self.seen.add(key)
        self.events.append(json.loads(body))
        return web.Response(status=200)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.server = TestServer(app, host="127.0.0.1", port=self.port or None)
        await self.server.start_server()
        self.port = self.server.port or 0

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[[], Awaitable[Receiver]]]:
    made: list[Receiver] = []

    async def make() -> Receiver:
        rx = Receiver()
        await rx.start()
        made.append(rx)
        return rx

    yield make
    for rx in made:
        await rx.stop()


@pytest.fixture
def config() -> WebhookConfig:
    return WebhookConfig(
        allow_hosts=("127.0.0.1:1-65535",),
        delivery=Policy(
            timeout=2.0,
            backoff_base=0.05,
            backoff_max=0.2,
            retry_window=30.0,
            idle_poll=0.05,
        ),
        lease_ttl=1.0,
        poll_interval=0.05,
    )


@pytest.fixture
async def keys(redis: Redis, settings: Settings) -> dict[str, str]:
    ks = KeyStore(redis, settings.keys)
    keys = {
        "bank-a": await ks.create("bank-a webhooks", "subscriber", org="bank-a"),
        "bank-b": await ks.create("bank-b webhooks", "subscriber", org="bank-b"),
        "screener": await ks.create("bank-a screening", "screener", org="bank-a"),
    }
    for secret in keys.values():  # a new key can do nothing before it accepts the terms
        await ks.accept_agreement(secret)
    return keys


@pytest.fixture
async def make_api(make_api: MakeApi, config: WebhookConfig) -> Callable[..., Awaitable[Client]]:
    """The shared `make_api`, running the dispatcher (by default) with the test receivers'
    configuration; the lists are synced by each test."""

    async def make(*, dispatch: bool = True, cfg: WebhookConfig | None = None) -> Client:
        api = await make_api(load=False, dispatch=dispatch, webhooks=cfg or config)
        dispatcher = api.app[BLOCKING].dispatcher
        if dispatcher is not None:
            await asyncio.wait_for(dispatcher.leading.wait(), 60)  # a bound, not a figure
        return api.client

    return make


@pytest.fixture
async def api(make_api: Callable[..., Awaitable[Client]]) -> Client:
    return await make_api()


async def subscribe(
    api: Client, key: str, rx: Receiver, *, ping: bool = True, **fields: Any
) -> dict[str, Any]:
    """Create a subscription for `rx` (and activate it with a ping)."""
    resp = await api.post("/v1/subscriptions", json={"url": rx.url, **fields}, headers=auth(key))
    assert resp.status == 201, await resp.text()
    sub: dict[str, Any] = await resp.json()
    rx.secret = sub["secret"]
    if ping:
        pinged = await api.post(f"/v1/subscriptions/{sub['id']}/ping", headers=auth(key))
        assert pinged.status == 200, await pinged.text()
        rx.events.clear()  # the ping itself
    return sub


async def upload(
    api: Client, key: str, sub_id: str, rows: list[dict[str, Any]], *, patch: bool = False
) -> dict[str, Any]:
    body = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
    method = api.patch if patch else api.put
    resp = await method(
        f"/v1/subscriptions/{sub_id}/watchlist",
        data=body,
        headers={**auth(key), "Content-Type": "application/x-ndjson"},
    )
    assert resp.status == 200, await resp.text()
    report: dict[str, Any] = await resp.json()
    return report


async def screened(redis: Redis, settings: Settings, sub_id: str) -> bool:
    """No customer of `sub_id` waits for screening any more."""
    pending = await redis.scard(settings.keys.watchlist_pending(sub_id))
    return int(pending) == 0


# Customers' names the partition and slice tests designate one by one (every subscription
# holds a customer of each).
PLANTED = [
    "Aslanbek Tokhtarovich Zhumagaliev",
    "Gulnara Serikovna Abdrakhmanova",
    "Dauren Kairatovich Nurmukhambetov",
    "Saltanat Yerlanovna Kuanyshbayeva",
    "Timur Bolatovich Seitkaliyev",
    "Aigerim Maratovna Ospanova",
]


def person(number: int, name: str, **extra: Any) -> Entity:
    return Entity(
        id=f"un:QDi.{number}",
        source="un",
        schema="person",
        reference=f"QDi.{number}",
        names=(Name(name, "primary"),),
        list_type="Al-Qaida",
        programs=("UN-1267",),
        **extra,
    )


async def designate(
    redis: Redis,
    settings: Settings,
    *entities: Entity,
    remove: tuple[str, ...] = (),
    source: str = "un",
) -> list[int]:
    """Publish `entities` (added or amended) and removals the way a sync does: a new
    snapshot, then one activation appending the deltas. Returns their sequence numbers."""
    store = Store(redis, settings.keys)
    current = await store.current_version(source)
    old = {e.id: e for e in await store.entities(source, current)} if current else {}
    new = {k: e for k, e in old.items() if k not in remove} | {e.id: e for e in entities}
    snapshot = await store.write_snapshot(source, new.values())
    plan = delta.plan(
        {k: e.content_hash() for k, e in old.items()}, {k: e.content_hash() for k, e in new.items()}
    )
    new_json = {k: entity_to_json(e).decode() for k, e in new.items()}
    old_json = {k: entity_to_json(e).decode() for k, e in old.items()}
    payloads = delta.payloads(
        source, snapshot.version, current, now_iso(), plan, new_json, old_json
    )
    first, last = await store.activate(source, snapshot, current, {"status": "ok"}, payloads)
    await store.announce(source, snapshot.version, first, last)
    return list(range(first, last + 1)) if first else []


ROOT = Path(__file__).resolve().parents[2]
StartWorker = Callable[..., Awaitable[asyncio.subprocess.Process]]


@pytest.fixture
async def start_dispatcher(settings: Settings, tmp_path: Path) -> AsyncIterator[StartWorker]:
    """Starts dispatcher workers as processes of their own (dispatcher_proc.py) on the
    test's store, each logging to a file of the test's; `start(ready_within, **env)` returns
    once the worker says it leads. Whatever is still running at the end is killed."""
    procs: list[asyncio.subprocess.Process] = []
    started = iter(range(1_000_000))  # log names, also for workers started together

    async def start(ready_within: float = 30, **extra: str) -> asyncio.subprocess.Process:
        env = {
            **os.environ,
            "LISTD_REDIS_URL": str(settings.redis_url),
            "LISTD_KEY_PREFIX": settings.key_prefix,
            "LISTD_REDIS_CLUSTER": "1" if settings.redis_cluster else "0",
            "PYTHONPATH": str(ROOT),
            **extra,
        }
        with (tmp_path / f"worker-{next(started)}.log").open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(Path(__file__).with_name("dispatcher_proc.py")),
                cwd=ROOT,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        procs.append(proc)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), ready_within)
        assert line.strip() == b"leading"
        return proc

    yield start
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
