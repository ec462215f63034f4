"""Deltas over HTTP: paging, 410 after retention, SSE with resume, snapshots, held lists."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from structlog.testing import capture_logs

from listd.api import create_app
from listd.api.state import READY
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings
from tests.conftest import un_file
from tests.helpers import auth

Client = TestClient[Any, Any]


@pytest.fixture
async def api(
    redis: Redis, aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings
) -> AsyncIterator[Client]:
    yield await aiohttp_client(create_app(settings, redis, refresh_seconds=5))


async def sync(redis: Redis, settings: Settings, date: str) -> None:
    await Syncer(settings, Store(redis, settings.keys)).sync("un", raw=un_file(date).read_bytes())


async def test_deltas_page_in_sequence_order(
    api: Client, keys: dict[str, str], redis: Redis, settings: Settings
) -> None:
    await sync(redis, settings, "2025-11-20")
    await sync(redis, settings, "2026-02-27")
    resp = await api.get("/v1/deltas?after=1000&limit=3", headers=auth(keys["screener"]))
    body = await resp.json()
    assert resp.status == 200
    assert [d["seq"] for d in body["deltas"]] == [1001, 1002, 1003] and body["next"] == 1003
    first = body["deltas"][0]
    assert set(first) >= {"seq", "source", "op", "entity_id", "at", "changes", "entity"}
    rest = await (
        await api.get(f"/v1/deltas?after={body['next']}", headers=auth(keys["screener"]))
    ).json()
    assert [d["seq"] for d in rest["deltas"]] == [1004, 1005, 1006, 1007]
    amended = next(d for d in rest["deltas"] + body["deltas"] if d["entity_id"] == "un:SOi.022")
    assert amended["op"] == "amended" and amended["changes"]
    empty = await (await api.get("/v1/deltas?after=1007", headers=auth(keys["screener"]))).json()
    assert empty == {"deltas": [], "next": 1007}
    filtered = await api.get("/v1/deltas?source=eu", headers=auth(keys["screener"]))
    assert filtered.status == 404
    bad = await api.get("/v1/deltas?after=x", headers=auth(keys["screener"]))
    assert bad.status == 400 and (await bad.json())["field"] == "after"


async def test_deltas_filter_by_class_on_the_un_2026_update(
    api: Client, keys: dict[str, str], redis: Redis, settings: Settings
) -> None:
    await sync(redis, settings, "2026-02-27")
    first = await Store(redis, settings.keys).last_seq()
    await sync(redis, settings, "2026-05-08")
    screener = auth(keys["screener"])

    async def read(query: str) -> list[dict[str, Any]]:
        resp = await api.get(f"/v1/deltas?after={first}&limit=1000{query}", headers=screener)
        assert resp.status == 200
        found: list[dict[str, Any]] = (await resp.json())["deltas"]
        return found

    every, identity, details = (
        await read(""),
        await read("&class=identity"),
        await read("&class=details"),
    )
    assert len(every) == 7 + 1 + 639  # nothing is hidden without the filter
    assert {d["class"] for d in every} == {"identity", "details"}
    # 7 additions, 1 removal and the 26 amendments of names, documents, birth dates...
    assert len(identity) == 34 and {d["class"] for d in identity} == {"identity"}
    assert len([d for d in identity if d["op"] == "amended"]) == 26
    assert len(details) == 613 and {d["op"] for d in details} == {"amended"}
    assert sorted(d["seq"] for d in identity + details) == [d["seq"] for d in every]
    link_only = [d for d in details if set(d["changes"]) == {"urls"}]
    assert len(link_only) == 501
    bad = await api.get("/v1/deltas?class=names", headers=screener)
    assert bad.status == 400 and (await bad.json())["field"] == "class"
    # The live stream takes the same filter: the first identity delta after `first`.
    headers = {**screener, "Last-Event-ID": str(first)}
    async with api.get("/v1/deltas/stream?class=identity", headers=headers) as resp:
        streamed = await read_events(resp, 34)
    assert [e["id"] for e in streamed] == [d["seq"] for d in identity]
    bad_stream = await api.get("/v1/deltas/stream?class=all", headers=screener)
    assert bad_stream.status == 400 and (await bad_stream.json())["field"] == "class"


async def test_old_position_gets_410_with_resync_hint(
    redis: Redis,
    aiohttp_client: Callable[..., Awaitable[Client]],
    keys: dict[str, str],
    settings: Settings,
) -> None:
    short = replace(settings, delta_retention=10)
    await Syncer(short, Store(redis, short.keys)).sync("un", raw=un_file("2025-11-20").read_bytes())
    client = await aiohttp_client(create_app(short, redis))
    resp = await client.get("/v1/deltas?after=5", headers=auth(keys["screener"]))
    body = await resp.json()
    assert resp.status == 410 and body["error"] == "gone" and body["floor"] == 990
    assert "/snapshot" in body["message"]
    # The snapshot says which sequence it corresponds to; continuing from there works.
    snap = await client.get("/v1/sources/un/snapshot", headers=auth(keys["screener"]))
    lines = (await snap.text()).splitlines()
    header = json.loads(lines[0])
    assert header["seq"] == 1000 and header["entities"] == 1000 == len(lines) - 1
    assert json.loads(lines[1])["id"] == "un:CDe.001"
    after = await client.get(f"/v1/deltas?after={header['seq']}", headers=auth(keys["screener"]))
    assert after.status == 200


async def read_events(resp: Any, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    buffer = ""
    while len(events) < count:
        chunk = await asyncio.wait_for(resp.content.readany(), 10)
        assert chunk, "stream ended"
        buffer += chunk.decode()
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            match = re.search(r"^id: (\d+)\nevent: delta\ndata: (.*)$", block, re.M)
            if match:
                events.append({"id": int(match.group(1)), **json.loads(match.group(2))})
    return events


async def test_sse_resumes_and_streams_live(
    api: Client, keys: dict[str, str], redis: Redis, settings: Settings
) -> None:
    await sync(redis, settings, "2025-11-20")
    headers = {**auth(keys["screener"]), "Last-Event-ID": "998"}
    async with api.get("/v1/deltas/stream", headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        backlog = await read_events(resp, 2)
        assert [e["id"] for e in backlog] == [999, 1000]
        # A sync published while the client listens arrives at once (pub/sub wake-up).
        await sync(redis, settings, "2026-02-27")
        live = await read_events(resp, 7)
        assert [e["id"] for e in live] == list(range(1001, 1008))
        assert {e["op"] for e in live} == {"added", "amended", "removed"}


async def test_sse_streams_end_cleanly_when_the_server_shuts_down(
    api: Client, keys: dict[str, str], redis: Redis, settings: Settings
) -> None:
    """A stream open at shutdown is ended by the server (the chunked body completes), not
    cut off when the drain times out: SIGTERM is not held up by live consumers."""
    await sync(redis, settings, "2025-11-20")
    headers = {**auth(keys["screener"]), "Last-Event-ID": "1000"}
    async with api.get("/v1/deltas/stream", headers=headers) as resp:
        assert resp.status == 200
        assert await resp.content.readline() == b"retry: 2000\n"
        closing = asyncio.create_task(api.server.close())
        # A complete body reads to its end; one cut off raises ClientPayloadError.
        rest = await asyncio.wait_for(resp.content.read(), 30)
        assert rest.strip() == b""
        await asyncio.wait_for(closing, 30)


async def test_held_list_over_the_admin_api(
    api: Client, keys: dict[str, str], redis: Redis, settings: Settings
) -> None:
    await sync(redis, settings, "2026-05-08")
    text = un_file("2026-05-08").read_text("utf-8")
    for doomed in re.findall(r"<INDIVIDUAL>.*?</INDIVIDUAL>", text, flags=re.S)[::2]:
        text = text.replace(doomed, "", 1)
    store = Store(redis, settings.keys)
    await Syncer(settings, store).sync("un", raw=text.encode())
    sources = await (await api.get("/v1/sources", headers=auth(keys["screener"]))).json()
    (un,) = sources["sources"]
    assert un["status"] == "held" and "max_removed_ratio" in un["held_reason"]
    assert un["entities"] == 1009
    held = await (await api.get("/v1/sources/un/held", headers=auth(keys["screener"]))).json()
    assert held["would_removed"] == "369"
    denied = await api.post("/v1/sources/un/held/approve", headers=auth(keys["screener"]))
    assert denied.status == 403
    ok = await api.post("/v1/sources/un/held/reject", headers=auth(keys["admin"]))
    assert ok.status == 200 and (await ok.json())["rejected"]["version"] == held["version"]
    again = await api.post("/v1/sources/un/held/reject", headers=auth(keys["admin"]))
    assert again.status == 404
    history = await (await api.get("/v1/sources/un/history", headers=auth(keys["screener"]))).json()
    outcomes = [h["outcome"] for h in history["history"]]
    assert outcomes == ["held", "updated"]
    assert history["history"][0]["deltas"] == {"added": 0, "amended": 0, "removed": 369}


def requests_counted(metrics: str, route: str) -> dict[str, float]:
    """`listd_http_requests_total` for one route, by outcome."""
    found = re.findall(
        rf'^listd_http_requests_total{{outcome="(\w+)",route="{re.escape(route)}"}} (\S+)$',
        metrics,
        re.M,
    )
    return {outcome: float(value) for outcome, value in found}


async def test_a_client_leaving_the_stream_is_no_server_error(
    redis: Redis, keys: dict[str, str], settings: Settings
) -> None:
    """Closing the console's Changes page ends its stream: normal, not an error to alert on.

    Served as the daemon serves (no handler cancellation): the stream learns that its
    reader left when its next write fails."""
    await sync(redis, settings, "2025-11-20")
    runner = web.AppRunner(create_app(settings, redis, refresh_seconds=0.2), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    headers = {**auth(keys["screener"]), "Last-Event-ID": "1000"}
    url = f"http://127.0.0.1:{port}"
    try:
        with capture_logs() as logs:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/v1/deltas/stream", headers=headers) as resp:
                    assert await resp.content.readline() == b"retry: 2000\n"
                    resp.close()  # the reader leaves while the server waits for news
                # News wakes the stream, whose next write finds the reader gone.
                await sync(redis, settings, "2026-02-27")
                counted: dict[str, float] = {}
                for _ in range(400):
                    metrics = await (await http.get(f"{url}/metrics")).text()
                    counted = requests_counted(metrics, "/v1/deltas/stream")
                    if counted:
                        break
                    await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    assert counted == {"ok": 1.0}
    assert not [e for e in logs if e["log_level"] in ("error", "critical")], logs


async def test_readiness_while_starting_is_no_server_error(
    redis: Redis, aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings
) -> None:
    """/readyz answering 503 before the first load is the probe working, not a failure."""
    app = create_app(settings, redis, refresh_seconds=3600)
    client = await aiohttp_client(app)
    app[READY].clear()  # as at start-up, before the first load from the store
    resp = await client.get("/readyz")
    assert resp.status == 503 and (await resp.json())["ready"] is False
    counted = requests_counted(await (await client.get("/metrics")).text(), "/readyz")
    assert "server_error" not in counted and counted == {"not_ready": 1.0}
