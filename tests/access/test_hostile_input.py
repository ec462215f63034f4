"""Requests that used to answer 500: each is now a 400 naming the field at fault.

Found by fuzzing the API from its description (tests/api/test_fuzz.py) and by probing
what the fuzzer's generators do not produce (nesting, surrogates, huge CSV fields)."""

from __future__ import annotations

import pytest

from tests.conftest import Api

DEEP = "[" * 100_000 + "]" * 100_000
JSON = {"Content-Type": "application/json"}
JSONL = {"Content-Type": "application/x-ndjson"}


async def refused(api: Api, method: str, path: str, key: str, **kw: object) -> dict[str, str]:
    resp = await api.call(method, path, key, **kw)
    body = await resp.json()
    assert resp.status == 400, body
    return dict(body)


async def test_json_integer_too_long(api: Api) -> None:
    raw = '{"name": "Aamir", "basis": "onboarding", "limit": ' + "9" * 5000 + "}"
    key = await api.key("screener")
    body = await refused(api, "POST", "/v1/screen", key, data=raw, headers=JSON)
    assert body["field"] == "body" and "4300 digits" in body["message"]


async def test_json_nested_too_deeply(api: Api) -> None:
    body = await refused(
        api, "POST", "/v1/screen", await api.key("screener"), data=DEEP, headers=JSON
    )
    assert body["field"] == "body" and "nested too deeply" in body["message"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "\\ud800", "basis": "onboarding"}',
        b'{"name": "Aamir", "basis": "other", "case_ref": "\\udc00"}',
        b'{"name": "Aamir", "basis": "onboarding", "sources": ["\\udbff"]}',
    ],
)
async def test_unpaired_surrogates(api: Api, raw: bytes) -> None:
    body = await refused(
        api, "POST", "/v1/screen", await api.key("screener"), data=raw, headers=JSON
    )
    assert body["field"] == "body" and "surrogate" in body["message"]


async def test_paired_surrogates_are_text(api: Api) -> None:
    raw = b'{"name": "Aamir Ali Chaudhry \\ud83d\\ude00", "basis": "onboarding"}'
    resp = await api.call("POST", "/v1/screen", await api.key("screener"), data=raw, headers=JSON)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["matches"][0]["id"] == "un:QDi.312"


@pytest.mark.parametrize("after", ["%C2%B2", "99999999999999999999999", "-1", "1e3"])
async def test_stream_position_must_be_a_sequence_number(api: Api, after: str) -> None:
    key = await api.key("screener")
    body = await refused(api, "GET", f"/v1/deltas/stream?after={after}", key)
    assert body["field"] == "after"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/audit?to=0001-01-01T00:00:00%2B01:00", "to"),
        ("/v1/audit?from=9999-12-31T23:59:59-01:00", "from"),
    ],
)
async def test_audit_times_out_of_range(api: Api, path: str, field: str) -> None:
    body = await refused(api, "GET", path, await api.key("auditor"))
    assert body["field"] == field


async def test_audit_from_a_date_before_1970_reads_from_the_start(api: Api) -> None:
    key = await api.key("auditor")
    resp = await api.client.get(
        "/v1/audit?from=0487-11-08T17:18:53-23:23", headers={"Authorization": f"Bearer {key}"}
    )
    assert resp.status == 200
    assert (await resp.json())["entries"][0]["seq"] == 1


@pytest.mark.parametrize("end", ["0487-11-08T17:18:53-23:23", "9999-12-31T23:59:59-01:00"])
async def test_maintenance_times_out_of_range(api: Api, end: str) -> None:
    key = await api.key("operator")
    body = await refused(api, "POST", "/v1/maintenance", key, json={"end": end, "reason": "x"})
    assert body["field"] == "end"


async def test_webhook_host_label_over_63_characters(api: Api) -> None:
    key = await api.key("subscriber")
    url = "https://" + "a" * 300 + ".example/hook"
    body = await refused(api, "POST", "/v1/subscriptions", key, json={"url": url})
    assert body["field"] == "url"


async def test_hostile_watchlist_uploads(api: Api) -> None:
    key = await api.key("subscriber")
    resp = await api.call("POST", "/v1/subscriptions", key, json={"url": "https://1.1.1.1/hook"})
    assert resp.status == 201, await resp.text()
    path = f"/v1/subscriptions/{(await resp.json())['id']}/watchlist"
    huge_field = "reference,name\nc-1," + "x" * 200_000 + "\n"
    body = await refused(
        api, "PUT", path, key, data=huge_field, headers={"Content-Type": "text/csv"}
    )
    assert "field larger than field limit" in body["message"]
    # A line nested too deeply or holding a lone surrogate is an invalid record, not a crash.
    lines = "\n".join(
        [
            DEEP,
            '{"reference": "c-2", "name": "\\ud800"}',
            '{"reference": "c-3", "name": "Aamir Ali Chaudhry"}',
            '{"reference": "c-4", "name": "x", "passport": ' + "1" * 5000 + "}",
        ]
    )
    resp = await api.call("PUT", path, key, data=lines + "\n", headers=JSONL)
    report = await resp.json()
    assert resp.status == 200, report
    assert (report["added"], report["invalid"]) == (1, 3)
    errors = {e["line"]: e["error"] for e in report["errors"]}
    assert "nested too deeply" in errors[1] and "surrogate" in errors[2]
    assert "4300 digits" in errors[4]
