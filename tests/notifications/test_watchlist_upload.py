"""Large uploads: the references seen live in Redis (one given twice is found across chunks and
nothing is left behind), progress is shown, and garbage never empties a watchlist."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from listd.keyspace import Keys
from listd.settings import Settings
from tests.helpers import auth
from tests.notifications.conftest import Client, Receiver, subscribe, upload


async def test_a_reference_given_twice_across_chunks_progress_and_no_leftovers(
    make_api: Any, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    api: Client = await make_api(dispatch=False)
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, ping=False)
    rows = [{"reference": f"R{i}", "name": f"Name Number{i}"} for i in range(4500)]
    rows.append({"reference": "R7", "name": "Again Seven"})  # 2,000-record chunks apart
    report = await upload(api, keys["bank-a"], sub["id"], rows)
    assert report["added"] == 4500 and report["invalid"] == 1
    assert report["errors"][0]["reference"] == "R7" and report["errors"][0]["line"] == 4501
    summary = await (
        await api.get(f"/v1/subscriptions/{sub['id']}/watchlist", headers=auth(keys["bank-a"]))
    ).json()
    assert summary["customers"] == 4500
    assert summary["last_upload"]["status"] == "applied"
    assert summary["last_upload"]["received"] == "4501"
    k = Keys(settings.key_prefix)
    left = [key async for key in redis.scan_iter(match=f"{k.watchlist(sub['id'])}:upload:*")]
    assert left == []

    # A replacement keeps the customers an invalid line names, removes the others.
    again = rows[:10] + [{"reference": "R11", "name": ""}]
    report = await upload(api, keys["bank-a"], sub["id"], again)
    assert report["removed"] == 4500 - 11 and report["total"] == 11


async def test_a_replacement_of_nothing_but_garbage_is_refused(
    make_api: Any, keys: dict[str, str], receivers: Any
) -> None:
    api: Client = await make_api(dispatch=False)
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, ping=False)
    await upload(api, keys["bank-a"], sub["id"], [{"reference": "K1", "name": "Kept Customer"}])
    resp = await api.put(
        f"/v1/subscriptions/{sub['id']}/watchlist",
        data=b"not json\n" + json.dumps([1, 2]).encode() + b"\n",
        headers={**auth(keys["bank-a"]), "Content-Type": "application/x-ndjson"},
    )
    assert resp.status == 400
    summary = await (
        await api.get(f"/v1/subscriptions/{sub['id']}/watchlist", headers=auth(keys["bank-a"]))
    ).json()
    assert summary["customers"] == 1
