"""Rule 4: screening and entity reads state their legal basis; rule 5: every request is
journaled with who, organisation, role, route, basis, query, matches, list versions and
outcome."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SCREEN, Api


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x"}, "basis"),
        ({"name": "x", "basis": ""}, "basis"),
        ({"name": "x", "basis": "curiosity"}, "basis"),
        ({"name": "x", "basis": "authority_request"}, "case_ref"),
        ({"name": "x", "basis": "other", "case_ref": "  "}, "case_ref"),
        ({"name": "x", "basis": "transaction", "case_ref": 42}, "case_ref"),
        ({"name": "x", "basis": "transaction", "case_ref": "<script>"}, "case_ref"),
    ],
)
async def test_screening_without_a_valid_basis_is_refused(
    api: Api, body: dict[str, Any], field: str
) -> None:
    key = await api.key("screener")
    resp = await api.call("POST", "/v1/screen", key, json=body)
    data = await resp.json()
    assert (resp.status, data["error"], data["field"]) == (400, "bad_request", field)
    batch = {"queries": [{"name": "x"}], **{k: v for k, v in body.items() if k != "name"}}
    resp = await api.call("POST", "/v1/screen/batch", key, json=batch)
    assert (resp.status, (await resp.json())["field"]) == (400, field)


async def test_entity_read_needs_a_basis(api: Api) -> None:
    key = await api.key("screener")
    missing = await api.call("GET", "/v1/entities/un:QDi.312", key)
    assert missing.status == 400 and (await missing.json())["field"] == "basis"
    bad = await api.call("GET", "/v1/entities/un:QDi.312?basis=authority_request", key)
    assert bad.status == 400 and (await bad.json())["field"] == "case_ref"
    found = await api.json(
        "GET", "/v1/entities/un:QDi.312?basis=authority_request&case_ref=AFM-2026/117", key
    )
    assert found["reference"] == "QDi.312"


async def test_every_request_is_journaled_with_its_basis(api: Api) -> None:
    key = await api.key("screener", org="bank-a")
    key_id = (await api.store.record(key))["key_id"]
    screened = await api.call(
        "POST", "/v1/screen", key, json={**SCREEN, "basis": "transaction", "case_ref": "TX-9"}
    )
    assert screened.status == 200
    seq = int(screened.headers["X-Journal-Seq"])
    versions = (await screened.json())["list_versions"]
    batch = {
        "basis": "periodic_review",
        "queries": [{"name": "Aamir Ali Chaudhry"}, {"name": "Margaret Hilda Thatcher"}],
    }
    assert (await api.call("POST", "/v1/screen/batch", key, json=batch)).status == 200
    await api.call("GET", "/v1/entities/un:IRe.001?basis=onboarding", key)
    await api.call("POST", "/v1/screen", key, json={"name": "no basis"})
    await api.call("GET", "/v1/sources?x=1", key)
    requests = [e for e in await api.entries() if e.fields["kind"] == "request"]
    by_seq = {e.seq: e.fields for e in requests}
    one = by_seq[seq]
    assert one["at"].endswith("Z") and one["request_id"] == screened.headers["X-Request-Id"]
    expected = {
        "name": "bank-a screener", "org": "bank-a", "role": "screener", "key": key_id,
        "via": "key", "method": "POST", "route": "/v1/screen", "status": 200,
        "outcome": "ok", "basis": "transaction", "case_ref": "TX-9",
        "query": {"name": "Aamir Ali Chaudhry"}, "matches": 1, "list_versions": versions,
    }  # fmt: skip
    assert {k: one.get(k) for k in expected} == expected
    assert one["user"].startswith("u-") and one["ms"] >= 0
    rest = [e.fields for e in requests if e.seq > seq]
    assert [(r["route"], r["status"], r.get("basis")) for r in rest] == [
        ("/v1/screen/batch", 200, "periodic_review"),
        ("/v1/entities/{id}", 200, "onboarding"),
        ("/v1/screen", 400, None),
        ("/v1/sources", 200, None),
    ]
    assert rest[0]["matches"] == 1 and rest[0]["query"] == batch["queries"]
    assert rest[1]["query"] == {"id": "un:IRe.001"} and rest[1]["matches"] == 1
    assert rest[1]["list_versions"] == versions
    assert rest[2]["outcome"] == "refused" and rest[2]["error"] == "bad_request"
    assert rest[2]["query"] == {"name": "no basis"}
    assert rest[3]["query"] == {"x": "1"}


async def test_refusals_are_journaled_too(api: Api) -> None:
    await api.call("POST", "/v1/screen", "lk_not-a-key", json=SCREEN)
    await api.call("GET", "/v1/sources")
    fresh = await api.key("screener", agree=False)
    await api.call("GET", "/v1/sources", fresh)
    found = [e.fields for e in await api.entries() if e.fields["kind"] == "request"]
    assert [(f["status"], f["error"], f["via"]) for f in found] == [
        (401, "unauthorized", "none"),
        (401, "unauthorized", "none"),
        (403, "agreement_required", "key"),  # the credential is valid: who is known
    ]
    assert found[2]["key"] == (await api.store.record(fresh))["key_id"]
    assert found[2]["org"] == "bank-a" and found[2]["role"] == "screener"
    assert "key" not in found[0]  # an unknown secret is never stored, nor its hash
    assert (await api.journal.verify()).ok
