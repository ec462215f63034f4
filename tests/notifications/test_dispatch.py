"""End to end on real UN files: a designation reaches a bank's receiver as a signed
blocking.required for the one customer who is that person, written in Cyrillic."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from listd.pipeline.store import Store
from listd.settings import Settings
from tests.helpers import auth, eventually, until
from tests.notifications.conftest import Client, Receiver, screened, subscribe, sync, upload

CUSTOMERS = [
    # Myrna Ajijul Mabanza (QDi.413, added 2018-06-21), as a Kazakh bank records her.
    {"reference": "C-1", "name": "Мирна Мабанза", "birth_date": "11.07.1991"},
    {"reference": "C-2", "name": "Иванов Сергей Петрович", "birth_date": "1975-03-02",
     "iin": "750302300017"},
    {"reference": "C-3", "name": "Мирна Иванова", "birth_date": "1991-07-11"},
    {"reference": "C-4", "name": "Нурланова Айгуль Сериковна", "nationality": "KZ"},
]  # fmt: skip


async def deltas_by_entity(redis: Redis, settings: Settings) -> dict[str, int]:
    found, _ = await Store(redis, settings.keys).read_deltas(0, 5000)
    return {d.entity_id: d.seq for d in found}


async def test_new_designation_alerts_the_matching_customer_only(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    await sync(redis, settings, "2018-06-07")
    rx: Receiver = await receivers()
    events = ["blocking.required", "blocking.lifted", "designation.added"]
    sub = await subscribe(api, keys["bank-a"], rx, events=events, threshold=0.8)
    report = await upload(api, keys["bank-a"], sub["id"], CUSTOMERS)
    assert report["added"] == 4 and report["invalid"] == 0
    # Screened on upload against the current list: none of them is listed yet.
    await until(lambda: screened(redis, settings, sub["id"]), what="screening on upload")
    assert rx.events == []

    await sync(redis, settings, "2018-06-21")  # adds QDi.413 and QDi.414
    await eventually(lambda: len(rx.events) == 3, what="two feed events and one alert")
    seqs = await deltas_by_entity(redis, settings)
    feed = rx.of_type("designation.added")
    assert [e["data"]["entity_id"] for e in feed] == ["un:QDi.413", "un:QDi.414"]
    assert [e["delta_seq"] for e in feed] == [seqs["un:QDi.413"], seqs["un:QDi.414"]]
    (alert,) = rx.of_type("blocking.required")
    data = alert["data"]
    assert data["customer"]["reference"] == "C-1"
    assert data["customer"]["name"] == "Мирна Мабанза"
    assert data["designation"]["entity_id"] == "un:QDi.413"
    assert data["designation"]["program"] == "UN-1267" and data["designation"]["op"] == "added"
    assert any("resolution 1267" in b for b in data["designation"]["legal_basis"])
    assert data["match"]["score"] >= 0.8 and data["match"]["threshold"] == 0.8
    assert data["match"]["explanation"]["birth_date"]["reason"] == "same date"
    assert "mabanza" in data["match"]["explanation"]["summary"].lower()
    assert alert["delta_seq"] == seqs["un:QDi.413"] == data["list"]["delta_seq"]
    assert data["list"]["version"] and alert["trigger"] == "delta"
    # Per-subscription order follows the delta sequence.
    assert [e["delta_seq"] for e in rx.events] == sorted(e["delta_seq"] for e in rx.events)
    assert rx.bad_signatures == 0 and rx.duplicates == 0

    deliveries = await api.get(
        f"/v1/subscriptions/{sub['id']}/deliveries", headers=auth(keys["bank-a"])
    )
    listed = (await deliveries.json())["deliveries"]
    assert {d["event_id"] for d in listed} >= {e["id"] for e in rx.events}
    assert all(d["status"] == "delivered" and d["attempts"][0]["status"] == 200 for d in listed[:3])


async def test_upload_alerts_at_once_and_removal_lifts(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    await sync(redis, settings, "2020-11-23")
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx)
    rows = [
        # MUHAMMAD MAHDI AL-SALIH (IQi.035), removed on 2020-12-01.
        {"reference": "K-7", "name": "Мухаммад Махди Аль-Салих", "birth_date": "1947"},
        {"reference": "K-8", "name": "Сериков Ерлан"},
    ]
    await upload(api, keys["bank-a"], sub["id"], rows)
    await eventually(lambda: len(rx.events) == 1, what="alert on upload")
    (alert,) = rx.events
    assert alert["type"] == "blocking.required" and alert["trigger"] == "watchlist"
    assert alert["data"]["customer"]["reference"] == "K-7"
    assert alert["data"]["designation"]["entity_id"] == "un:IQi.035"
    assert alert["data"]["designation"]["program"] == "UN-1518"

    # The same upload again changes nothing and alerts nobody twice.
    again = await upload(api, keys["bank-a"], sub["id"], rows)
    assert again["unchanged"] == 2 and again["pending_screening"] == 0

    await sync(redis, settings, "2020-12-01")  # removes 12 designations, IQi.035 among them
    await eventually(lambda: len(rx.events) == 2, what="blocking.lifted")
    lifted = rx.events[1]
    assert lifted["type"] == "blocking.lifted"
    assert lifted["data"]["customer"] == {"reference": "K-7"}
    assert lifted["data"]["designation"]["entity_id"] == "un:IQi.035"
    assert lifted["data"]["required_event_id"] == alert["id"]
    seqs = await deltas_by_entity(redis, settings)
    assert lifted["delta_seq"] == seqs["un:IQi.035"]
    assert rx.duplicates == 0 and rx.bad_signatures == 0
