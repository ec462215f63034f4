"""A list imported from a file serves and is named everywhere; readiness means "can screen"."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from listd.access import KeyStore
from listd.api import create_app
from listd.keyspace import Keys
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings, SourceConfig
from tests.conftest import DATA, un_file

Client = TestClient[Any, Any]
KZ = DATA / "kz" / "afm-terror-extremism-active-2022-10-03.xml"


def with_kz(settings: Settings) -> Settings:
    # As packaged without LISTD_AFM_TOKEN: the scheduler never polls it.
    kz = SourceConfig("kz-afm-tf", "kz-afm-tf", url="http://127.0.0.1:9/x", enabled=False)
    return replace(settings, sources={"un": settings.sources["un"], "kz-afm-tf": kz})


async def started(
    aiohttp_client: Callable[..., Awaitable[Client]], redis: Redis, settings: Settings
) -> tuple[Client, dict[str, str]]:
    ks = KeyStore(redis, Keys(settings.key_prefix))
    key = await ks.create("t", "screener")
    await ks.accept_agreement(key)
    client = await aiohttp_client(create_app(settings, redis, refresh_seconds=0.05))
    return client, {"Authorization": f"Bearer {key}"}


async def ready(client: Client) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/readyz")
    body: dict[str, Any] = await resp.json()
    return resp.status, body


async def test_an_imported_list_is_consulted_named_and_shown_as_imported(
    redis: Redis, settings: Settings, aiohttp_client: Callable[..., Awaitable[Client]]
) -> None:
    s = with_kz(settings)
    syncer = Syncer(s, Store(redis, Keys(s.key_prefix)))
    await syncer.sync("un", raw=un_file("2026-05-08").read_bytes())
    done = await syncer.sync("kz-afm-tf", raw=KZ.read_bytes(), origin=str(KZ))
    assert done.outcome == "updated" and done.entities == 1620
    client, headers = await started(aiohttp_client, redis, s)
    for _ in range(200):
        if len((await ready(client))[1]["versions"]) == 2:
            break
        await asyncio.sleep(0.05)

    body = {"name": "Абдибеков Асет Мейржанович", "basis": "onboarding"}
    hit = await (await client.post("/v1/screen", json=body, headers=headers)).json()
    assert hit["matches"][0]["id"] == "kz-afm-tf:iin-930807351075"
    assert set(hit["list_versions"]) == {"un", "kz-afm-tf"}
    # A "no match" proves which lists were consulted: the imported one is among them.
    nobody = {"name": "Margaret Hilda Thatcher", "basis": "onboarding"}
    clear = await (await client.post("/v1/screen", json=nobody, headers=headers)).json()
    assert clear["matches"] == [] and set(clear["list_versions"]) == {"un", "kz-afm-tf"}
    assert "warnings" not in clear
    batch = {"basis": "onboarding", "queries": [{"name": "Margaret Hilda Thatcher"}]}
    many = await (await client.post("/v1/screen/batch", json=batch, headers=headers)).json()
    assert set(many["list_versions"]) == {"un", "kz-afm-tf"}

    rows = (await (await client.get("/v1/sources", headers=headers)).json())["sources"]
    kz = next(r for r in rows if r["name"] == "kz-afm-tf")
    assert kz["enabled"] is False  # not polled...
    assert kz["status"] == "ok"  # ...but serving, never "disabled"
    assert kz["origin"] == "imported" and kz["imported_from"] == KZ.name
    assert kz["entities"] == 1620 and kz["loaded_version"] == kz["version"]
    assert kz["age_minutes"] is not None and kz["age_minutes"] < 60
    un = next(r for r in rows if r["name"] == "un")
    assert un["origin"] == "imported" and un["imported_from"] is None  # raw bytes, no file


async def test_a_disabled_source_without_data_is_not_consulted(
    redis: Redis, settings: Settings, aiohttp_client: Callable[..., Awaitable[Client]]
) -> None:
    s = with_kz(settings)
    await Syncer(s, Store(redis, Keys(s.key_prefix))).sync(
        "un", raw=un_file("2026-05-08").read_bytes()
    )
    client, headers = await started(aiohttp_client, redis, s)
    for _ in range(200):
        if (await ready(client))[0] == 200:
            break
        await asyncio.sleep(0.05)
    body = {"name": "Margaret Hilda Thatcher", "basis": "onboarding"}
    answer = await (await client.post("/v1/screen", json=body, headers=headers)).json()
    assert answer["list_versions"].keys() == {"un"} and "warnings" not in answer
    rows = (await (await client.get("/v1/sources", headers=headers)).json())["sources"]
    kz = next(r for r in rows if r["name"] == "kz-afm-tf")
    assert kz["status"] == "never" and kz["origin"] is None and kz["version"] is None


async def test_readyz_is_not_ready_while_no_list_is_loaded(
    redis: Redis, settings: Settings, aiohttp_client: Callable[..., Awaitable[Client]]
) -> None:
    client, headers = await started(aiohttp_client, redis, settings)
    for _ in range(200):  # the initial load from the (empty) store
        status, body = await ready(client)
        if not any("initial load" in p for p in body["problems"]):
            break
        await asyncio.sleep(0.05)
    assert status == 503 and body["ready"] is False
    assert any("no list is loaded" in p for p in body["problems"]), body
    screened = await client.post(
        "/v1/screen", json={"name": "x y", "basis": "onboarding"}, headers=headers
    )
    assert screened.status == 503  # what readiness now predicts
    await Syncer(settings, Store(redis, Keys(settings.key_prefix))).sync(
        "un", raw=un_file("2026-05-08").read_bytes()
    )
    for _ in range(200):
        status, body = await ready(client)
        if status == 200:
            break
        await asyncio.sleep(0.05)
    assert status == 200 and body["ready"] is True and body["problems"] == []
