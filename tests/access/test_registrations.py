"""Rule 1: an organisation applies; an operator approves or rejects (with a reason);
applications undecided for a day are flagged, in the list and in a metric."""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis

from listd.normalize.kzid import check_bin, check_digit
from listd.settings import Settings
from tests.conftest import SCREEN, Api


def a_bin(serial: int) -> str:
    """A well-formed BIN: registered 2004-05, resident legal entity, head office."""
    for n in range(serial, serial + 50):
        head = f"040540{n:05d}"
        digit = check_digit(head)
        if digit is not None and digit < 10:
            assert check_bin(head + str(digit))[0]
            return head + str(digit)
    raise AssertionError("no BIN")


def application(bin_: str, **changes: Any) -> dict[str, Any]:
    return {
        "organisation": "АО «Банк Б»",
        "bin": bin_,
        "contact": {"name": "Айгуль Сапарова", "email": "compliance@bank-b.kz"},
        "roles": ["screener", "auditor"],
        "legal_ground": "second-tier bank; reporting entity under Art. 3 of Law 191-IV",
        **changes,
    }


async def test_apply_then_approve(api: Api) -> None:
    operator = await api.key("operator", org="ops")
    bin_ = a_bin(1)
    submitted = await api.call("POST", "/v1/registrations", json=application(bin_))
    reg = await submitted.json()
    assert submitted.status == 201, reg
    assert reg["status"] == "pending" and reg["overdue"] is False and reg["roles"] == [
        "auditor", "screener",
    ]  # fmt: skip
    again = await api.call("POST", "/v1/registrations", json=application(bin_))
    assert again.status == 409  # one pending application per organisation
    screener = await api.key("screener")
    assert (await api.call("GET", "/v1/registrations", screener)).status == 403
    pending = await api.json("GET", "/v1/registrations?status=pending", operator)
    assert [r["id"] for r in pending["registrations"]] == [reg["id"]]

    decided = await api.json("POST", f"/v1/registrations/{reg['id']}/approve", operator)
    assert decided["registration"]["status"] == "approved"
    assert decided["registration"]["decided_by"] == "ops operator"
    creds = {c["role"]: c for c in decided["credentials"]}
    assert sorted(creds) == ["auditor", "screener"]
    assert all(c["org"] == bin_ and c["key"].startswith("lk_") for c in creds.values())
    twice = await api.call("POST", f"/v1/registrations/{reg['id']}/approve", operator)
    assert twice.status == 409
    # The new organisation's keys work once they accept the terms.
    new_key = creds["screener"]["key"]
    assert (await api.call("POST", "/v1/screen", new_key, json=SCREEN)).status == 403
    await api.json("POST", "/v1/agreement", new_key, json={"accept": True})
    assert (await api.call("POST", "/v1/screen", new_key, json=SCREEN)).status == 200
    actions = [e.fields.get("action") for e in await api.entries() if e.fields["kind"] == "admin"]
    assert "registration.submit" in actions and "registration.approve" in actions


async def test_reject_needs_a_reason(api: Api) -> None:
    operator = await api.key("operator", org="ops")
    reg = await api.json("POST", "/v1/registrations", json=application(a_bin(60)))
    empty = await api.call("POST", f"/v1/registrations/{reg['id']}/reject", operator, json={})
    assert empty.status == 400 and (await empty.json())["field"] == "reason"
    rejected = await api.json(
        "POST", f"/v1/registrations/{reg['id']}/reject", operator,
        json={"reason": "BIN does not match the organisation in the state register"},
    )  # fmt: skip
    assert rejected["status"] == "rejected"
    assert rejected["reason"] == "BIN does not match the organisation in the state register"
    late = await api.call("POST", f"/v1/registrations/{reg['id']}/approve", operator)
    assert late.status == 409


async def test_bad_applications_name_the_field(api: Api) -> None:
    cases = [
        (application("123456789012"), "bin"),
        (application(a_bin(90), roles=["operator"]), "roles"),
        (application(a_bin(90), roles=[]), "roles"),
        (application(a_bin(90), contact={"name": "x", "email": "nope"}), "contact.email"),
        (application(a_bin(90), legal_ground=""), "legal_ground"),
        ({**application(a_bin(90)), "password": "x"}, "password"),
    ]
    for body, field in cases:
        resp = await api.call("POST", "/v1/registrations", json=body)
        assert (resp.status, (await resp.json()).get("field")) == (400, field), body
    huge = await api.call(
        "POST", "/v1/registrations", json=application(a_bin(90), legal_ground="x" * 100_000)
    )
    assert huge.status == 413 and (await huge.json())["error"] == "payload_too_large"


async def test_overdue_applications_are_flagged(api: Api, redis: Redis, settings: Settings) -> None:
    operator = await api.key("operator", org="ops")
    old = await api.json("POST", "/v1/registrations", json=application(a_bin(120)))
    await api.json("POST", "/v1/registrations", json=application(a_bin(180)))
    # As if the first had waited 25 hours.
    keys = settings.keys
    then = time.time() - 25 * 3600
    await redis.zadd(keys.registrations_pending(), {old["id"]: then})
    await redis.hset(keys.registration(old["id"]), "submitted_ts", str(then))
    overdue = await api.json("GET", "/v1/registrations?overdue=1", operator)
    assert [(r["id"], r["overdue"]) for r in overdue["registrations"]] == [(old["id"], True)]
    metrics = await (await api.call("GET", "/metrics")).text()
    assert "listd_registrations_overdue 1.0" in metrics
    await api.json("POST", f"/v1/registrations/{old['id']}/approve", operator)
    assert (await api.json("GET", "/v1/registrations?overdue=1", operator))["registrations"] == []
    assert "listd_registrations_overdue 0.0" in await (await api.call("GET", "/metrics")).text()


async def test_applications_are_limited_per_address(api: Api) -> None:
    statuses = []
    for n in range(11):
        resp = await api.call("POST", "/v1/registrations", json=application(a_bin(300 + n * 60)))
        statuses.append(resp.status)
    assert statuses == [201] * 10 + [429]
    assert 0 < int(resp.headers["Retry-After"]) <= 3601
    assert json.loads(await resp.text())["error"] == "rate_limited"
