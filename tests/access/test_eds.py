"""Sign-in and signing with an NCA RK digital signature, over real HTTP and Redis, with a
test PKI (tests/eds/pki.py): who gets in, what is refused and why, and the journaled
evidence that `listd eds verify` re-checks from `listd audit export`."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from listd.access import Terms
from listd.api.middleware import ACCESS
from listd.eds import EdsSettings
from tests.access.test_registrations import application
from tests.cli.test_access import Cli, cli  # noqa: F401 - the fixture
from tests.conftest import SCREEN, Api, MakeApi
from tests.eds.pki import BIN, Issued, Person, Pki, make_pki, ocsp_app, sign


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture
def eds_settings(pki: Pki, tmp_path: Path) -> EdsSettings:
    return EdsSettings(
        trust_dir=pki.write_trust(tmp_path / "nca"), crl_dir=pki.write_crl(tmp_path / "crl")
    )


@pytest.fixture
async def eapi(make_api: MakeApi, eds_settings: EdsSettings) -> Api:
    return await make_api(eds=eds_settings)


async def bound(api: Api, person: Person, role: str = "screener", name: str = "Тестов") -> str:
    """A user of the bank bound to the person's IIN; returns the user id."""
    user = await api.store.create_user(name, BIN, role)
    operator = await api.key("operator", org="ops")
    await api.json("POST", f"/v1/eds/users/{user.id}", operator, json={"iin": person.iin})
    return user.id


async def signin(api: Api, issued: Issued, *, detached: bool = False) -> Any:
    challenge = await api.json("POST", "/v1/eds/challenge")
    data = base64.b64decode(challenge["data"])
    cms = sign(issued, data, detached=detached)
    return await api.call(
        "POST", "/v1/eds/signin", json={"challenge": challenge["challenge"], "cms": cms}
    )


async def refused(api: Api, issued: Issued) -> str:
    resp = await signin(api, issued)
    body = await resp.json()
    assert (resp.status, body["error"]) == (401, "signature_refused"), body
    return str(body["reason"])


async def sign_terms(api: Api, key: str, issued: Issued) -> Any:
    terms = await api.json("GET", "/v1/eds/agreement", key)
    cms = sign(issued, terms["text"].encode())
    return await api.call(
        "POST", "/v1/eds/agreement", key, json={"version": terms["version"], "cms": cms}
    )


async def test_sign_in_then_sign_the_terms(eapi: Api, pki: Pki) -> None:
    alice = pki.people["alice"]
    user_id = await bound(eapi, alice)
    resp = await signin(eapi, alice.auth, detached=True)
    assert resp.status == 201, await resp.text()
    session = await resp.json()
    assert (session["user"], session["role"], session["org"]) == (user_id, "screener", BIN)
    assert session["agreement_required"] is True
    assert session["signer"]["iin"] == alice.iin
    key = session["key"]
    resp = await eapi.call("POST", "/v1/screen", key, json=SCREEN)
    assert (resp.status, (await resp.json())["error"]) == (403, "agreement_required")
    # A click does not do for a signature sign-in; nor does the AUTH key sign the terms.
    resp = await eapi.call("POST", "/v1/agreement", key, json={"accept": True})
    assert resp.status == 403
    resp = await sign_terms(eapi, key, alice.auth)
    assert (resp.status, (await resp.json())["reason"]) == (401, "wrong_key")
    resp = await sign_terms(eapi, key, alice.sign)
    assert resp.status == 200, await resp.text()
    assert (await eapi.call("POST", "/v1/screen", key, json=SCREEN)).status == 200
    # The next sign-in's key needs no new signature while the text is unchanged.
    again = await (await signin(eapi, alice.auth)).json()
    assert again["agreement_required"] is False
    assert (await eapi.call("POST", "/v1/screen", again["key"], json=SCREEN)).status == 200
    entries = [e.fields for e in await eapi.entries()]
    signs = [e for e in entries if (e["kind"], e.get("action")) == ("admin", "agreement.sign")]
    terms = eapi.app[ACCESS].serving.terms
    assert [(s["detail"]["document"], s["detail"]["terms"]) for s in signs] == [
        (terms.text, terms.version)
    ]
    ins = [e for e in entries if e.get("route") == "/v1/eds/signin"]
    assert [(e["status"], e.get("action")) for e in ins] == [(201, "eds.signin")] * 2
    assert ins[0]["eds"]["iin"] == alice.iin and ins[0]["eds"]["revocation"] == "crl"


async def test_changed_terms_need_a_new_signature(
    make_api: MakeApi, eds_settings: EdsSettings, pki: Pki, tmp_path: Path
) -> None:
    alice = pki.people["alice"]
    api = await make_api(eds=eds_settings)
    await bound(api, alice)
    key = (await (await signin(api, alice.auth)).json())["key"]
    assert (await sign_terms(api, key, alice.sign)).status == 200
    changed = tmp_path / "terms.txt"
    changed.write_text(Terms.of("x").text + "6. A new clause.\n", "utf-8")
    api2 = await make_api(eds=eds_settings, terms_file=changed)
    session = await (await signin(api2, alice.auth)).json()
    assert session["agreement_required"] is True
    old = sign(alice.sign, b"x")  # the old version's signature is no answer
    resp = await api2.call(
        "POST",
        "/v1/eds/agreement",
        session["key"],
        json={"version": Terms.of("x").version, "cms": old},
    )
    assert resp.status == 400
    assert (await sign_terms(api2, session["key"], alice.sign)).status == 200


async def test_refused_certificates(eapi: Api, pki: Pki) -> None:
    for name in ("alice", "bob", "carol"):
        await bound(eapi, pki.people[name], name=name)
    assert await refused(eapi, pki.people["bob"].auth) == "expired"
    assert await refused(eapi, pki.people["carol"].auth) == "revoked"
    assert await refused(eapi, pki.people["dave"].auth) == "unknown_iin"
    assert await refused(eapi, pki.people["alice"].sign) == "wrong_key"
    # A self-made certificate with alice's registered IIN and BIN, its root carried along.
    challenge = await eapi.json("POST", "/v1/eds/challenge")
    cms = sign(pki.rogue.auth, base64.b64decode(challenge["data"]), chain=[pki.rogue_root])
    resp = await eapi.call(
        "POST", "/v1/eds/signin", json={"challenge": challenge["challenge"], "cms": cms}
    )
    assert (await resp.json())["reason"] == "untrusted"
    # The challenge was used up by the refused attempt: single use.
    alice = sign(pki.people["alice"].auth, base64.b64decode(challenge["data"]))
    resp = await eapi.call(
        "POST", "/v1/eds/signin", json={"challenge": challenge["challenge"], "cms": alice}
    )
    assert (await resp.json())["reason"] == "challenge"
    entries = [e.fields for e in await eapi.entries() if e.fields.get("route") == "/v1/eds/signin"]
    assert [(e["outcome"], e["eds"]["reason"]) for e in entries] == [
        ("refused", r)
        for r in ("expired", "revoked", "unknown_iin", "wrong_key", "untrusted", "challenge")
    ]


async def test_ocsp_decides_when_it_answers(
    make_api: MakeApi, eds_settings: EdsSettings, pki: Pki
) -> None:
    hits: list[int] = []
    async with TestServer(ocsp_app(pki, hits)) as responder:
        # The people's CRL gone: OCSP decides for them (the root's CRL, for the
        # intermediate, stays).
        assert eds_settings.crl_dir is not None
        (eds_settings.crl_dir / "nca_rsa.crl").unlink()
        settings = replace(eds_settings, ocsp_url=str(responder.make_url("/ocsp")))
        api = await make_api(eds=settings)
        await bound(api, pki.people["alice"])
        await bound(api, pki.people["carol"], name="carol")
        resp = await signin(api, pki.people["alice"].auth)
        assert (await resp.json())["signer"]["revocation"] == "ocsp"
        assert await refused(api, pki.people["carol"].auth) == "revoked"
        assert len(hits) == 2


async def test_fail_closed_without_revocation_answer(
    make_api: MakeApi, eds_settings: EdsSettings, pki: Pki
) -> None:
    api = await make_api(eds=replace(eds_settings, crl_dir=None))
    await bound(api, pki.people["alice"])
    assert await refused(api, pki.people["alice"].auth) == "revocation_unknown"


async def test_signed_rejection_and_evidence_reverified(
    eapi: Api,
    pki: Pki,
    eds_settings: EdsSettings,
    cli: Cli,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    alice = pki.people["alice"]
    reg = await eapi.json("POST", "/v1/registrations", json=application(BIN))
    # An operator of listd bound to alice's certificate.
    op_user = await eapi.store.create_user("ops alice", "ops", "operator")
    operator = await eapi.key("operator", org="ops")
    await eapi.json(
        "POST", f"/v1/eds/users/{op_user.id}", operator, json={"iin": alice.iin, "bin": BIN}
    )
    op_key = (await eapi.store.issue(op_user.id)).secret
    await eapi.store.accept_agreement(op_key)
    query = {"decision": "reject", "reason": "no legal ground"}
    doc = await eapi.json("POST", f"/v1/eds/registrations/{reg['id']}/document", op_key, json=query)
    body = {**query, "cms": sign(alice.sign, doc["text"].encode())}
    # Another operator may not present alice's signature as theirs.
    resp = await eapi.call(
        "POST", f"/v1/eds/registrations/{reg['id']}/decision", operator, json=body
    )
    assert resp.status == 403
    done = await eapi.json("POST", f"/v1/eds/registrations/{reg['id']}/decision", op_key, json=body)
    assert done["status"] == "rejected" and done["reason"] == "no legal ground"
    # The same operator signs the terms too: two pieces of evidence to re-check.
    assert (await sign_terms(eapi, op_key, alice.sign)).status == 200
    monkeypatch.setenv("LISTD_EDS_TRUST_DIR", str(eds_settings.trust_dir))
    export = await cli("audit", "export")
    assert export.code == 0, export.err
    lines = export.out.splitlines()
    signed = [json.loads(x) for x in lines if '"registration.signed"' in x]
    assert len(signed) == 1 and signed[0]["seq"] == done["evidence"]
    exported = tmp_path / "export.jsonl"
    exported.write_text(export.out, "utf-8")
    good = await cli("eds", "verify", str(exported))
    assert good.code == 0, good.out + good.err
    assert good.lines()[-1] == {"ok": True, "checked": 2, "failed": 0}
    assert [(r["action"], r["iin"]) for r in good.lines()[:2]] == [
        ("registration.signed", alice.iin),
        ("agreement.sign", alice.iin),
    ]
    # Tampered: the reason in the signed document changed after the fact.
    entry = signed[0]
    entry["detail"]["document"] = entry["detail"]["document"].replace("no legal", "a legal")
    (tmp_path / "tampered.jsonl").write_text(json.dumps(entry) + "\n", "utf-8")
    bad = await cli("eds", "verify", str(tmp_path / "tampered.jsonl"))
    assert bad.code == 1
    assert bad.lines()[0]["ok"] is False and bad.lines()[0]["problem"].startswith("changed")
    # Tampered consistently (document and digest both rewritten): the signature gives it away.
    terms = next(json.loads(x) for x in lines if '"agreement.sign"' in x and '"cms"' in x)
    forged = terms["detail"]["document"].replace("confidential", "public")
    terms["detail"]["document"] = forged
    terms["detail"]["document_sha256"] = hashlib.sha256(forged.encode()).hexdigest()
    terms["detail"]["terms"] = terms["detail"]["document_sha256"][:16]
    (tmp_path / "forged.jsonl").write_text(json.dumps(terms) + "\n", "utf-8")
    bad = await cli("eds", "verify", str(tmp_path / "forged.jsonl"))
    assert bad.code == 1
    assert bad.lines()[0]["problem"].startswith("wrong_content"), bad.lines()


async def test_signed_approval_must_be_of_that_decision(eapi: Api, pki: Pki) -> None:
    alice = pki.people["alice"]
    reg = await eapi.json("POST", "/v1/registrations", json=application(BIN))
    op_user = await eapi.store.create_user("ops alice", "ops", "operator")
    op_key = (await eapi.store.issue(op_user.id)).secret
    await eapi.store.accept_agreement(op_key)
    await eapi.json(
        "POST", f"/v1/eds/users/{op_user.id}", op_key, json={"iin": alice.iin, "bin": BIN}
    )
    path = f"/v1/eds/registrations/{reg['id']}"
    reject = await eapi.json(
        "POST", f"{path}/document", op_key, json={"decision": "reject", "reason": "x"}
    )
    # A signed rejection presented as an approval: refused, nothing decided.
    cms = sign(alice.sign, reject["text"].encode())
    resp = await eapi.call(
        "POST", f"{path}/decision", op_key, json={"decision": "approve", "cms": cms}
    )
    assert ((await resp.json())["reason"], resp.status) == ("wrong_content", 401)
    assert (await eapi.json("GET", f"/v1/registrations/{reg['id']}", op_key))["status"] == "pending"
    approve = await eapi.json("POST", f"{path}/document", op_key, json={"decision": "approve"})
    assert json.loads(approve["text"]) == {
        "action": "registration.approve",
        "bin": BIN,
        "organisation": "АО «Банк Б»",
        "reason": "",
        "registration": reg["id"],
    }
    cms = sign(alice.sign, approve["text"].encode())
    done = await eapi.json(
        "POST", f"{path}/decision", op_key, json={"decision": "approve", "cms": cms}
    )
    assert done["registration"]["status"] == "approved"
    assert sorted(c["role"] for c in done["credentials"]) == ["auditor", "screener"]
    evidence = [e.fields for e in await eapi.entries() if e.seq == done["evidence"]][0]
    assert (evidence["action"], evidence["detail"]["decision"]) == (
        "registration.signed",
        "approve",
    )
    assert evidence["detail"]["signer"]["iin"] == alice.iin


async def test_session_keys_expire_from_redis_and_leave_the_indexes(eapi: Api, pki: Pki) -> None:
    alice = pki.people["alice"]
    user_id = await bound(eapi, alice)
    first = await (await signin(eapi, alice.auth)).json()
    store = eapi.store
    redis, keys = store.redis, store.keys
    record = keys.api_key(hashlib.sha256(first["key"].encode()).hexdigest())
    # The record lives until a day after the key expires (60 minutes by default), then Redis
    # drops it.
    ttl = await redis.ttl(record)
    assert 3600 + 86400 - 60 <= ttl <= 3600 + 86400
    # An ordinary key of the same user has no TTL.
    plain = await store.issue(user_id)
    assert await redis.ttl(keys.api_key(hashlib.sha256(plain.secret.encode()).hexdigest())) == -1
    # Redis expires the first session's record (as it will a day after its expiry): it is no
    # longer listed, and the next sign-in drops it from the indexes.
    await redis.delete(record)
    listed = {k["key_id"] for k in await store.list_keys(user_id)}
    assert first["key_id"] not in listed and plain.key_id in listed
    second = await (await signin(eapi, alice.auth)).json()
    assert await redis.hget(keys.api_key_ids(), first["key_id"]) is None
    members = await redis.smembers(keys.user_keys(user_id)) | await redis.smembers(keys.api_keys())
    assert not any(m.startswith(first["key_id"]) for m in members)
    listed = {k["key_id"] for k in await store.list_keys(user_id)}
    assert {plain.key_id, second["key_id"]} <= listed
    assert (await eapi.call("GET", "/v1/whoami", first["key"])).status == 401
