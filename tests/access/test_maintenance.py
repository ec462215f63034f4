"""Rule 8: announced maintenance windows answer 503 with Retry-After; operators and
admins are still served, and lists keep syncing."""

from __future__ import annotations

import asyncio
import datetime as dt

from lxml import etree
from redis.asyncio import Redis

from listd.api.state import INDEX
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings
from tests.conftest import SCREEN, Api


def iso(seconds_from_now: float) -> str:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_from_now)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def one_less(raw: bytes) -> bytes:
    """The list with its last individual delisted."""
    root = etree.fromstring(raw)
    individuals = root.find("INDIVIDUALS")
    assert individuals is not None
    individuals.remove(individuals.findall("INDIVIDUAL")[-1])
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


async def test_a_window_answers_503_and_keeps_syncing(
    api: Api, redis: Redis, asettings: Settings, small_un: bytes
) -> None:
    operator = await api.key("operator", org="ops")
    admin = await api.key("admin", org="ops")
    screener = await api.key("screener")
    later = await api.json(
        "POST", "/v1/maintenance", operator,
        json={"start": iso(3600), "end": iso(7200), "reason": "Redis upgrade"},
    )  # fmt: skip
    listed = await api.json("GET", "/v1/maintenance", screener)
    assert [(w["id"], w["active"], w["reason"]) for w in listed["windows"]] == [
        (later["id"], False, "Redis upgrade")
    ]
    assert (await api.call("POST", "/v1/screen", screener, json=SCREEN)).status == 200

    now = await api.json(
        "POST", "/v1/maintenance", operator, json={"end": iso(90), "reason": "index rebuild"}
    )
    refused = await api.call("POST", "/v1/screen", screener, json=SCREEN)
    body = await refused.json()
    assert (refused.status, body["error"]) == (503, "maintenance")
    assert 80 <= int(refused.headers["Retry-After"]) <= 91 and body["until"] == now["end"]
    assert body["retry_after"] == int(refused.headers["Retry-After"])
    anonymous = await api.call("POST", "/v1/registrations", json={})
    assert anonymous.status == 503 and "Retry-After" in anonymous.headers
    # Operators manage the window, admins the lists; both are served.
    windows = (await api.json("GET", "/v1/maintenance", operator))["windows"]
    assert [w["active"] for w in windows] == [True, False]
    assert (await api.call("GET", "/v1/sources", admin)).status == 200

    # The lists keep syncing: the index follows a new version during the window.
    before = api.app[INDEX].versions["un"]
    store = Store(redis, asettings.keys)
    await Syncer(asettings, store).sync("un", raw=one_less(small_un))
    for _ in range(100):
        if api.app[INDEX].versions["un"] != before:
            break
        await asyncio.sleep(0.02)
    assert api.app[INDEX].versions["un"] != before

    await api.json("DELETE", f"/v1/maintenance/{now['id']}", operator)
    assert (await api.call("POST", "/v1/screen", screener, json=SCREEN)).status == 200
    actions = [e.fields.get("action") for e in await api.entries() if e.fields["kind"] == "admin"]
    assert actions.count("maintenance.announce") == 2 and "maintenance.cancel" in actions
    refusals = [e.fields for e in await api.entries() if e.fields.get("error") == "maintenance"]
    assert [(f["route"], f.get("org")) for f in refusals] == [
        ("/v1/screen", "bank-a"),
        ("/v1/registrations", None),
    ]


async def test_bad_windows_are_refused(api: Api) -> None:
    operator = await api.key("operator", org="ops")
    for body, field in (
        ({"end": iso(-10), "reason": "x"}, "end"),
        ({"start": iso(100), "end": iso(50), "reason": "x"}, "end"),
        ({"end": "tomorrow", "reason": "x"}, "end"),
        ({"end": iso(60)}, "reason"),
        ({"reason": "x"}, "end"),
    ):
        resp = await api.call("POST", "/v1/maintenance", operator, json=body)
        assert (resp.status, (await resp.json())["field"]) == (400, field), body
