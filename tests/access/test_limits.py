"""Rule 9: per-key rate limits (429 + Retry-After) and body size limits (413)."""

from __future__ import annotations

import io

from tests.conftest import SCREEN, MakeApi
from tests.helpers import FakeClock


async def test_rate_limit_per_key(make_api: MakeApi) -> None:
    # The limit counts per clock minute: the fake clock starts one second into one.
    clock = FakeClock()
    api = await make_api(rate_limit=5, clock=clock)
    key = await api.key("screener")  # accepting the terms was request 1 of this minute
    other = await api.key("screener", org="bank-b")
    statuses = [(await api.call("POST", "/v1/screen", key, json=SCREEN)).status for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    refused = await api.call("GET", "/v1/sources", key)
    body = await refused.json()
    assert (refused.status, body["error"], body["limit"]) == (429, "rate_limited", 5)
    assert int(refused.headers["Retry-After"]) == 59  # the rest of this minute
    # Another key has its own budget.
    assert (await api.call("POST", "/v1/screen", other, json=SCREEN)).status == 200
    # A key may be given its own limit.
    operator = await api.key("operator", org="ops")
    user = (await api.store.record(other))["user"]
    busy = await api.json("POST", "/v1/keys", operator, json={"user": user, "rate_limit": 20})
    await api.json("POST", "/v1/agreement", busy["key"], json={"accept": True})
    ok = [(await api.call("GET", "/v1/sources", busy["key"])).status for _ in range(19)]
    assert ok == [200] * 19
    assert (await api.call("GET", "/v1/sources", busy["key"])).status == 429
    refusals = [e.fields for e in await api.entries() if e.fields.get("status") == 429]
    assert len(refusals) == 3 and all(f["error"] == "rate_limited" for f in refusals)
    # The next minute brings a new budget.
    clock.advance(60)
    assert (await api.call("POST", "/v1/screen", key, json=SCREEN)).status == 200


async def test_bodies_over_the_limit_are_413(make_api: MakeApi) -> None:
    api = await make_api()
    operator = await api.key("operator", org="ops")
    screener = await api.key("screener")
    padding = "x" * (70 * 1024)
    for method, path, key in (
        ("POST", "/v1/users", operator),
        ("POST", "/v1/maintenance", operator),
        ("POST", "/v1/agreement", screener),
    ):
        resp = await api.call(method, path, key, json={"reason": padding})
        body = await resp.json()
        assert (resp.status, body["error"]) == (413, "payload_too_large"), path
    big = await api.call(
        "POST", "/v1/screen", screener, data=io.BytesIO(b"{" + b" " * (2 * 1024 * 1024) + b"}")
    )
    assert big.status == 413


async def test_rate_limit_holds_across_instances_with_cached_admissions(
    make_api: MakeApi,
) -> None:
    """Screening admits from each instance's cache; the limit is still counted in Redis,
    once per request, and enforced exactly however the requests are spread."""
    clock = FakeClock()  # one second into a minute: all ten requests count in it
    one = await make_api(rate_limit=8, clock=clock)
    two = await make_api(rate_limit=8, clock=clock)
    key = await one.key("screener")  # request 1 of this minute
    statuses = []
    for n in range(10):
        api = (one, two)[n % 2]
        statuses.append((await api.call("POST", "/v1/screen", key, json=SCREEN)).status)
    assert statuses == [200] * 7 + [429] * 3
    entries = [e.fields for e in await one.entries() if e.fields.get("route") == "/v1/screen"]
    assert [f["status"] for f in entries] == statuses  # each answer journaled as sent
    assert all("matches" not in f for f in entries if f["status"] == 429)
