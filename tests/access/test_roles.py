"""Rule 2: each route declares the role it needs, and an organisation never sees another's
journal (nor rotates another's keys)."""

from __future__ import annotations

from listd.access import ROLES
from tests.access.test_agreement import concrete, every_route, operations
from tests.conftest import SCREEN, Api

READ = frozenset({"screener", "admin"})  # admin may do what a screener may
ADMIN = frozenset({"admin"})
OPERATOR = frozenset({"operator"})
SUBSCRIBE = frozenset({"subscriber", "admin"})
ANYONE = frozenset(ROLES)

# Every authenticated route of the API and the roles it admits. A new route fails
# test_every_route_declares_its_role until it is added here.
ROUTE_ROLES = {
    ("POST", "/v1/screen"): READ,
    ("POST", "/v1/screen/batch"): READ,
    ("GET", "/v1/programs"): READ,
    ("GET", "/v1/entities/{id}"): READ,
    ("GET", "/v1/sources"): READ,
    ("GET", "/v1/sources/{name}/history"): READ,
    ("GET", "/v1/sources/{name}/snapshot"): READ,
    ("GET", "/v1/sources/{name}/held"): READ,
    ("GET", "/v1/deltas"): READ,
    ("GET", "/v1/deltas/stream"): READ,
    ("POST", "/v1/sources/{name}/sync"): ADMIN,
    ("POST", "/v1/sources/{name}/held/approve"): ADMIN,
    ("POST", "/v1/sources/{name}/held/reject"): ADMIN,
    ("GET", "/v1/agreement"): ANYONE,
    ("POST", "/v1/agreement"): ANYONE,
    ("GET", "/v1/eds/agreement"): ANYONE,
    ("POST", "/v1/eds/agreement"): ANYONE,
    ("POST", "/v1/eds/registrations/{id}/document"): OPERATOR,
    ("POST", "/v1/eds/registrations/{id}/decision"): OPERATOR,
    ("POST", "/v1/eds/users/{id}"): OPERATOR,
    ("GET", "/v1/registrations"): OPERATOR,
    ("GET", "/v1/registrations/{id}"): OPERATOR,
    ("POST", "/v1/registrations/{id}/approve"): OPERATOR,
    ("POST", "/v1/registrations/{id}/reject"): OPERATOR,
    ("GET", "/v1/users"): OPERATOR,
    ("POST", "/v1/users"): OPERATOR,
    ("GET", "/v1/users/{id}"): OPERATOR,
    ("POST", "/v1/users/{id}/block"): OPERATOR,
    ("POST", "/v1/users/{id}/unblock"): OPERATOR,
    ("GET", "/v1/keys"): OPERATOR,
    ("POST", "/v1/keys"): OPERATOR,
    ("POST", "/v1/keys/{key_id}/rotate"): ANYONE,  # anyone their own key; operators any
    ("POST", "/v1/keys/{key_id}/block"): OPERATOR,
    ("POST", "/v1/keys/{key_id}/unblock"): OPERATOR,
    ("GET", "/v1/maintenance"): ANYONE,
    ("POST", "/v1/maintenance"): OPERATOR,
    ("DELETE", "/v1/maintenance/{id}"): OPERATOR,
    ("GET", "/v1/audit"): frozenset({"auditor"}),
    ("POST", "/v1/subscriptions"): SUBSCRIBE,
    ("GET", "/v1/subscriptions"): SUBSCRIBE,
    ("GET", "/v1/subscriptions/{id}"): SUBSCRIBE,
    ("PATCH", "/v1/subscriptions/{id}"): SUBSCRIBE,
    ("DELETE", "/v1/subscriptions/{id}"): SUBSCRIBE,
    ("POST", "/v1/subscriptions/{id}/ping"): SUBSCRIBE,
    ("POST", "/v1/subscriptions/{id}/secret/rotate"): SUBSCRIBE,
    ("PUT", "/v1/subscriptions/{id}/watchlist"): SUBSCRIBE,
    ("PATCH", "/v1/subscriptions/{id}/watchlist"): SUBSCRIBE,
    ("GET", "/v1/subscriptions/{id}/watchlist"): SUBSCRIBE,
    ("DELETE", "/v1/subscriptions/{id}/watchlist"): SUBSCRIBE,
    ("GET", "/v1/subscriptions/{id}/deliveries"): SUBSCRIBE,
    ("POST", "/v1/subscriptions/{id}/deliveries/{event}/redeliver"): SUBSCRIBE,
    # listd.console.api: what the web console reads
    ("GET", "/v1/whoami"): ANYONE,
    ("GET", "/v1/deltas/recent"): READ,
    ("GET", "/v1/entities/{id}/history"): READ,
    ("GET", "/v1/alerts"): SUBSCRIBE,
}


async def test_every_route_declares_its_role(api: Api) -> None:
    table = operations(api)
    public = sorted(r for r, op in table.items() if op.public)
    assert public == [("GET", p) for p in ("/healthz", "/metrics", "/openapi.json", "/readyz")]
    anonymous = {r for r, op in table.items() if op.anonymous}
    assert anonymous == {
        ("POST", "/v1/registrations"),
        ("POST", "/v1/eds/challenge"),  # signing in is how a credential is got
        ("POST", "/v1/eds/signin"),
    }
    routes = [r for r in every_route(api) if not table[r].public]
    assert sorted(set(routes) - set(ROUTE_ROLES) - anonymous) == []
    assert sorted(set(ROUTE_ROLES) - set(routes)) == []
    keys = {role: await api.key(role, org="ops" if role in {"operator", "admin"} else "bank-a")
            for role in ROLES}  # fmt: skip
    for (method, path), allowed in sorted(ROUTE_ROLES.items()):
        url = concrete(path)
        anonymous = await api.call(method, url)
        assert anonymous.status == 401, (method, path)
        for role in ROLES:
            if role in allowed:
                if path == "/v1/deltas/stream":
                    continue  # answers with an endless stream
                resp = await api.call(method, url, keys[role])
                assert resp.status not in (401, 403), (method, path, role, await resp.text())
                continue
            resp = await api.call(method, url, keys[role])
            body = await resp.json()
            assert (resp.status, body["error"]) == (403, "forbidden"), (method, path, role)
            assert body["role"] == role


async def test_an_auditor_reads_only_its_own_organisation(api: Api) -> None:
    a_screen = await api.key("screener", org="bank-a")
    b_screen = await api.key("screener", org="bank-b")
    a_audit = await api.key("auditor", org="bank-a")
    b_audit = await api.key("auditor", org="bank-b")
    operator = await api.key("operator", org="ops")
    await api.json("POST", "/v1/screen", a_screen, json=SCREEN)
    await api.json("POST", "/v1/screen", b_screen, json={**SCREEN, "name": "Bank B customer"})
    b_user = (await api.store.record(b_screen))["user"]
    await api.json("POST", f"/v1/users/{b_user}/block", operator, json={"reason": "test"})

    foreign = await api.call("GET", "/v1/audit?org=bank-b", a_audit)
    assert foreign.status == 403 and (await foreign.json())["error"] == "forbidden"
    own = await api.json("GET", "/v1/audit?org=bank-a", a_audit)
    a_entries = (await api.json("GET", "/v1/audit", a_audit))["entries"]
    # The second read also shows the first (reading the journal is journaled too).
    assert a_entries[: len(own["entries"])] == own["entries"]
    assert a_entries[-1]["route"] == "/v1/audit" and a_entries[-1]["query"] == {"org": "bank-a"}
    assert a_entries and all(bank_a in ("bank-a",) for bank_a in _orgs(a_entries))
    assert {"name": "Aamir Ali Chaudhry"} in [e.get("query") for e in a_entries]
    assert not any("Bank B" in str(e) for e in a_entries)
    b_entries = (await api.json("GET", "/v1/audit?limit=1000", b_audit))["entries"]
    assert all(org == "bank-b" for org in _orgs(b_entries))
    assert {"name": "Bank B customer"} in [e.get("query") for e in b_entries]
    # The operator's block of a bank-b user concerns bank-b: its auditor sees it.
    blocks = [e for e in b_entries if e.get("action") == "user.block" and e["kind"] == "admin"]
    assert [(e["target"], e["org"], e["target_org"]) for e in blocks] == [(b_user, "ops", "bank-b")]
    # Paging one entry at a time walks the same entries (each read adds one more).
    walked, after = [], 0
    while after < a_entries[-1]["seq"]:
        page = await api.json("GET", f"/v1/audit?limit=1&after={after}", a_audit)
        walked += page["entries"]
        after = page["next"]
    assert walked == a_entries


def _orgs(entries: list[dict[str, object]]) -> list[object]:
    """The organisation each entry concerns (the actor's, or the target's)."""
    return [e["org"] if e.get("org") in ("bank-a", "bank-b") else e.get("target_org")
            for e in entries]  # fmt: skip


async def test_keys_of_another_organisation_are_out_of_reach(api: Api) -> None:
    a_key = await api.key("subscriber", org="bank-a")
    a_other = await api.key("screener", org="bank-a")
    b_key = await api.key("screener", org="bank-b")
    operator = await api.key("operator", org="ops")
    b_id = (await api.store.record(b_key))["key_id"]
    other_id = (await api.store.record(a_other))["key_id"]
    own_id = (await api.store.record(a_key))["key_id"]
    foreign = await api.call("POST", f"/v1/keys/{b_id}/rotate", a_key)
    assert foreign.status == 403 and (await foreign.json())["error"] == "forbidden"
    colleague = await api.call("POST", f"/v1/keys/{other_id}/rotate", a_key)
    assert colleague.status == 403
    own = await api.json("POST", f"/v1/keys/{own_id}/rotate", a_key, json={"overlap_hours": 1})
    assert own["org"] == "bank-a" and own["key"].startswith("lk_")
    by_operator = await api.json("POST", f"/v1/keys/{b_id}/rotate", operator)
    assert by_operator["org"] == "bank-b"
