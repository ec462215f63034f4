"""The console's files (public, same-origin, never outside the package) and the API
routes added for it, on the real KZ AFM and UN lists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from yarl import URL

from listd.api.middleware import ACCESS
from tests.conftest import un_file
from tests.console.conftest import Console, MakeConsole, alert_for_a_listed_customer
from tests.helpers import auth
from tests.notifications.conftest import Receiver

KZ_PERSON = "kz-afm-tf:iin-930807351075"  # Абдибеков Асет Мейржанович


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get_json(
    http: aiohttp.ClientSession, console: Console, path: str, key: str, status: int = 200
) -> Any:
    async with http.get(console.base + path, headers=auth(key)) as resp:
        assert resp.status == status, await resp.text()
        return await resp.json()


async def test_console_files_need_no_key_and_are_not_journaled(
    console: Console, http: aiohttp.ClientSession
) -> None:
    journal = console.app[ACCESS].wiring.journal
    before = await journal.length()
    async with http.get(console.base + "/console", allow_redirects=False) as resp:
        assert resp.status == 308 and resp.headers["Location"] == "/console/"
    async with http.get(console.base + "/console/") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        assert 'src="js/app.js"' in await resp.text()
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    async with http.get(console.base + "/console/js/app.js") as resp:
        assert resp.status == 200 and resp.content_type == "text/javascript"
    async with http.get(console.base + "/console/i18n/kk.json") as resp:
        assert (await resp.json())["nav.screen"] == "Тексеру"
    for path in ("/console/nothing.js", "/console/%2e%2e/__init__.py", "/console/../access.py"):
        async with http.get(URL(console.base + path, encoded=True)) as resp:
            assert resp.status == 404, path
            assert (await resp.json())["error"] == "not_found"
    async with http.post(console.base + "/console/") as resp:
        assert resp.status == 405 and resp.headers["Allow"] == "GET, HEAD"
    assert await journal.length() == before
    # The API behind it still wants a key.
    async with http.get(console.base + "/v1/whoami") as resp:
        assert resp.status == 401


async def test_the_root_points_at_the_console(
    console: Console, http: aiohttp.ClientSession
) -> None:
    """`GET /` in a browser opens the console; other clients get JSON saying where it is."""
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    async with http.get(console.base + "/", headers=browser, allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/console/"
    async with http.get(console.base + "/", headers=browser) as resp:
        assert resp.status == 200 and 'src="js/app.js"' in await resp.text()
    async with http.get(console.base + "/", headers={"Accept": "application/json"}) as resp:
        body = await resp.json()
        assert resp.status == 200
        assert body["console"] == "/console/" and body["openapi"] == "/openapi.json"
    async with http.get(console.base + "/v1/whoami") as resp:
        assert resp.status == 401  # the API behind it is unchanged


async def test_whoami_names_the_caller_and_the_roles_it_holds(
    console: Console, http: aiohttp.ClientSession
) -> None:
    admin = await get_json(http, console, "/v1/whoami", await console.key("admin", "ops"))
    assert admin["role"] == "admin" and admin["org"] == "ops"
    assert admin["roles"] == ["screener", "subscriber", "admin"]  # not auditor, not operator
    auditor = await get_json(http, console, "/v1/whoami", await console.key("auditor"))
    assert auditor["roles"] == ["auditor"] and auditor["name"] == "bank-a auditor"
    unagreed = await console.key("screener", agree=False)
    refused = await get_json(http, console, "/v1/whoami", unagreed, status=403)
    assert refused["error"] == "agreement_required"


async def test_recent_deltas_come_newest_first_with_filters(
    console: Console, http: aiohttp.ClientSession
) -> None:
    key = await console.key("screener")
    result = await console.sync("un", un_file("2026-02-27"))
    assert result.deltas == {"added": 4, "amended": 2, "removed": 1}
    top = await get_json(http, console, "/v1/deltas/recent?limit=7", key)
    assert top["last_seq"] == result.last_seq
    assert [d["seq"] for d in top["deltas"]] == list(
        range(result.last_seq, result.last_seq - 7, -1)
    )
    assert {d["entity_id"] for d in top["deltas"] if d["op"] == "added"} == {
        f"un:SDi.{n:03d}" for n in (7, 8, 9, 10)
    }
    removed = next(d for d in top["deltas"] if d["op"] == "removed")
    assert removed["entity_id"] == "un:IQi.074" and removed["name"]
    amended = {d["entity_id"]: d for d in top["deltas"] if d["op"] == "amended"}
    assert set(amended) == {"un:HTi.006", "un:SOi.022"}
    assert all(d["changed"] and "entity" not in d for d in amended.values())

    only_added = await get_json(http, console, "/v1/deltas/recent?op=added&source=un&limit=5", key)
    rows = only_added["deltas"]
    assert [d["op"] for d in rows] == ["added"] * 5 and rows[0]["seq"] > rows[-1]["seq"]
    kz = await get_json(http, console, "/v1/deltas/recent?source=kz-afm-tf&limit=3", key)
    assert {d["source"] for d in kz["deltas"]} == {"kz-afm-tf"}
    program = top["deltas"][0]["programs"][0]
    tagged = await get_json(http, console, f"/v1/deltas/recent?program={program}&limit=50", key)
    assert tagged["deltas"] and all(program in d["programs"] for d in tagged["deltas"])

    # Paging: `next` continues exactly where the page stopped.
    first = await get_json(http, console, "/v1/deltas/recent?limit=3", key)
    second = await get_json(http, console, f"/v1/deltas/recent?limit=3&before={first['next']}", key)
    seqs = [d["seq"] for d in first["deltas"] + second["deltas"]]
    assert seqs == list(range(result.last_seq, result.last_seq - 6, -1))
    bad = await get_json(http, console, "/v1/deltas/recent?op=deleted", key, status=400)
    assert bad["field"] == "op"


async def test_an_entity_history_lists_its_deltas_and_is_journaled_with_its_basis(
    console: Console, http: aiohttp.ClientSession
) -> None:
    key = await console.key("screener")
    result = await console.sync("un", un_file("2026-02-27"))
    path = "/v1/entities/un:HTi.006/history"
    missing = await get_json(http, console, path, key, status=400)
    assert missing["field"] == "basis"
    found = await get_json(http, console, f"{path}?basis=periodic_review", key)
    assert found["listed"] is True and found["complete"] is True
    assert [h["op"] for h in found["history"]] == ["amended", "added"]
    amended = found["history"][0]
    assert amended["seq"] <= result.last_seq and amended["version"] == result.version
    assert amended["changes"] and set(amended["changes"]) == set(amended["changed"])
    gone = await get_json(http, console, "/v1/entities/un:IQi.074/history?basis=onboarding", key)
    assert gone["listed"] is False and [h["op"] for h in gone["history"]] == ["removed", "added"]
    entries = [e.fields for e in await console.app[ACCESS].wiring.journal.read(0, 10_000)]
    read = [
        e for e in entries if e.get("route") == "/v1/entities/{id}/history" and e["status"] == 200
    ]
    assert read[0]["basis"] == "periodic_review"
    assert read[0]["query"] == {"id": "un:HTi.006", "history": True} and read[0]["matches"] == 2


async def test_alerts_show_the_organisation_s_blocking_alerts_with_delivery(
    make_console: MakeConsole, http: aiohttp.ClientSession
) -> None:
    console = await make_console(dispatch=True)
    subscriber = await console.key("subscriber", "bank-a")
    other = await console.key("subscriber", "bank-b")
    rx = Receiver()
    await rx.start()
    try:
        sub = await alert_for_a_listed_customer(console, http, subscriber, rx)
        found = await get_json(http, console, "/v1/alerts", subscriber)
    finally:
        await rx.stop()
    [alert] = found["alerts"]
    assert alert["type"] == "blocking.required" and alert["subscription_id"] == sub["id"]
    assert alert["data"]["customer"]["reference"] == "C-001"
    assert alert["data"]["designation"]["entity_id"] == KZ_PERSON
    assert alert["data"]["match"]["score"] >= 0.8 and alert["attempts"] >= 1
    [fm1] = alert["data"]["fm1"]  # a KZ TF-list match: FM-1 code 6040
    assert fm1["code"] == "6040" and fm1["programs"] == ["KZ-TF"]
    assert [e["id"] for e in rx.of_type("blocking.required")] == [alert["event_id"]]
    assert (await get_json(http, console, "/v1/alerts", other))["alerts"] == []
    screener = await console.key("screener")
    refused = await get_json(http, console, "/v1/alerts", screener, status=403)
    assert refused["error"] == "forbidden"
