"""Access-control fixtures: an API over real HTTP and Redis with a small slice of the
real UN list (so each test loads in milliseconds), and keys that accepted the terms."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from lxml import etree
from redis.asyncio import Redis

from listd.access import KeyStore
from listd.api import create_app
from listd.api.middleware import ACCESS
from listd.audit import Entry, Journal
from listd.keys import Keys
from listd.settings import Settings
from listd.store import Store
from listd.sync import Syncer
from tests.conftest import un_file

Client = TestClient[Any, Any]

# QDi.312 (AAMIR ALI CHAUDHRY) and IRe.001 (7TH OF TIR) are what the tests screen for.
KEEP = {"QDi.312", "IRe.001"}


@pytest.fixture(scope="session")
def small_un() -> bytes:
    """The real 2026-05-08 UN list cut to 12 individuals and 4 entities."""
    root = etree.fromstring(un_file("2026-05-08").read_bytes())
    for group, tag, keep in (("INDIVIDUALS", "INDIVIDUAL", 12), ("ENTITIES", "ENTITY", 4)):
        parent = root.find(group)
        assert parent is not None
        records = parent.findall(tag)
        wanted = [r for r in records if r.findtext("REFERENCE_NUMBER") in KEEP]
        wanted += [r for r in records if r not in wanted][: keep - len(wanted)]
        for record in records:
            if record not in wanted:
                parent.remove(record)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@pytest.fixture
def asettings(settings: Settings) -> Settings:
    un = replace(settings.sources["un"], min_entities=0)
    return replace(settings, sources={"un": un})


@dataclass
class Api:
    """One API instance over real HTTP, and helpers to call it."""

    client: Client
    app: web.Application

    @property
    def store(self) -> KeyStore:
        return self.app[ACCESS].store

    @property
    def journal(self) -> Journal:
        return self.app[ACCESS].journal

    async def key(
        self, role: str, org: str = "bank-a", name: str | None = None, agree: bool = True
    ) -> str:
        """A new key (and user) of `role` in `org`, by default with the terms accepted."""
        secret = await self.store.create(name or f"{org} {role}", role, org=org)
        if agree:
            resp = await self.call("POST", "/v1/agreement", secret, json={"accept": True})
            assert resp.status == 200, await resp.text()
        return secret

    async def call(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def json(self, method: str, path: str, key: str | None = None, **kw: Any) -> Any:
        """Call and return the JSON body, asserting a 2xx answer."""
        resp = await self.call(method, path, key, **kw)
        assert resp.status < 300, f"{method} {path}: {resp.status} {await resp.text()}"
        return await resp.json()

    async def entries(self) -> list[Entry]:
        return await self.journal.read(0, 100_000)


MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture
def make_api(
    redis: Redis,
    asettings: Settings,
    small_un: bytes,
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> MakeApi:
    loaded: list[bool] = []

    async def make(*, load: bool = True, **changes: Any) -> Api:
        settings = replace(asettings, **changes)
        if load and not loaded:
            store = Store(redis, Keys(settings.key_prefix))
            await Syncer(settings, store).sync("un", raw=small_un)
            loaded.append(True)
        app = create_app(settings, redis, refresh_seconds=0.05)
        client = await aiohttp_client(app)
        for _ in range(200):  # the index loads in the background
            if not load or (await client.get("/readyz")).status == 200:
                break
            await asyncio.sleep(0.02)
        return Api(client, app)

    return make


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    return await make_api()


SCREEN = {"name": "Aamir Ali Chaudhry", "basis": "onboarding"}
