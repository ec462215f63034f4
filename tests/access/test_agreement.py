"""Rule 3: a new credential can do nothing but accept the terms of use until it has."""

from __future__ import annotations

import re
from pathlib import Path

from listd.access import TERMS
from listd.http.table import OPERATIONS, Operation
from tests.conftest import SCREEN, Api, MakeApi


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def operations(api: Api) -> dict[tuple[str, str], Operation]:
    """The app's table of operations: (method, path) -> what the route declares."""
    return api.app[OPERATIONS]


def every_route(api: Api) -> list[tuple[str, str]]:
    found = []
    for route in api.app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        found.append((route.method, resource.canonical))
    return sorted(set(found))


async def test_a_new_key_can_only_accept_the_terms(api: Api) -> None:
    key = await api.key("screener", agree=False)
    table = operations(api)
    exempt = sorted(r for r, op in table.items() if op.exempt)
    assert exempt == [
        ("GET", "/v1/agreement"),
        ("GET", "/v1/eds/agreement"),  # the terms signed with a digital signature
        ("POST", "/v1/agreement"),
        ("POST", "/v1/eds/agreement"),
    ]
    gated = [
        r for r in every_route(api)
        if not (table[r].public or table[r].exempt or table[r].anonymous)
    ]  # fmt: skip
    assert len(gated) >= 30
    for method, path in gated:
        resp = await api.call(method, concrete(path), key)
        body = await resp.json()
        assert (resp.status, body["error"]) == (403, "agreement_required"), (method, path)
        assert body["terms"] == TERMS.version
    terms = await api.json("GET", "/v1/agreement", key)
    assert terms["version"] == TERMS.version and terms["accepted"] is None
    assert "Terms of use of listd" in terms["text"]
    refused = await api.call("POST", "/v1/agreement", key, json={"accept": "yes"})
    assert refused.status == 400 and (await refused.json())["field"] == "accept"
    accepted = await api.json("POST", "/v1/agreement", key, json={"accept": True})
    assert accepted["accepted"] == TERMS.version
    assert (await api.json("GET", "/v1/agreement", key))["accepted"] == accepted["at"]
    screened = await api.json("POST", "/v1/screen", key, json=SCREEN)
    assert screened["matches"][0]["id"] == "un:QDi.312"
    # The acceptance is journaled: who, which key, which terms.
    admin = [e.fields for e in await api.entries() if e.fields["kind"] == "admin"]
    (entry,) = [f for f in admin if f["action"] == "agreement.accept"]
    assert entry["target"] == entry["key"] == (await api.store.record(key))["key_id"]
    assert entry["detail"] == {"terms": TERMS.version}
    assert entry["org"] == "bank-a" and entry["role"] == "screener"


async def test_changed_terms_must_be_accepted_again(make_api: MakeApi, tmp_path: Path) -> None:
    api = await make_api()
    key = await api.key("screener")
    assert (await api.call("POST", "/v1/screen", key, json=SCREEN)).status == 200
    terms = tmp_path / "terms.txt"
    terms.write_text("Terms of use, second edition.\n", encoding="utf-8")
    changed = await make_api(terms_file=terms)
    refused = await changed.call("POST", "/v1/screen", key, json=SCREEN)
    assert refused.status == 403 and (await refused.json())["error"] == "agreement_required"
    current = await changed.json("GET", "/v1/agreement", key)
    assert current["text"] == "Terms of use, second edition.\n" and current["accepted"] is None
    stale = await changed.call(
        "POST", "/v1/agreement", key, json={"accept": True, "version": TERMS.version}
    )
    assert stale.status == 400 and (await stale.json())["field"] == "version"
    await changed.json(
        "POST", "/v1/agreement", key, json={"accept": True, "version": current["version"]}
    )
    assert (await changed.call("POST", "/v1/screen", key, json=SCREEN)).status == 200
