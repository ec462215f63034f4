"""Subscriptions and watchlists over HTTP: validation, SSRF refusals, organisations kept
apart, secrets shown once and rotated, uploads replaced and patched."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from listd.notifications.config import WebhookConfig
from listd.notifications.signing import verify
from listd.settings import Settings
from tests.helpers import auth, eventually
from tests.notifications.conftest import Client, Receiver, designate, person, subscribe, upload


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/hook", "https"),
        ("ftp://example.com/hook", "https"),
        ("https://127.0.0.2/hook", "non-public"),
        ("https://10.0.0.7/hook", "non-public"),
        ("https://169.254.169.254/latest/meta-data", "non-public"),
        ("https://[::1]/hook", "non-public"),
        ("https://[::ffff:192.168.1.1]/hook", "non-public"),
        ("https://localhost/hook", "non-public"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("/relative", "absolute"),
    ],
)
async def test_unsafe_urls_are_refused(
    api: Client, keys: dict[str, str], url: str, why: str
) -> None:
    resp = await api.post("/v1/subscriptions", json={"url": url}, headers=auth(keys["bank-a"]))
    body = await resp.json()
    assert resp.status == 400 and body["field"] == "url" and why in body["message"]


async def test_create_validates_and_shows_the_secret_once(
    api: Client, keys: dict[str, str], receivers: Any
) -> None:
    rx: Receiver = await receivers()
    headers = auth(keys["bank-a"])
    for body, field in (
        ({"url": rx.url, "events": ["blocking.maybe"]}, "events"),
        ({"url": rx.url, "events": []}, "events"),
        ({"url": rx.url, "sources": ["eu"]}, "sources"),
        ({"url": rx.url, "threshold": 0.2}, "threshold"),
        ({"url": rx.url, "colour": "red"}, "colour"),
    ):
        resp = await api.post("/v1/subscriptions", json=body, headers=headers)
        assert resp.status == 400 and (await resp.json())["field"] == field
    created = await api.post(
        "/v1/subscriptions",
        json={"url": rx.url, "sources": ["un"], "programs": ["UN-1267"], "threshold": 0.85},
        headers=headers,
    )
    sub = await created.json()
    assert created.status == 201 and sub["secret"].startswith("whsec_")
    assert sub["status"] == "pending" and sub["events"] == ["blocking.required", "blocking.lifted"]
    read = await (await api.get(f"/v1/subscriptions/{sub['id']}", headers=headers)).json()
    assert "secret" not in read and read["secrets"][0]["hint"] == sub["secret"][-4:]
    assert read["watchlist"]["customers"] == 0
    assert (await api.get("/v1/subscriptions", headers=auth(keys["screener"]))).status == 403


async def test_organisations_never_see_each_other(
    api: Client, keys: dict[str, str], receivers: Any
) -> None:
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, ping=False)
    other = auth(keys["bank-b"])
    listed = await (await api.get("/v1/subscriptions", headers=other)).json()
    assert listed == {"subscriptions": []}
    base = f"/v1/subscriptions/{sub['id']}"
    for method, path in (
        ("GET", base),
        ("PATCH", base),
        ("DELETE", base),
        ("POST", base + "/ping"),
        ("PUT", base + "/watchlist"),
        ("GET", base + "/deliveries"),
        ("POST", base + "/secret/rotate"),
    ):
        resp = await api.request(method, path, headers=other, json={})
        assert resp.status == 404, (method, path)
    mine = await (await api.get("/v1/subscriptions", headers=auth(keys["bank-a"]))).json()
    assert [s["id"] for s in mine["subscriptions"]] == [sub["id"]]


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=["designation.added"])
    old = rx.secret
    resp = await api.post(
        f"/v1/subscriptions/{sub['id']}/secret/rotate",
        json={"overlap_hours": 1},
        headers=auth(keys["bank-a"]),
    )
    rotated = await resp.json()
    assert resp.status == 200 and rotated["secret"] != old and len(rotated["secrets"]) == 2
    await designate(redis, settings, person(700, "Rotated Person"))
    await eventually(lambda: len(rx.events) == 1)
    request = rx.requests[-1]
    signature = request["headers"]["Listd-Signature"]
    assert signature.count("v1=") == 2
    assert verify(old, signature, request["body"]) and verify(
        rotated["secret"], signature, request["body"]
    )


async def test_update_and_delete(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    rx: Receiver = await receivers()
    other: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx)
    headers = auth(keys["bank-a"])
    base = f"/v1/subscriptions/{sub['id']}"
    patched = await (await api.patch(base, json={"threshold": 0.9}, headers=headers)).json()
    assert patched["threshold"] == 0.9 and patched["status"] == "active"
    moved = await (await api.patch(base, json={"url": other.url}, headers=headers)).json()
    assert moved["status"] == "pending" and moved["url"] == other.url
    bad = await api.patch(base, json={"status": "active"}, headers=headers)
    assert bad.status == 400
    await upload(api, keys["bank-a"], sub["id"], [{"reference": "A", "name": "Some One"}])
    assert (await api.delete(base, headers=headers)).status == 204
    assert (await api.get(base, headers=headers)).status == 404
    leftover = [k async for k in redis.scan_iter(match=f"*{sub['id']}*")]
    assert leftover == []
    assert sub["id"] not in await redis.smembers(settings.keys.subscriptions())


async def test_watchlist_replace_patch_and_errors(
    make_api: Any, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    # No dispatcher: it would drain the pending set this test reads.
    api: Client = await make_api(dispatch=False)
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, ping=False)
    headers = auth(keys["bank-a"])
    path = f"/v1/subscriptions/{sub['id']}/watchlist"
    csv_body = (
        "\ufeffreference,name,birth_date,iin,passport,nationality,branch\n"
        'C1,"Ахметов Ерлан Серикович",12.05.1980,800512300010,N1234567,KZ,Almaty\n'
        "C2,Иванова Ольга,1979,,,RU,Astana\n"
        "C3,,1980,,,,Astana\n"
        "C4,Петров Пётр,31.02.1990,,,,Astana\n"
        "C2,Иванова Ольга Duplicate,,,,,Astana\n"
    ).encode()
    resp = await api.put(path, data=csv_body, headers={**headers, "Content-Type": "text/csv"})
    report = await resp.json()
    assert resp.status == 200 and report["format"] == "csv"
    assert (report["received"], report["added"], report["invalid"]) == (5, 2, 3)
    assert [e["reference"] for e in report["errors"]] == ["C3", "C4", "C2"]
    assert report["ignored_fields"] == ["branch"] and report["total"] == 2
    k = settings.keys
    stored = await redis.hget(k.watchlist(sub["id"]), "C1")
    assert stored is not None and '"birth_date":"1980-05-12"' in stored
    # Replace: C2 dropped, C1 unchanged (not screened again), C5 new.
    await redis.delete(k.watchlist_pending(sub["id"]))
    again = await upload(
        api,
        keys["bank-a"],
        sub["id"],
        [
            {"reference": "C1", "name": "Ахметов Ерлан Серикович", "birth_date": "1980-05-12",
             "iin": "800512300010", "passport": "N1234567", "nationality": "KZ"},
            {"reference": "C5", "name": "Жумабаев Нурлан"},
        ],
    )  # fmt: skip
    assert (again["added"], again["unchanged"], again["removed"], again["total"]) == (1, 1, 1, 2)
    assert await redis.smembers(k.watchlist_pending(sub["id"])) == {"C2", "C5"}
    patched = await upload(
        api,
        keys["bank-a"],
        sub["id"],
        [{"reference": "C5", "delete": True}, {"reference": "C6", "name": "Сериков Арман"}],
        patch=True,
    )
    assert (patched["added"], patched["removed"], patched["total"]) == (1, 1, 2)
    empty = await api.put(path, data=b"\n", headers=headers)
    assert empty.status == 400  # an empty replacement never wipes a watchlist
    summary = await (await api.get(path, headers=headers)).json()
    assert summary["customers"] == 2
    cleared = await (await api.delete(path, headers=headers)).json()
    assert cleared == {"removed": 2}


async def test_watchlist_limit(
    make_api: Any, config: Any, keys: dict[str, str], receivers: Any
) -> None:
    from dataclasses import replace

    api: Client = await make_api(cfg=replace(config, max_customers=3))
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, ping=False)
    rows = [{"reference": f"R{i}", "name": f"Name Number{i}"} for i in range(5)]
    body = "\n".join(__import__("json").dumps(r) for r in rows).encode() + b"\n"
    resp = await api.put(
        f"/v1/subscriptions/{sub['id']}/watchlist", data=body, headers=auth(keys["bank-a"])
    )
    assert resp.status == 413 and (await resp.json())["limit"] == 3


async def test_watchlist_upload_over_the_byte_limit_is_refused_while_streaming(
    make_api: Any, keys: dict[str, str], receivers: Any, config: WebhookConfig
) -> None:
    """A huge single-line upload is cut off at the limit with 413, not read to its end."""
    from dataclasses import replace

    limit = 1 << 20
    api: Client = await make_api(cfg=replace(config, max_watchlist_bytes=limit))
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, ping=False)
    chunk = b"x" * (1 << 16)  # one line with no end, as in the 1 GB upload
    total = 64 << 20
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < total:
            sent += len(chunk)
            yield chunk

    for method in (api.put, api.patch):
        sent = 0
        resp = await method(  # chunked: no Content-Length to refuse it by
            f"/v1/subscriptions/{sub['id']}/watchlist",
            data=body(),
            headers={**auth(keys["bank-a"]), "Content-Type": "application/x-ndjson"},
        )
        answered_after = sent
        error = await resp.json()
        assert resp.status == 413, error
        assert error["error"] == "payload_too_large" and error["field"] == "body"
        assert error["limit"] == limit
        # The server stopped at the limit: the answer came while most was still unsent
        # (what was sent beyond the limit sits in socket buffers).
        assert answered_after < total // 2, answered_after
        resp.close()
    declared = await api.put(
        f"/v1/subscriptions/{sub['id']}/watchlist",
        data=io.BytesIO(b"x" * (limit + 1)),
        headers=auth(keys["bank-a"]),
    )
    assert declared.status == 413 and (await declared.json())["field"] == "body"


async def test_gaining_blocking_required_screens_existing_customers(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    await designate(redis, settings, person(810, "Ibragim Zhaksylykov", birth_dates=()))
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=["designation.removed"])
    await upload(
        api, keys["bank-a"], sub["id"], [{"reference": "Z-1", "name": "Ибрагим Жаксылыков"}]
    )
    await asyncio.sleep(0.3)
    assert rx.events == []  # blocking.required not wanted: nothing to say
    resp = await api.patch(
        f"/v1/subscriptions/{sub['id']}",
        json={"events": ["blocking.required"]},
        headers=auth(keys["bank-a"]),
    )
    assert resp.status == 200 and (await resp.json())["rescreening"] == 1
    await eventually(lambda: len(rx.events) == 1)
    assert rx.events[0]["data"]["customer"]["reference"] == "Z-1"
    assert rx.events[0]["trigger"] == "watchlist"
