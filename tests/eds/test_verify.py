"""The pure verifier against the test PKI: signature, chain, validity, key usage and
revocation (CRL files and a local OCSP responder)."""

from __future__ import annotations

import base64
import datetime as dt
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from asn1crypto import cms
from cryptography import x509
from cryptography.x509 import ocsp

from listd.eds import EdsSettings, Purpose, SignatureRefused, TrustStore, Verifier
from listd.eds.verify import decode
from tests.eds.pki import NOW, Pki, ocsp_app, sign

DATA = b"listd sign-in 5f1c"


def store(pki: Pki, tmp_path: Path, **changes: Any) -> TrustStore:
    settings = EdsSettings(
        trust_dir=pki.write_trust(tmp_path / "trust"),
        crl_dir=pki.write_crl(tmp_path / "crl"),
        **changes,
    )
    return TrustStore.load(settings)


async def post(url: str, body: bytes) -> bytes:
    async with aiohttp.ClientSession() as session, session.post(url, data=body) as resp:
        return await resp.read()


async def refusal(verifier: Verifier, cms: str, purpose: Purpose, data: bytes = DATA) -> str:
    with pytest.raises(SignatureRefused) as caught:
        await verifier.verify(decode(cms), data, purpose, NOW)
    return caught.value.reason


async def test_attached_and_detached_auth_signatures_verify(pki: Pki, tmp_path: Path) -> None:
    verifier = Verifier(store(pki, tmp_path))
    alice = pki.people["alice"]
    for detached in (False, True):
        verified, content = await verifier.verify(
            decode(sign(alice.auth, DATA, detached=detached)), DATA, Purpose.AUTH, NOW
        )
        assert content == DATA
        assert (verified.subject.iin, verified.subject.bin) == ("850101300123", "060540002341")
        assert verified.revocation == "crl"  # the AIA's responder is unreachable
        assert [c.subject for c in verified.chain] == [
            alice.auth.cert.subject,
            pki.ca.cert.subject,
            pki.root.cert.subject,
        ]


async def test_refusals(pki: Pki, tmp_path: Path) -> None:
    verifier = Verifier(store(pki, tmp_path))
    alice = pki.people["alice"]
    assert await refusal(verifier, sign(alice.auth, b"other"), Purpose.AUTH) == "wrong_content"
    assert await refusal(verifier, sign(alice.sign, DATA), Purpose.AUTH) == "wrong_key"
    assert await refusal(verifier, sign(alice.auth, DATA), Purpose.SIGN) == "wrong_key"
    assert await refusal(verifier, sign(pki.people["bob"].auth, DATA), Purpose.AUTH) == "expired"
    assert await refusal(verifier, sign(pki.people["carol"].auth, DATA), Purpose.AUTH) == "revoked"
    # A certificate with alice's IIN and BIN from a self-made root of the same name,
    # carrying that root along: not the NCA's.
    rogue = sign(pki.rogue.auth, DATA, chain=[pki.rogue_root])
    assert await refusal(verifier, rogue, Purpose.AUTH) == "untrusted"


async def test_a_changed_signature_does_not_verify(pki: Pki, tmp_path: Path) -> None:
    verifier = Verifier(store(pki, tmp_path))
    der = bytearray(decode(sign(pki.people["alice"].auth, DATA)))
    der[-5] ^= 0x01  # inside the signature value, the last field
    cms = base64.b64encode(bytes(der)).decode()
    assert await refusal(verifier, cms, Purpose.AUTH) == "bad_signature"


async def test_ocsp_answers_before_the_crl(pki: Pki, tmp_path: Path) -> None:
    hits: list[int] = []
    async with TestServer(ocsp_app(pki, hits)) as server:
        trust = store(pki, tmp_path, ocsp_url=str(server.make_url("/ocsp")))
        # No CRL at all: OCSP alone decides.
        (tmp_path / "crl" / "nca_rsa.crl").unlink()
        verifier = Verifier(trust, post)
        verified, _ = await verifier.verify(
            decode(sign(pki.people["alice"].auth, DATA)), DATA, Purpose.AUTH, NOW
        )
        assert verified.revocation == "ocsp"
        carol = pki.people["carol"].auth
        assert await refusal(verifier, sign(carol, DATA), Purpose.AUTH) == "revoked"
        assert hits == [pki.people["alice"].auth.cert.serial_number, carol.cert.serial_number]


async def test_no_answer_refuses_unless_the_setting_accepts(pki: Pki, tmp_path: Path) -> None:
    alice = sign(pki.people["alice"].auth, DATA)
    stale = pki.write_crl(tmp_path / "crl", next_update=NOW - dt.timedelta(hours=1))
    closed = TrustStore.load(EdsSettings(trust_dir=pki.write_trust(tmp_path / "t"), crl_dir=stale))
    assert await refusal(Verifier(closed, post), alice, Purpose.AUTH) == "revocation_unknown"
    opened = TrustStore.load(
        EdsSettings(trust_dir=tmp_path / "t", crl_dir=stale, unknown_revocation="accept")
    )
    verified, _ = await Verifier(opened, post).verify(decode(alice), DATA, Purpose.AUTH, NOW)
    assert verified.revocation == "unknown"


async def test_an_ocsp_answer_not_signed_by_the_issuer_is_no_answer(
    pki: Pki, tmp_path: Path
) -> None:
    # A forged responder says "good" for the revoked carol: ignored, and with no CRL at
    # hand the fail-closed default refuses.
    liar = replace(pki, revoked=set())
    async with TestServer(ocsp_app(liar, signer=pki.rogue_root)) as server:
        trust = store(pki, tmp_path, ocsp_url=str(server.make_url("/ocsp")))
        (tmp_path / "crl" / "nca_rsa.crl").unlink()
        carol = sign(pki.people["carol"].auth, DATA)
        assert await refusal(Verifier(trust, post), carol, Purpose.AUTH) == "revocation_unknown"


async def test_a_kazakh_gost_signature_is_refused_with_a_message(pki: Pki, tmp_path: Path) -> None:
    # The signer's digest relabelled GOST 34.311-95 (1.2.398.3.10.1.3.1), as NCALayer
    # labels a GOST key's CMS: refused as unsupported, not as a bad signature.
    info = cms.ContentInfo.load(decode(sign(pki.people["alice"].auth, DATA)))
    signer = info["content"]["signer_infos"][0]
    signer["digest_algorithm"] = {"algorithm": "1.2.398.3.10.1.3.1"}
    gost = base64.b64encode(info.dump(force=True)).decode()
    with pytest.raises(SignatureRefused) as caught:
        await Verifier(store(pki, tmp_path)).verify(decode(gost), DATA, Purpose.AUTH, NOW)
    assert caught.value.reason == "gost_unsupported"
    assert "GOST keys are not supported yet" in caught.value.message


async def test_damaged_signatures_are_refused_never_crash(pki: Pki, tmp_path: Path) -> None:
    # Bytes flipped, cut or inserted anywhere in a real signature: asn1crypto and
    # cryptography find the damage lazily, at any step; each must end in a refusal.
    verifier = Verifier(store(pki, tmp_path))
    good = decode(sign(pki.people["alice"].auth, DATA, chain=[pki.ca]))
    rnd = random.Random(1)
    outcomes: Counter[str] = Counter()
    for _ in range(1500):
        damaged = bytearray(good)
        for _ in range(rnd.randint(1, 4)):
            at = rnd.randrange(len(damaged))
            roll = rnd.random()
            if roll < 0.6:
                damaged[at] = rnd.randrange(256)
            elif roll < 0.8:
                del damaged[at : at + rnd.randint(1, 20)]
            else:
                damaged[at:at] = rnd.randbytes(rnd.randint(1, 5))
        try:
            await verifier.verify(bytes(damaged), DATA, Purpose.AUTH, NOW)
            outcomes["accepted"] += 1  # the damage hit bytes nothing relies on
        except SignatureRefused as exc:
            outcomes[exc.reason] += 1
    assert set(outcomes) <= {
        "accepted",
        "bad_signature",
        "untrusted",
        "wrong_content",
        "unsupported_algorithm",
        "gost_unsupported",
        "wrong_key",
    }
    assert outcomes["bad_signature"] > 1000


async def _ocsp_only(pki: Pki, tmp_path: Path, url: str) -> Verifier:
    """OCSP alone decides for the people (their CRL removed; the root's stays)."""
    trust = store(pki, tmp_path, ocsp_url=url)
    (tmp_path / "crl" / "nca_rsa.crl").unlink()
    return Verifier(trust, post)


async def test_ocsp_requests_carry_a_nonce_and_answers_must_echo_it(
    pki: Pki, tmp_path: Path
) -> None:
    nonces: list[bytes] = []

    async def watching(url: str, body: bytes) -> bytes:
        request = ocsp.load_der_ocsp_request(body)
        nonces.append(request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce)
        return await post(url, body)

    alice = sign(pki.people["alice"].auth, DATA)
    async with TestServer(ocsp_app(pki)) as server:
        verifier = await _ocsp_only(pki, tmp_path, str(server.make_url("/ocsp")))
        verifier.fetch = watching
        for _ in range(2):
            verified, _ = await verifier.verify(decode(alice), DATA, Purpose.AUTH, NOW)
            assert verified.revocation == "ocsp"
    assert len(nonces) == 2 and len(set(nonces)) == 2 and all(len(n) == 16 for n in nonces)
    # An answer echoing another request's nonce is a replay: no answer, fail closed.
    async with TestServer(ocsp_app(pki, nonce="other")) as server:
        verifier = await _ocsp_only(pki, tmp_path / "2", str(server.make_url("/ocsp")))
        assert await refusal(verifier, alice, Purpose.AUTH) == "revocation_unknown"


async def test_an_ocsp_answer_without_nonce_counts_only_while_fresh(
    pki: Pki, tmp_path: Path
) -> None:
    alice = sign(pki.people["alice"].auth, DATA)
    # Produced a minute ago, no nonce: accepted.
    async with TestServer(ocsp_app(pki, nonce="none")) as server:
        verifier = await _ocsp_only(pki, tmp_path, str(server.make_url("/ocsp")))
        verified, _ = await verifier.verify(decode(alice), DATA, Purpose.AUTH, NOW)
        assert verified.revocation == "ocsp"
    # Produced two hours ago, still within its nextUpdate, no nonce: may be a replay of a
    # "good" from before a revocation; no answer.
    old = NOW - dt.timedelta(hours=2)
    async with TestServer(ocsp_app(pki, nonce="none", this_update=old)) as server:
        verifier = await _ocsp_only(pki, tmp_path / "2", str(server.make_url("/ocsp")))
        assert await refusal(verifier, alice, Purpose.AUTH) == "revocation_unknown"
    # The same age with our nonce echoed is news: accepted (its nextUpdate is ahead).
    async with TestServer(ocsp_app(pki, this_update=old)) as server:
        verifier = await _ocsp_only(pki, tmp_path / "3", str(server.make_url("/ocsp")))
        verified, _ = await verifier.verify(decode(alice), DATA, Purpose.AUTH, NOW)
        assert verified.revocation == "ocsp"


async def test_an_ocsp_answer_about_another_issuers_certificate_is_no_answer(
    pki: Pki, tmp_path: Path
) -> None:
    # Signed by the real intermediate, right serial, "good" for the revoked carol, but its
    # certID names another issuer: not an answer about carol's certificate.
    liar = replace(pki, revoked=set())
    async with TestServer(ocsp_app(liar, about=pki.rogue_root)) as server:
        verifier = await _ocsp_only(pki, tmp_path, str(server.make_url("/ocsp")))
        carol = sign(pki.people["carol"].auth, DATA)
        assert await refusal(verifier, carol, Purpose.AUTH) == "revocation_unknown"
