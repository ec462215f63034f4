"""A watchlist larger than one HSCAN page, replaced, rescreened and cleared over HTTP on
every server the store tests run on (Redis 7.0 has no `HSCAN ... NOVALUES`: these
requests answered 500 there)."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from listd.settings import Settings
from tests.helpers import auth
from tests.notifications.conftest import Client, Receiver, subscribe


def _rows(numbers: range) -> bytes:
    rows = ({"reference": f"C-{n:05d}", "name": f"Customer Number{n}"} for n in numbers)
    return "\n".join(json.dumps(r) for r in rows).encode() + b"\n"


async def test_a_large_watchlist_is_replaced_rescreened_and_cleared(
    make_api: Any, keys: dict[str, str], receivers: Any, redis: Redis, settings: Settings
) -> None:
    api: Client = await make_api(dispatch=False)  # the pending set stays as the API left it
    rx: Receiver = await receivers()
    sub = await subscribe(api, keys["bank-a"], rx, ping=False)
    headers = {**auth(keys["bank-a"]), "Content-Type": "application/x-ndjson"}
    path = f"/v1/subscriptions/{sub['id']}/watchlist"

    first = await api.put(path, data=_rows(range(12_000)), headers=headers)
    assert first.status == 200, await first.text()
    assert (await first.json())["total"] == 12_000
    # Keep the 7,000 from 5,000 on: the first 5,000 are removed, found by a scan.
    again = await api.put(path, data=_rows(range(5_000, 12_000)), headers=headers)
    assert again.status == 200, await again.text()
    report = await again.json()
    assert (report["removed"], report["unchanged"], report["total"]) == (5_000, 7_000, 7_000)
    k = settings.keys
    assert await redis.hexists(k.watchlist(sub["id"]), "C-04999") is False
    assert await redis.hexists(k.watchlist(sub["id"]), "C-05000") is True

    await redis.delete(k.watchlist_pending(sub["id"]))
    wider = await api.patch(f"/v1/subscriptions/{sub['id']}", json={"threshold": 0.75},
                            headers=auth(keys["bank-a"]))  # fmt: skip
    assert wider.status == 200 and (await wider.json())["rescreening"] == 7_000
    assert await redis.scard(k.watchlist_pending(sub["id"])) == 7_000

    cleared = await api.delete(path, headers=auth(keys["bank-a"]))
    assert cleared.status == 200 and await cleared.json() == {"removed": 7_000}
    assert await redis.hlen(k.watchlist(sub["id"])) == 0
