"""Delivery against real receivers: retries, order, refusals, dead letters, replays."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from listd.api import create_app
from listd.keyspace import Keys
from listd.notifications.app import setup
from listd.notifications.config import WebhookConfig
from listd.notifications.dispatcher import Dispatcher, Partition
from listd.notifications.routes import BLOCKING
from listd.notifications.watchlist import Customer
from listd.pipeline.lease import Lease
from listd.screening import ScreeningIndex
from listd.settings import Settings
from tests.helpers import auth, eventually
from tests.notifications.conftest import Client, Receiver, designate, person, subscribe

FEED = ["designation.added", "designation.amended", "designation.removed"]


async def deliveries(api: Client, key: str, sub_id: str, **query: Any) -> list[dict[str, Any]]:
    resp = await api.get(f"/v1/subscriptions/{sub_id}/deliveries", params=query, headers=auth(key))
    assert resp.status == 200
    found: list[dict[str, Any]] = (await resp.json())["deliveries"]
    return found


async def test_500_then_200_is_retried_and_every_attempt_shown(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=FEED)
    rx.script = [500]
    (seq,) = await designate(redis, settings, person(901, "Test Person"))
    await eventually(lambda: len(rx.events) == 1)
    assert len(rx.requests) == 3  # the ping, the 500, the 200
    event = rx.events[0]
    assert event["type"] == "designation.added" and event["delta_seq"] == seq
    assert event["data"]["entity_id"] == "un:QDi.901"
    attempts = [r["headers"]["Listd-Delivery-Attempt"] for r in rx.requests[1:]]
    keys_sent = {r["headers"]["Listd-Idempotency-Key"] for r in rx.requests[1:]}
    assert attempts == ["1", "2"] and keys_sent == {event["id"]}
    (record,) = [d for d in await deliveries(api, keys["bank-a"], sub["id"]) if d["type"] != "ping"]
    assert record["status"] == "delivered" and record["delta_seq"] == seq
    assert [(a["status"], a["outcome"]) for a in record["attempts"]] == [
        (500, "retry"),
        (200, "delivered"),
    ]
    assert all(a["latency_ms"] >= 0 and a["fence"] >= 1 for a in record["attempts"])


async def test_receiver_down_for_a_while_gets_every_event_in_order(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    rx: Receiver = await receivers()
    await subscribe(api, keys["bank-a"], rx, events=FEED)
    await rx.stop()
    seqs: list[int] = []
    for n in range(5):
        seqs += await designate(redis, settings, person(910 + n, f"Person Number {n}"))
    seqs += await designate(redis, settings, remove=("un:QDi.911",))
    await asyncio.sleep(0.6)  # several attempts meet a closed port
    await rx.start()  # back, on the same port
    await eventually(lambda: len(rx.events) == 6, what="all six events")
    assert [e["delta_seq"] for e in rx.events] == seqs
    assert [e["type"] for e in rx.events] == ["designation.added"] * 5 + ["designation.removed"]
    assert rx.duplicates == 0 and rx.bad_signatures == 0


async def test_410_stops_delivery_and_disables_the_subscription(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=FEED)
    rx.script = [410]
    await designate(redis, settings, person(920, "Gone Person"))
    await designate(redis, settings, person(921, "Later Person"))
    headers = auth(keys["bank-a"])

    async def disabled() -> bool:
        body = await (await api.get(f"/v1/subscriptions/{sub['id']}", headers=headers)).json()
        return bool(body["status"] == "disabled")

    for _ in range(300):
        if await disabled():
            break
        await asyncio.sleep(0.02)
    body = await (await api.get(f"/v1/subscriptions/{sub['id']}", headers=headers)).json()
    assert body["status"] == "disabled" and "410" in body["status_reason"]
    await asyncio.sleep(0.3)
    assert len(rx.requests) == 2 and rx.events == []  # the ping and the one refused
    records = await deliveries(api, keys["bank-a"], sub["id"])
    assert [d["status"] for d in records if d["type"] != "ping"] == ["queued", "failed"]
    (dead,) = await deliveries(api, keys["bank-a"], sub["id"], status="dead")
    assert dead["event_id"] == records[1]["event_id"]
    assert dead["attempts"][0]["status"] == 410
    # A new ping re-activates; the queued event goes, the refused one stays dead.
    pinged = await api.post(f"/v1/subscriptions/{sub['id']}/ping", headers=headers)
    assert pinged.status == 200
    await eventually(lambda: len(rx.events) == 2)  # the ping and QDi.921
    assert rx.events[1]["data"]["entity_id"] == "un:QDi.921"


async def test_other_4xx_fails_that_event_and_delivers_the_next(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=FEED)
    rx.script = [422]
    await designate(redis, settings, person(930, "Refused Person"))
    await designate(redis, settings, person(931, "Accepted Person"))
    await eventually(lambda: len(rx.events) == 1)
    assert rx.events[0]["data"]["entity_id"] == "un:QDi.931"
    dead = await deliveries(api, keys["bank-a"], sub["id"], status="dead")
    assert [d["status"] for d in dead] == ["failed"]


async def test_retry_after_is_honoured(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    rx: Receiver = await receivers()
    await subscribe(api, keys["bank-a"], rx, events=FEED)
    rx.script = [429]
    rx.headers = {429: {"Retry-After": "1"}}
    await designate(redis, settings, person(940, "Patient Person"))
    await eventually(lambda: len(rx.events) == 1)
    first, second = rx.requests[-2:]
    assert second["at"] - first["at"] >= 0.95  # the 0.05-0.2 s back-off would be sooner


async def test_dead_letter_after_the_retry_window_then_redeliver(
    make_api: Any,
    config: WebhookConfig,
    keys: dict[str, str],
    receivers: Any,
    redis: Redis,
    settings: Settings,
) -> None:
    api: Client = await make_api(
        cfg=replace(config, delivery=replace(config.delivery, retry_window=0.5))
    )
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=FEED)
    rx.script = [503] * 1000
    await designate(redis, settings, person(950, "Unlucky Person"))

    async def dead() -> list[dict[str, Any]]:
        return await deliveries(api, keys["bank-a"], sub["id"], status="dead")

    for _ in range(300):
        if await dead():
            break
        await asyncio.sleep(0.02)
    (entry,) = await dead()
    assert entry["status"] == "dead" and len(entry["attempts"]) >= 3
    assert {a["status"] for a in entry["attempts"]} == {503}
    rx.script = []
    resp = await api.post(
        f"/v1/subscriptions/{sub['id']}/deliveries/{entry['event_id']}/redeliver",
        headers=auth(keys["bank-a"]),
    )
    assert resp.status == 202 and (await resp.json())["redeliveries"] == 1
    await eventually(lambda: len(rx.events) == 1)
    assert rx.events[0]["id"] == entry["event_id"]
    assert await dead() == []
    (record,) = [d for d in await deliveries(api, keys["bank-a"], sub["id"]) if d["type"] != "ping"]
    assert record["status"] == "delivered"


async def test_replay_of_a_delivered_event_is_dropped_by_its_idempotency_key(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=FEED)
    await designate(redis, settings, person(960, "Twice Person"))
    await eventually(lambda: len(rx.events) == 1)
    event_id = rx.events[0]["id"]
    resp = await api.post(
        f"/v1/subscriptions/{sub['id']}/deliveries/{event_id}/redeliver",
        headers=auth(keys["bank-a"]),
    )
    assert resp.status == 202
    await eventually(lambda: rx.duplicates == 1)
    assert len(rx.events) == 1
    last = rx.requests[-1]
    assert last["headers"]["Listd-Idempotency-Key"] == event_id
    assert json.loads(last["body"])["id"] == event_id
    missing = await api.post(
        f"/v1/subscriptions/{sub['id']}/deliveries/evt_nope/redeliver",
        headers=auth(keys["bank-a"]),
    )
    assert missing.status == 404


async def test_fanning_out_a_delta_again_adds_nothing(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=FEED)
    await designate(redis, settings, person(970, "Once Person"))
    await eventually(lambda: len(rx.events) == 1)
    k = Keys(settings.key_prefix)
    before = await redis.xlen(k.sub_events(sub["id"]))
    entries = await redis.xrange(k.deltas(), "-", "+")
    dispatcher = api.app[BLOCKING].dispatcher
    assert dispatcher is not None
    await dispatcher.fanout(entries)  # as a crashed worker's successor would
    assert await redis.xlen(k.sub_events(sub["id"])) == before
    part = dispatcher.partition(sub["id"])
    assert int(await redis.get(k.partition_cursor(part))) == int(entries[-1][0].split("-")[0])


async def test_a_slow_receiver_does_not_hold_back_the_others(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    slow: Receiver = await receivers()
    fast: Receiver = await receivers()
    await subscribe(api, keys["bank-a"], slow, events=FEED)
    await subscribe(api, keys["bank-b"], fast, events=FEED)
    slow.delay = 1.5
    await designate(redis, settings, person(980, "First Person"), person(981, "Second Person"))
    await designate(redis, settings, person(982, "Third Person"))
    await eventually(lambda: len(fast.events) == 3, seconds=1.0, what="fast receiver")
    assert len(slow.events) == 0
    await eventually(lambda: len(slow.events) == 3, seconds=10)


async def test_events_wait_while_pending_and_go_once_pinged(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=FEED, ping=False)
    rx.script = [500]
    headers = auth(keys["bank-a"])
    failed = await api.post(f"/v1/subscriptions/{sub['id']}/ping", headers=headers)
    body = await failed.json()
    assert failed.status == 502 and body["error"] == "ping_failed" and body["status"] == 500
    await designate(redis, settings, person(990, "Waiting Person"))
    await asyncio.sleep(0.3)
    assert rx.events == [] and len(rx.requests) == 1
    assert (await (await api.get(f"/v1/subscriptions/{sub['id']}", headers=headers)).json())[
        "status"
    ] == "pending"
    assert (await api.post(f"/v1/subscriptions/{sub['id']}/ping", headers=headers)).status == 200
    await eventually(lambda: len(rx.events) == 2)
    assert [e["type"] for e in rx.events] == ["ping", "designation.added"]


async def test_redirects_are_not_followed(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    rx: Receiver = await receivers()
    target: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=FEED)
    rx.script = [307]
    rx.headers = {307: {"Location": target.url}}
    await designate(redis, settings, person(995, "Redirected Person"))
    (dead,) = await _dead_soon(api, keys["bank-a"], sub["id"])
    assert dead["attempts"][0]["status"] == 307 and target.requests == []
    assert "redirects are not followed" in dead["attempts"][0]["error"]


async def _dead_soon(api: Client, key: str, sub_id: str) -> list[dict[str, Any]]:
    for _ in range(300):
        found = await deliveries(api, key, sub_id, status="dead")
        if found:
            return found
        await asyncio.sleep(0.02)
    return []


async def test_the_outbox_drains_while_a_new_leader_builds_its_customer_index(
    make_api: Any,
    aiohttp_client: Any,
    keys: dict[str, str],
    receivers: Any,
    redis: Redis,
    settings: Settings,
    config: WebhookConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Events already queued go out at once after a fail-over; only fanning out new
    deltas waits for the customer index, which takes minutes at millions of customers.
    The build is held until the queued event is delivered (timed with a big watchlist, a
    loaded machine built it first), and the first leader stops only once it has attempted
    the event itself: counting any request took the subscription's ping for it, and the
    leader could stop before fanning the delta out at all (then it waits for the index,
    as it should)."""
    first: Client = await make_api()
    rx: Receiver = await receivers()
    sub = await subscribe(first, keys["bank-a"], rx, events=["designation.added"])
    rx.script = [503] * 10_000  # the receiver is down
    await designate(redis, settings, person(700, "Waiting In The Outbox"))
    # A first, failed attempt at the event itself (the subscription's ping came first).
    await eventually(
        lambda: any(b'"designation.added"' in r["body"] for r in rx.requests),
        what="a first, failed attempt",
    )
    await first.close()  # the leader stops; the event waits in the outbox
    # A watchlist of more than one page of records, stored as uploads are.
    customers = {
        f"C{i}": Customer(f"C{i}", f"Клиент{i} Фамилия{i % 997} Отчество{i % 89}").to_json()
        for i in range(12_000)
    }
    await redis.hset(Keys(settings.key_prefix).watchlist(sub["id"]), mapping=customers)
    released = threading.Event()
    put_raw = Dispatcher._put_raw

    def held(self: Dispatcher, *args: Any) -> Any:
        released.wait(120)  # in the build's worker thread: as slow as a huge watchlist
        return put_raw(self, *args)

    monkeypatch.setattr(Dispatcher, "_put_raw", held)
    rx.script.clear()  # the receiver is back
    app = create_app(settings, redis, refresh_seconds=0.2)
    setup(app, settings, redis, dispatch=True, config=config)
    await aiohttp_client(app)
    dispatcher = app[BLOCKING].dispatcher
    assert dispatcher is not None
    try:
        await eventually(lambda: len(rx.events) == 1, 60, "the queued event")
        assert not dispatcher.leading.is_set(), "delivered only after the index was built"
    finally:
        released.set()
    await asyncio.wait_for(dispatcher.leading.wait(), 120)
    assert dispatcher.indexed() == 12_000


async def test_a_customer_index_build_writes_only_into_its_own_index(
    make_api: Any,
    keys: dict[str, str],
    receivers: Any,
    redis: Redis,
    settings: Settings,
    config: WebhookConfig,
) -> None:
    """A build abandoned when the lease is lost goes on in its worker thread; it wrote
    into `dispatcher.customers`, the index its successor was building (CI saw 60,001
    customers for 60,000). A partition's index is now built aside and installed in the
    worker's only while the partition is still held."""
    api: Client = await make_api()
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, events=["designation.added"])
    customers = {
        f"C{i}": Customer(f"C{i}", f"Клиент{i} Фамилия{i % 997}").to_json() for i in range(15_000)
    }
    await redis.hset(Keys(settings.key_prefix).watchlist(sub["id"]), mapping=customers)
    async with aiohttp.ClientSession() as session:
        dispatcher = Dispatcher(
            redis, Keys(settings.key_prefix), ScreeningIndex(), ["un"], session, config
        )
        number = dispatcher.partition(sub["id"])
        lease = Lease(redis, "unused", "unused:fence")
        part = dispatcher.parts[number] = Partition(number, lease)
        build = asyncio.create_task(dispatcher._build(part))
        await asyncio.sleep(0.05)
        # The partition is lost while its build goes on to the end (a thread is not
        # cancelled): it must install nothing.
        dispatcher.parts.pop(number)
        await build
        assert dispatcher.indexed() == 0 and not part.ready
        successor = dispatcher.parts[number] = Partition(number, lease)
        await dispatcher._build(successor)
    assert successor.ready and dispatcher.indexed() == 15_000
