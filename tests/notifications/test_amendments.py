"""Webhooks hear identity amendments by default, every amendment when asked: on the real
UN update 2026-02-27 -> 2026-05-08 (639 amendments, 501 of them only an INTERPOL link)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from redis.asyncio import Redis

from listd.keyspace import Keys
from listd.settings import Settings
from tests.helpers import auth, eventually, until
from tests.notifications.conftest import Client, Receiver, screened, subscribe, sync, upload

CUSTOMERS = [
    # QDi.001: only an INTERPOL link was added on 2026-05-08 (details).
    {"reference": "Z-1", "name": "Mohammed Salahaldin Abd El Halim Zidane",
     "birth_date": "1963-04-11", "type": "person"},
    # KPi.043: a passport's expiry date became a field of its own (identity).
    {"reference": "J-1", "name": "Jo Yong-Won", "birth_date": "1957-10-24", "type": "person"},
]  # fmt: skip
EVENTS = ["blocking.required", "designation.amended"]


async def test_identity_amendments_by_default_all_on_request(
    api: Client, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    await sync(redis, settings, "2026-02-27")
    quiet: Receiver = await receivers()
    everything: Receiver = await receivers()
    default = await subscribe(api, keys["bank-a"], quiet, events=EVENTS, threshold=0.8)
    assert default["amendments"] == "identity"
    full = await subscribe(
        api, keys["bank-a"], everything, events=EVENTS, threshold=0.8, amendments="all"
    )
    assert full["amendments"] == "all"
    # A subscription stored before the option existed hears identity amendments only.
    await redis.hdel(Keys(settings.key_prefix).subscription(default["id"]), "amendments")
    for sub, rx in ((default, quiet), (full, everything)):
        await upload(api, keys["bank-a"], sub["id"], CUSTOMERS)
        await until(lambda s=sub: screened(redis, settings, s["id"]), what="upload screened")
        await eventually(lambda rx=rx: len(rx.events) == 2, what="alerts on upload")
        rx.events.clear()

    await sync(redis, settings, "2026-05-08")
    await eventually(lambda: len(everything.events) == 639 + 2, 120, "every amendment")
    # Both outboxes were written in the same step as each delta's acknowledgement, so
    # with every event of `everything` delivered, `quiet`'s outbox is complete too.
    outbox = await redis.xrange(Keys(settings.key_prefix).sub_events(default["id"]))
    kinds = Counter(fields["t"] for _, fields in outbox)
    assert kinds == {"designation.amended": 26, "blocking.required": 2 + 1}
    await eventually(lambda: len(quiet.events) == 26 + 1, 60, "identity amendments")
    assert len(everything.events) == 641

    amended = quiet.of_type("designation.amended")
    assert {e["data"]["class"] for e in amended} == {"identity"}
    assert {e["data"]["class"] for e in everything.of_type("designation.amended")} == {
        "identity",
        "details",
    }
    (alert,) = quiet.of_type("blocking.required")
    assert alert["data"]["customer"]["reference"] == "J-1"
    assert alert["data"]["designation"]["entity_id"] == "un:KPi.043"
    assert alert["data"]["designation"]["op"] == "amended"
    assert alert["data"]["previous_event_id"]
    both = {e["data"]["customer"]["reference"] for e in everything.of_type("blocking.required")}
    assert both == {"Z-1", "J-1"}

    bad = await api.patch(
        f"/v1/subscriptions/{default['id']}",
        json={"amendments": "some"},
        headers=auth(keys["bank-a"]),
    )
    assert bad.status == 400 and (await bad.json())["field"] == "amendments"
    ok = await api.patch(
        f"/v1/subscriptions/{default['id']}",
        json={"amendments": "all"},
        headers=auth(keys["bank-a"]),
    )
    assert ok.status == 200 and (await ok.json())["amendments"] == "all"
