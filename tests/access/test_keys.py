"""Rules 6 and 7: blocking takes effect on the next request on every instance; keys are
random, stored as hashes, expire, and rotate with an overlap."""

from __future__ import annotations

import asyncio
import calendar
import json
import time

from redis.asyncio import Redis

from listd.access import hash_key
from listd.api.state import REDIS, SETTINGS
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings
from tests.conftest import SCREEN, Api, MakeApi, un_file
from tests.helpers import FakeClock


async def test_keys_are_stored_only_as_hashes(api: Api, redis: Redis, settings: Settings) -> None:
    secret = await api.key("screener")
    other = await api.key("screener", org="bank-b")
    assert secret.startswith("lk_") and len(secret) > 40 and secret != other
    digest = hash_key(secret)
    dump = []
    async for name in redis.scan_iter(match=settings.keys.pattern()):
        kind = await redis.type(name)
        if kind == "hash":
            dump += [str(v) for v in (await redis.hgetall(name)).items()]
        elif kind == "string":
            dump.append(str(await redis.get(name)))
        elif kind == "stream":
            dump += [str(v) for _, v in await redis.xrange(name)]
        dump.append(name)
    assert not any(secret in item for item in dump)
    assert any(digest in item for item in dump)  # the hash is the record's address


async def test_a_block_stops_the_next_request_on_every_instance(make_api: MakeApi) -> None:
    one, two = await make_api(), await make_api()
    operator = await one.key("operator", org="ops")
    key = await one.key("screener")
    colleague = await one.key("screener", name="bank-a second desk")
    key_id = (await one.store.record(key))["key_id"]
    assert (await two.call("POST", "/v1/screen", key, json=SCREEN)).status == 200
    blocked = await one.json(
        "POST", f"/v1/keys/{key_id}/block", operator, json={"reason": "laptop stolen"}
    )
    assert blocked["status"] == "blocked" and blocked["block_reason"] == "laptop stolen"
    refused = await two.call("POST", "/v1/screen", key, json=SCREEN)
    body = await refused.json()
    assert (refused.status, body["error"], body["key_id"]) == (403, "blocked", key_id)
    assert (await two.call("POST", "/v1/screen", colleague, json=SCREEN)).status == 200
    await one.json("POST", f"/v1/keys/{key_id}/unblock", operator)
    assert (await two.call("POST", "/v1/screen", key, json=SCREEN)).status == 200

    # Blocking a user stops all its keys; unblocking restores them.
    user = (await one.store.record(key))["user"]
    second = (await one.store.issue(user)).secret
    await one.store.accept_agreement(second)
    await one.json("POST", f"/v1/users/{user}/block", operator, json={"reason": "left"})
    for secret in (key, second):
        refused = await two.call("GET", "/v1/sources", secret)
        assert (refused.status, (await refused.json())["error"]) == (403, "blocked")
    assert (await two.call("GET", "/v1/sources", colleague)).status == 200
    await one.json("POST", f"/v1/users/{user}/unblock", operator)
    assert (await two.call("GET", "/v1/sources", second)).status == 200
    actions = [e.fields["action"] for e in await one.entries() if e.fields["kind"] == "admin"]
    assert [a for a in actions if a.endswith("block")] == [
        "key.block", "key.unblock", "user.block", "user.unblock",
    ]  # fmt: skip
    assert (await one.journal.verify()).ok


async def test_keys_expire(make_api: MakeApi) -> None:
    clock = FakeClock()
    api = await make_api(key_ttl_days=2.0, clock=clock)
    key = await api.key("screener")
    record = await api.store.record(key)
    assert int(record["expires"]) == int(clock.time() + 2 * 86400)  # LISTD_KEY_TTL_DAYS
    # Two days go by but one second: the key expires in the next second, while its
    # admission is cached (the cache never outlives the key).
    clock.advance(2 * 86400 - 1)
    operator = await api.key("operator", org="ops")  # issued now: valid two more days
    assert (await api.call("GET", "/v1/sources", key)).status == 200
    assert (await api.call("GET", "/v1/sources", key)).status == 200  # from the cache
    clock.advance(0.5)
    assert (await api.call("GET", "/v1/sources", key)).status == 200  # still cached
    clock.advance(0.5)
    expired = await api.call("GET", "/v1/sources", key)
    body = await expired.json()
    assert (expired.status, body["message"]) == (401, "API key expired")
    listed = await api.json("GET", f"/v1/keys?user={record['user']}", operator)
    assert [k["status"] for k in listed["keys"]] == ["expired"]
    assert "key" not in listed["keys"][0] and "hash" not in str(listed)
    # Rotating an expired key is refused: a new one must be issued.
    again = await api.call("POST", f"/v1/keys/{record['key_id']}/rotate", operator)
    assert again.status == 409
    issued = await api.json(
        "POST", "/v1/keys", operator, json={"user": record["user"], "expires_days": 0.5}
    )
    assert issued["key"].startswith("lk_") and issued["user"] == record["user"]
    hours = (
        calendar.timegm(time.strptime(issued["expires"], "%Y-%m-%dT%H:%M:%SZ")) - clock.time()
    ) / 3600
    assert hours == 12.0


async def test_rotation_keeps_the_old_key_for_the_overlap(api: Api) -> None:
    key = await api.key("screener")
    key_id = (await api.store.record(key))["key_id"]
    rotated = await api.json("POST", f"/v1/keys/{key_id}/rotate", key, json={"overlap_hours": 2})
    new = rotated["key"]
    assert new != key and rotated["key_id"] != key_id
    # The old key works through the overlap; the new one is a new credential.
    assert (await api.call("POST", "/v1/screen", key, json=SCREEN)).status == 200
    fresh = await api.call("POST", "/v1/screen", new, json=SCREEN)
    assert (await fresh.json())["error"] == "agreement_required"
    await api.json("POST", "/v1/agreement", new, json={"accept": True})
    assert (await api.call("POST", "/v1/screen", new, json=SCREEN)).status == 200
    old = await api.store.record(key_id)
    assert old["rotated_to"] == rotated["key_id"]
    assert abs(int(old["expires"]) - (time.time() + 7200)) < 60
    # Rotating with no overlap ends the old key at once.
    again = await api.json(
        "POST", f"/v1/keys/{rotated['key_id']}/rotate", new, json={"overlap_hours": 0}
    )
    gone = await api.call("GET", "/v1/sources", new)
    assert (gone.status, (await gone.json())["message"]) == (401, "API key expired")
    assert (await api.store.record(again["key_id"]))["rotated_from"] == rotated["key_id"]


async def test_operators_manage_users_and_keys(api: Api) -> None:
    operator = await api.key("operator", org="ops")
    user = await api.json(
        "POST", "/v1/users", operator, json={"name": "compliance desk", "org": "bank-c",
                                             "role": "screener"},
    )  # fmt: skip
    assert user["status"] == "active" and user["created_by"] == "ops operator"
    duplicate = await api.call(
        "POST", "/v1/users", operator,
        json={"name": "compliance desk", "org": "bank-c", "role": "auditor"},
    )  # fmt: skip
    assert duplicate.status == 409
    bad = await api.call(
        "POST", "/v1/users", operator, json={"name": "x", "org": "b", "role": "king"}
    )
    assert bad.status == 400 and (await bad.json())["field"] == "role"
    issued = await api.json("POST", "/v1/keys", operator, json={"user": user["id"]})
    shown = await api.json("GET", f"/v1/users/{user['id']}", operator)
    assert [k["key_id"] for k in shown["keys"]] == [issued["key_id"]]
    assert issued["key"] not in str(shown)
    listed = await api.json("GET", "/v1/users?org=bank-c", operator)
    assert [u["id"] for u in listed["users"]] == [user["id"]]


async def test_a_block_ends_a_delta_stream_opened_before_it(make_api: MakeApi) -> None:
    one, two = await make_api(), await make_api()
    operator = await one.key("operator", org="ops")
    key = await one.key("screener")
    key_id = (await one.store.record(key))["key_id"]
    store = Store(two.app[REDIS], two.app[SETTINGS].keys)
    last = await store.last_seq()
    async with await two.call(
        "GET", "/v1/deltas/stream", key, headers={"Last-Event-ID": str(last)}
    ) as stream:
        assert stream.status == 200
        assert await stream.content.readline() == b"retry: 2000\n"
        await one.json("POST", f"/v1/keys/{key_id}/block", operator, json={"reason": "left"})
        # New deltas wake the stream: it asks the gate again before sending any of them.
        result = await Syncer(two.app[SETTINGS], store).sync(
            "un", raw=un_file("2025-11-20").read_bytes()
        )
        assert result.last_seq is not None and result.last_seq > last
        rest = (await asyncio.wait_for(stream.content.read(), 30)).decode()
    assert "event: delta" not in rest
    event, data = rest.strip().split("\n")
    assert event == "event: refused"
    assert json.loads(data.removeprefix("data: "))["error"] == "blocked"
    streams = [e.fields for e in await one.entries() if e.fields.get("path") == "/v1/deltas/stream"]
    assert [s.get("stream_ended") for s in streams] == ["blocked"]
