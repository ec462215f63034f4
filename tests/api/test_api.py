"""The HTTP API over a real server, real Redis and the real UN list."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from listd.api import create_app
from listd.keyspace import Keys
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings
from tests.conftest import un_file
from tests.helpers import auth

Client = TestClient[Any, Any]


@pytest.fixture
async def loaded(redis: Redis, settings: Settings) -> Store:
    store = Store(redis, Keys(settings.key_prefix))
    await Syncer(settings, store).sync("un", raw=un_file("2026-05-08").read_bytes())
    return store


@pytest.fixture
async def api(
    redis: Redis,
    aiohttp_client: Callable[..., Awaitable[Client]],
    settings: Settings,
    loaded: Store,
) -> AsyncIterator[Client]:
    client = await aiohttp_client(create_app(settings, redis, refresh_seconds=0.05))
    for _ in range(100):  # the index loads in the background
        if (await client.get("/readyz")).status == 200:
            break
        import asyncio

        await asyncio.sleep(0.05)
    yield client


async def screen(api: Client, key: str, **body: Any) -> dict[str, Any]:
    resp = await api.post("/v1/screen", json={"basis": "onboarding", **body}, headers=auth(key))
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def test_screen_primary_name(api: Client, keys: dict[str, str]) -> None:
    data = await screen(api, keys["screener"], name="Aamir Ali Chaudhry")
    top = data["matches"][0]
    assert top["id"] == "un:QDi.312"
    assert top["score"] == 1.0
    assert top["reference"] == "QDi.312"
    assert top["source"] == "un" and top["program"] == "UN-1267"
    assert top["name"] == "AAMIR ALI CHAUDHRY"
    assert top["explanation"]["name"]["rule"] == "exact"
    assert data["list_versions"]["un"]
    assert len(data["query_id"]) == 32


async def test_screen_alias_any_case_any_order(api: Client, keys: dict[str, str]) -> None:
    # "Aamir Ali Chaudary" is a good-quality alias of QDi.312.
    data = await screen(api, keys["screener"], name="chaudary AAMIR ali")
    assert data["matches"][0]["id"] == "un:QDi.312"
    assert data["matches"][0]["matched_name"] == "Aamir Ali Chaudary"


async def test_screen_entity_by_name_and_type_filter(api: Client, keys: dict[str, str]) -> None:
    data = await screen(api, keys["screener"], name="7th of Tir", type="entity")
    assert data["matches"][0]["id"] == "un:IRe.001"
    none = await screen(api, keys["screener"], name="7th of Tir", type="person", threshold=0.9)
    assert all(m["id"] != "un:IRe.001" for m in none["matches"])


async def test_screen_birth_date_moves_score(api: Client, keys: dict[str, str]) -> None:
    same = await screen(api, keys["screener"], name="Aamir Ali Chaudhry", birth_date="1986-08-03")
    other = await screen(
        api, keys["screener"], name="Aamir Ali Chaudhry", birth_date="1950-01-01", threshold=0.5
    )
    assert same["matches"][0]["explanation"]["birth_date"]["effect"] > 0
    hit = next(m for m in other["matches"] if m["id"] == "un:QDi.312")
    assert hit["score"] < 1.0
    assert hit["explanation"]["birth_date"]["effect"] < 0


async def test_birth_date_as_year_and_month_is_accepted(api: Client, keys: dict[str, str]) -> None:
    """YYYY-MM, the form the console's hint offers, in a single screening and a batch."""
    one = await screen(api, keys["screener"], name="Aamir Ali Chaudhry", birth_date="1986-08")
    assert one["matches"][0]["id"] == "un:QDi.312"
    assert one["matches"][0]["explanation"]["birth_date"]["effect"] > 0
    resp = await api.post(
        "/v1/screen/batch",
        json={
            "basis": "onboarding",
            "queries": [{"name": "Aamir Ali Chaudhry", "birth_date": "1986-08"}],
        },
        headers=auth(keys["screener"]),
    )
    assert resp.status == 200, await resp.text()
    future = await api.post(
        "/v1/screen/batch",
        json={"basis": "onboarding", "queries": [{"name": "x", "birth_date": "2999-01"}]},
        headers=auth(keys["screener"]),
    )
    assert (await future.json())["field"] == "queries[0].birth_date"


async def test_screen_unknown_person_has_no_match(api: Client, keys: dict[str, str]) -> None:
    data = await screen(api, keys["screener"], name="Margaret Hilda Thatcher")
    assert data["matches"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 42}, "name"),
        ({"name": "x", "type": "ship"}, "type"),
        ({"name": "x", "birth_date": "1986-02-30"}, "birth_date"),
        ({"name": "x", "birth_date": 1986}, "birth_date"),
        ({"name": "x", "limit": "ten"}, "limit"),
        ({"name": "x", "limit": 0}, "limit"),
        ({"name": "x", "threshold": 1.5}, "threshold"),
        ({"name": "x", "threshold": True}, "threshold"),
        ({"name": "x", "birthdate": "1986"}, "birthdate"),
        ({"name": "x", "sources": "un"}, "sources"),
        # Surely mistakes: a birth date in the future, a name with no letter or digit.
        ({"name": "x", "birth_date": "2999"}, "birth_date"),
        ({"name": "x", "birth_date": "2999-01"}, "birth_date"),
        ({"name": "x", "birth_date": "2999-01-31"}, "birth_date"),
        ({"name": "--- ?"}, "name"),
        ({"name": "·—"}, "name"),
    ],
)
async def test_screen_bad_input_names_the_field(
    api: Client, keys: dict[str, str], body: dict[str, Any], field: str
) -> None:
    resp = await api.post(
        "/v1/screen", json={"basis": "onboarding", **body}, headers=auth(keys["screener"])
    )
    assert resp.status == 400
    data = await resp.json()
    assert data["field"] == field and data["error"] == "bad_request" and data["message"]


async def test_screen_bad_json(api: Client, keys: dict[str, str]) -> None:
    for raw in (b"{not json", b"[1,2]", b"\xff\xfe", b""):
        resp = await api.post("/v1/screen", data=raw, headers=auth(keys["screener"]))
        assert resp.status == 400, raw
        assert (await resp.json())["field"] == "body"


async def test_body_too_large_is_413_json(api: Client, keys: dict[str, str]) -> None:
    resp = await api.post(
        "/v1/screen",
        data=io.BytesIO(b"{" + b" " * (2 * 1024 * 1024) + b"}"),
        headers=auth(keys["screener"]),
    )
    assert resp.status == 413
    assert (await resp.json())["error"]


async def test_auth_required(api: Client, keys: dict[str, str]) -> None:
    assert (await api.post("/v1/screen", json={"name": "x"})).status == 401
    bad = await api.get("/v1/sources", headers=auth("lk_not-a-key"))
    assert bad.status == 401 and (await bad.json())["error"] == "unauthorized"
    basic = await api.get("/v1/sources", headers={"Authorization": "Basic abc"})
    assert basic.status == 401


async def test_role_required(api: Client, keys: dict[str, str]) -> None:
    resp = await api.post("/v1/sources/un/sync", headers=auth(keys["screener"]))
    assert resp.status == 403
    assert (await resp.json())["error"] == "forbidden"


async def test_public_routes(api: Client) -> None:
    assert (await api.get("/healthz")).status == 200
    ready = await api.get("/readyz")
    assert ready.status == 200 and (await ready.json())["ready"] is True
    metrics = await (await api.get("/metrics")).text()
    assert 'listd_source_entities{source="un"} 1009.0' in metrics
    assert "listd_deltas_published 1009.0" in metrics
    assert 'listd_source_held{source="un"} 0.0' in metrics
    assert 'listd_source_stale{source="un"} 0.0' in metrics
    assert "listd_index_entities 1009.0" in metrics
    assert 'listd_http_requests_total{outcome="ok",route="/readyz"}' in metrics


async def test_unknown_route_and_method_are_json(api: Client, keys: dict[str, str]) -> None:
    resp = await api.get("/v1/nope", headers=auth(keys["screener"]))
    assert resp.status == 404 and (await resp.json())["error"] == "not_found"
    resp = await api.get("/v1/screen", headers=auth(keys["screener"]))
    assert resp.status == 405 and (await resp.json())["error"]


async def test_entity_read(api: Client, keys: dict[str, str]) -> None:
    resp = await api.get("/v1/entities/un:QDi.312?basis=onboarding", headers=auth(keys["screener"]))
    data = await resp.json()
    assert resp.status == 200
    assert data["reference"] == "QDi.312" and data["schema"] == "person"
    assert {"date": "1986-08-03"}.items() <= data["birth_dates"][0].items()
    missing = await api.get(
        "/v1/entities/un:QDi.999?basis=onboarding", headers=auth(keys["screener"])
    )
    assert missing.status == 404 and (await missing.json())["id"] == "un:QDi.999"


async def test_sources_show_freshness(api: Client, keys: dict[str, str]) -> None:
    data = await (await api.get("/v1/sources", headers=auth(keys["screener"]))).json()
    (un,) = data["sources"]
    assert un["name"] == "un" and un["status"] == "ok"
    assert un["entities"] == 1009 and un["version"] == un["loaded_version"]
    assert un["last_attempt"] and un["last_success"] and un["last_error"] is None
    assert un["published"] == "2026-05-08T23:00:06.922Z"


async def test_index_follows_a_new_version(
    api: Client, keys: dict[str, str], loaded: Store, settings: Settings
) -> None:
    import asyncio

    # 2026-05-08 -> an older file: QDi.436 is listed since 2025-08-02, IRe.001 absent in 2025-08-02.
    await Syncer(settings, loaded).sync("un", raw=un_file("2025-08-02").read_bytes())
    for _ in range(100):
        data = await screen(api, keys["screener"], name="7th of Tir", threshold=0.95)
        if not data["matches"]:
            break
        await asyncio.sleep(0.05)
    assert data["matches"] == []


async def test_batch_screens_many_and_names_the_bad_query(
    api: Client, keys: dict[str, str]
) -> None:
    queries = [
        {"name": "Aamir Ali Chaudhry"},
        {"name": "7th of Tir", "type": "entity"},
        {"name": "Margaret Hilda Thatcher"},
    ]
    resp = await api.post(
        "/v1/screen/batch",
        json={"basis": "periodic_review", "queries": queries},
        headers=auth(keys["screener"]),
    )
    data = await resp.json()
    assert resp.status == 200, data
    tops = [r["matches"][0]["id"] if r["matches"] else None for r in data["results"]]
    assert tops == ["un:QDi.312", "un:IRe.001", None]
    assert [r["index"] for r in data["results"]] == [0, 1, 2] and data["list_versions"]["un"]
    bad = await api.post(
        "/v1/screen/batch",
        json={
            "basis": "periodic_review",
            "queries": [{"name": "ok"}, {"name": "x", "birth_date": "May 5"}],
        },
        headers=auth(keys["screener"]),
    )
    assert bad.status == 400 and (await bad.json())["field"] == "queries[1].birth_date"
    too_many = await api.post(
        "/v1/screen/batch",
        json={"basis": "periodic_review", "queries": [{"name": "a"}] * 10_001},
        headers=auth(keys["screener"]),
    )
    assert too_many.status == 400 and (await too_many.json())["field"] == "queries"


async def test_a_body_that_arrives_in_pieces_is_read_whole(
    api: Client, keys: dict[str, str]
) -> None:
    """A large batch sent in several TCP segments with pauses, as a browser on a slow
    link sends it: the server must wait for all of it (it once parsed the first 16 KiB)."""
    import asyncio
    import json

    queries = [{"name": f"Ахметов Ерлан {n}"} for n in range(400)] + [
        {"name": "Aamir Ali Chaudhry"}
    ]
    body = json.dumps({"basis": "periodic_review", "queries": queries}).encode()
    assert len(body) > 2 * 16_384

    async def slowly() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 10_000):
            yield body[start : start + 10_000]
            await asyncio.sleep(0.05)

    resp = await api.post(
        "/v1/screen/batch",
        data=slowly(),
        headers={**auth(keys["screener"]), "Content-Type": "application/json"},
    )
    data = await resp.json()
    assert resp.status == 200, data
    assert len(data["results"]) == 401
    assert data["results"][400]["matches"][0]["id"] == "un:QDi.312"


async def test_stale_source_is_shown_and_warned_about(
    api: Client, keys: dict[str, str], loaded: Store
) -> None:
    import asyncio

    # As if the last successful sync was two days ago.
    await loaded.set_state("un", last_success="2026-01-01T00:00:00Z")
    data = await (await api.get("/v1/sources", headers=auth(keys["screener"]))).json()
    (un,) = data["sources"]
    assert un["status"] == "stale" and un["stale"] is True and un["age_minutes"] > 60 * 24
    for _ in range(100):  # the API refreshes its view of freshness every round
        screened = await screen(api, keys["screener"], name="Aamir Ali Chaudhry")
        if screened.get("warnings"):
            break
        await asyncio.sleep(0.05)
    assert any("un is stale" in w for w in screened["warnings"])
    # The same warning with a code and its parameters, for a client to say in its language.
    (detail,) = screened["warning_details"]
    assert detail["code"] == "source_stale" and detail["source"] == "un"
    assert detail["hours"] > 48 and detail["message"] == screened["warnings"][0]
    assert screened["matches"][0]["id"] == "un:QDi.312"  # stale data still screens
    metrics = await (await api.get("/metrics")).text()
    assert 'listd_source_stale{source="un"} 1.0' in metrics
