"""Every source kind through the one sync path, HTML discovery, programmes and filters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from listd.access import KeyStore
from listd.api import create_app
from listd.errors import SourceError
from listd.keyspace import Keys
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings, SourceConfig
from tests.conftest import DATA, SourceServer, un_file

Client = TestClient[Any, Any]

KZ = DATA / "kz" / "afm-terror-extremism-active-2022-10-03.xml"
OFAC = DATA / "ofac" / "ofac-consolidated-nonsdn-2025-06-30.xml"
IRGC = DATA / "ofac" / "ofac-enhanced-IRGC-2024-08-28.xml"


def all_sources(settings: Settings) -> Settings:
    configs = {
        "un": settings.sources["un"],
        "kz-afm-tf": SourceConfig("kz-afm-tf", "kz-afm-tf", url="http://127.0.0.1:9/x"),
        "ofac-cons": SourceConfig("ofac-cons", "ofac", url="http://127.0.0.1:9/x"),
        "ofac": SourceConfig("ofac", "ofac", url="http://127.0.0.1:9/x"),
    }
    return replace(settings, sources=configs)


async def load_all(redis: Redis, settings: Settings) -> Store:
    store = Store(redis, Keys(settings.key_prefix))
    syncer = Syncer(settings, store)
    for name, path in (
        ("un", un_file("2026-05-08")),
        ("kz-afm-tf", KZ),
        ("ofac-cons", OFAC),
        ("ofac", IRGC),
    ):
        result = await syncer.sync(name, raw=path.read_bytes())
        assert result.outcome == "updated", name
    return store


async def test_every_kind_syncs_into_its_own_namespace(redis: Redis, settings: Settings) -> None:
    s = all_sources(settings)
    store = await load_all(redis, s)
    counts = {name: len(await store.entities(name)) for name in s.sources}
    assert counts == {"un": 1009, "kz-afm-tf": 1620, "ofac-cons": 443, "ofac": 293}
    person = await store.entity("kz-afm-tf:iin-930807351075")
    assert person is not None and person.source == "kz-afm-tf"
    assert person.primary_name.startswith("Абдибеков Асет")
    assert (await store.entity("ofac-cons:9639")) is not None  # restamped from kind "ofac"
    assert (await store.entity("ofac:9639")) is None


@pytest.fixture
async def api(
    redis: Redis, aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings
) -> tuple[Client, str]:
    s = all_sources(settings)
    await load_all(redis, s)
    ks = KeyStore(redis, Keys(s.key_prefix))
    key = await ks.create("t", "screener")
    await ks.accept_agreement(key)  # a new key can do nothing before it accepts the terms
    client = await aiohttp_client(create_app(s, redis, refresh_seconds=0.05))
    for _ in range(200):
        ready = await (await client.get("/readyz")).json()
        if len(ready["versions"]) == 4:
            break
        import asyncio

        await asyncio.sleep(0.05)
    return client, key


async def test_programs_list_counts(api: tuple[Client, str]) -> None:
    client, key = api
    resp = await client.get("/v1/programs", headers={"Authorization": f"Bearer {key}"})
    rows = {r["program"]: r for r in (await resp.json())["programs"]}
    assert rows["UN-1267"]["sources"] == {"un": 343}
    assert rows["KZ-TF"]["entities"] == 1620
    assert rows["UN-2231"]["sources"]["un"] == 121
    assert any(tag.startswith("OFAC-") for tag in rows)
    # The legal basis and FM-1 codes alerts carry (scrapers.programmes.PROGRAMMES).
    assert rows["UN-1267"]["legal_basis"] == "UN Security Council resolution 1267 (Al-Qaida)"
    assert rows["UN-1267"]["fm1"] == {
        "regime": "tf",
        "required": "6040",
        "lifted": {"partial": "6064", "full": "6065"},
    }
    assert rows["UN-2231"]["fm1"]["required"] == "6061"
    assert "Article 12" in rows["KZ-TF"]["legal_basis"] and rows["KZ-TF"]["fm1"]["regime"] == "tf"
    assert rows["UN-1518"]["fm1"] is None
    assert all(r["fm1"] is None for tag, r in rows.items() if tag.startswith("OFAC-"))


async def test_screen_filters_by_source_and_programme(api: tuple[Client, str]) -> None:
    client, key = api
    headers = {"Authorization": f"Bearer {key}"}
    body = {"name": "Абдибеков Асет Мейржанович", "basis": "onboarding"}
    anywhere = await (await client.post("/v1/screen", json=body, headers=headers)).json()
    assert anywhere["matches"][0]["id"] == "kz-afm-tf:iin-930807351075"
    assert set(anywhere["list_versions"]) == {"un", "kz-afm-tf", "ofac-cons", "ofac"}
    only_un = await (
        await client.post("/v1/screen", json={**body, "sources": ["un"]}, headers=headers)
    ).json()
    assert all(m["source"] == "un" for m in only_un["matches"])
    assert set(only_un["list_versions"]) == {"un"}
    by_program = await (
        await client.post("/v1/screen", json={**body, "programs": ["KZ-TF"]}, headers=headers)
    ).json()
    assert by_program["matches"][0]["id"] == "kz-afm-tf:iin-930807351075"
    other = await (
        await client.post("/v1/screen", json={**body, "programs": ["UN-1718"]}, headers=headers)
    ).json()
    assert all("UN-1718" in m["programs"] for m in other["matches"])
    unknown = await client.post("/v1/screen", json={**body, "sources": ["eu"]}, headers=headers)
    assert unknown.status == 404 and (await unknown.json())["field"] == "sources"


UN_PAGE = b"""<!doctype html><html><head><title>UN Security Council Consolidated List</title>
<link rel="stylesheet" href="/css/site.css"></head><body>
<p>The list is available in <a href="/resources/htm/en/consolidatedLegacyByNAME.html">HTML</a>,
<a href="/redirect/blob/consolidated.xml">XML</a> and <a href="/resources/pdf/en/list.pdf">PDF</a>.
</p></body></html>"""


async def test_html_discovery_path(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    source_server.put("/sanctions/list", UN_PAGE)
    source_server.put("/blob/consolidated.xml", un_file("2026-05-08").read_bytes())
    cfg = replace(
        settings.sources["un"],
        url=None,
        page_url=source_server.url("/sanctions/list"),
        link_pattern=r"consolidated\.xml$",
        retries=0,
    )
    s = replace(settings, sources={"un": cfg})
    store = Store(redis, Keys(s.key_prefix))
    async with aiohttp.ClientSession() as session:
        result = await Syncer(s, store, session).sync("un")
        assert result.outcome == "updated" and result.entities == 1009
        assert [r.path for r in source_server.requests] == [
            "/sanctions/list",
            "/redirect/blob/consolidated.xml",
            "/blob/consolidated.xml",
        ]
        # A page that no longer links the file is a clear failure; the list keeps serving.
        source_server.put("/sanctions/list", UN_PAGE.replace(b"consolidated.xml", b"moved.txt"))
        with pytest.raises(SourceError, match="no link"):
            await Syncer(s, store, session).sync("un")
    assert len(await store.entities("un")) == 1009
