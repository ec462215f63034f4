"""The certification path beyond "signed by": every issuer a CA allowed to sign
certificates, path length, name constraints, unknown critical extensions, and the
revocation of the intermediates (CRL of the root)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from listd.eds import EdsSettings, Purpose, SignatureRefused, TrustStore, Verifier
from listd.eds.verify import decode
from tests.eds.pki import (
    DAY,
    NOW,
    Issued,
    Pki,
    ca_cert,
    name,
    person,
    sign,
    write_crl_file,
)
from tests.eds.test_verify import post

DATA = b"listd sign-in 7a2e"


def verifier(pki: Pki, tmp_path: Path, *extra: Issued) -> Verifier:
    """A verifier trusting the test NCA, with current CRLs for its CAs and for `extra`
    intermediates (which are not installed: the signature carries them)."""
    crls = pki.write_crl(tmp_path / "crl")
    for n, ca in enumerate(extra):
        write_crl_file(crls / f"extra{n}.crl", ca, set(), NOW + DAY)
    settings = EdsSettings(trust_dir=pki.write_trust(tmp_path / "trust"), crl_dir=crls)
    return Verifier(TrustStore.load(settings))


async def refusal(v: Verifier, cms: str) -> SignatureRefused:
    with pytest.raises(SignatureRefused) as caught:
        await v.verify(decode(cms), DATA, Purpose.AUTH, NOW)
    return caught.value


def _issued_by_end_entity(issuer: Issued, iin: str) -> Issued:
    """A certificate with `iin` signed by an end-entity key (CA=false): the classic
    forgery of a chain where only signatures are checked."""
    real = person(issuer, iin)  # its subject and key, re-signed below
    forged = (
        x509.CertificateBuilder()
        .subject_name(real.auth.cert.subject)
        .issuer_name(issuer.cert.subject)
        .public_key(real.auth.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(real.auth.cert.extensions.get_extension_for_class(x509.KeyUsage).value, True)
        .add_extension(
            real.auth.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value, False
        )
        .sign(issuer.key, hashes.SHA256())
    )
    return Issued(forged, real.auth.key)


async def test_an_end_entity_certificate_cannot_issue(pki: Pki, tmp_path: Path) -> None:
    # Alice's own (genuine) AUTH certificate signs one for someone else's IIN.
    alice = pki.people["alice"].auth
    forged = _issued_by_end_entity(alice, "920404300456")
    cms = sign(forged, DATA, chain=[alice, pki.ca])
    refused = await refusal(verifier(pki, tmp_path), cms)
    assert refused.reason == "untrusted"
    assert "not a CA" in refused.message


async def test_a_ca_without_key_cert_sign_cannot_issue(pki: Pki, tmp_path: Path) -> None:
    sub = ca_cert(name("NO CERT SIGN"), pki.ca, None, key_cert_sign=False)
    cms = sign(person(sub, "850101300123").auth, DATA, chain=[sub])
    refused = await refusal(verifier(pki, tmp_path, sub), cms)
    assert refused.reason == "untrusted"
    assert "not allowed to sign certificates" in refused.message


async def test_path_length_is_enforced(pki: Pki, tmp_path: Path) -> None:
    # The issuing CA has pathLenConstraint 0: a sub-CA under it may not issue.
    sub = ca_cert(name("SUB-CA UNDER A PATHLEN 0 CA"), pki.ca, None)
    cms = sign(person(sub, "850101300123").auth, DATA, chain=[sub])
    refused = await refusal(verifier(pki, tmp_path, sub), cms)
    assert refused.reason == "untrusted"
    assert "path length 0" in refused.message


def _constrained(pki: Pki, permitted: x509.Name) -> Issued:
    limits = x509.NameConstraints([x509.DirectoryName(permitted)], None)
    return ca_cert(name("CONSTRAINED ISSUING CA"), pki.root, 0, extra=[(limits, True)])


async def test_name_constraints_are_enforced(pki: Pki, tmp_path: Path) -> None:
    # The people's DN begins with CN=ТЕСТОВ ТЕСТ: inside the first subtree, outside the second.
    inside = _constrained(pki, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ТЕСТОВ ТЕСТ")]))
    outside = _constrained(pki, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ДРУГОЙ")]))
    v = verifier(pki, tmp_path, inside, outside)
    good = sign(person(inside, "850101300123").auth, DATA, chain=[inside])
    verified, _ = await v.verify(decode(good), DATA, Purpose.AUTH, NOW)
    assert verified.chain[1].subject == inside.cert.subject
    refused = await refusal(v, sign(person(outside, "850101300123").auth, DATA, chain=[outside]))
    assert refused.reason == "untrusted"
    assert "outside what" in refused.message


async def test_a_name_constraint_listd_cannot_check_refuses(pki: Pki, tmp_path: Path) -> None:
    uri = x509.NameConstraints([x509.UniformResourceIdentifier("https://nca.example")], None)
    sub = ca_cert(name("URI CONSTRAINED CA"), pki.root, 0, extra=[(uri, True)])
    cert = person(sub, "850101300123").auth
    # A person with no URI name is not constrained by a URI subtree: accepted.
    v = verifier(pki, tmp_path, sub)
    await v.verify(decode(sign(cert, DATA, chain=[sub])), DATA, Purpose.AUTH, NOW)
    excluded = x509.NameConstraints(
        None,
        [x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ТЕСТОВ ТЕСТ")]))],
    )
    sub2 = ca_cert(name("EXCLUDING CA"), pki.root, 0, extra=[(excluded, True)])
    refused = await refusal(
        verifier(pki, tmp_path, sub2), sign(person(sub2, "850101300123").auth, DATA, chain=[sub2])
    )
    assert "excluded by" in refused.message


async def test_an_unknown_critical_extension_refuses(pki: Pki, tmp_path: Path) -> None:
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    sub = ca_cert(name("ODD CRITICAL CA"), pki.root, 0, extra=[(odd, True)])
    cms = sign(person(sub, "850101300123").auth, DATA, chain=[sub])
    refused = await refusal(verifier(pki, tmp_path, sub), cms)
    assert refused.reason == "untrusted"
    assert "1.3.6.1.4.1.99999.1" in refused.message
    # The same extension, not critical: accepted.
    sub = ca_cert(name("ODD NONCRITICAL CA"), pki.root, 0, extra=[(odd, False)])
    cms = sign(person(sub, "850101300123").auth, DATA, chain=[sub])
    await verifier(pki, tmp_path / "2", sub).verify(decode(cms), DATA, Purpose.AUTH, NOW)


async def test_a_revoked_intermediate_refuses_its_people(pki: Pki, tmp_path: Path) -> None:
    sub = ca_cert(name("REVOKED ISSUING CA"), pki.root, 0)
    cms = sign(person(sub, "850101300123").auth, DATA, chain=[sub])
    # Not revoked yet: both links checked against the CRLs.
    verified, _ = await verifier(pki, tmp_path, sub).verify(decode(cms), DATA, Purpose.AUTH, NOW)
    assert verified.revocation == "crl"
    assert verified.to_json()["revocation_chain"] == ["crl", "crl"]
    # The root's CRL lists it.
    revoked = replace(pki, revoked_cas={sub.cert.serial_number})
    refused = await refusal(verifier(revoked, tmp_path / "2", sub), cms)
    assert refused.reason == "revoked"
    assert "in its chain" in refused.message


async def test_an_intermediate_of_unknown_status_follows_the_setting(
    pki: Pki, tmp_path: Path
) -> None:
    cms = sign(pki.people["alice"].auth, DATA)
    trust = pki.write_trust(tmp_path / "trust")
    crls = pki.write_crl(tmp_path / "crl", root=False)  # the people's CRL, not the root's
    closed = Verifier(TrustStore.load(EdsSettings(trust_dir=trust, crl_dir=crls)))
    refused = await refusal(closed, cms)
    assert refused.reason == "revocation_unknown"
    assert "in its chain" in refused.message
    opened = Verifier(
        TrustStore.load(EdsSettings(trust_dir=trust, crl_dir=crls, unknown_revocation="accept"))
    )
    verified, _ = await opened.verify(decode(cms), DATA, Purpose.AUTH, NOW)
    assert verified.revocation == "unknown"
    assert verified.revocation_chain == ("crl", "unknown")


async def test_a_stale_root_crl_is_no_answer(pki: Pki, tmp_path: Path) -> None:
    crls = pki.write_crl(tmp_path / "crl")
    write_crl_file(crls / "root_rsa.crl", pki.root, set(), NOW - dt.timedelta(hours=1))
    v = Verifier(
        TrustStore.load(EdsSettings(trust_dir=pki.write_trust(tmp_path / "trust"), crl_dir=crls))
    )
    assert (await refusal(v, sign(pki.people["alice"].auth, DATA))).reason == "revocation_unknown"


async def test_an_intermediate_is_asked_at_the_responder_its_aia_names(
    pki: Pki, tmp_path: Path
) -> None:
    # The root's CRL does not list the sub-CA, but the responder its AIA names (for the
    # root) says revoked: OCSP comes first.
    asked: list[int] = []

    async def answer(request: web.Request) -> web.Response:
        req = ocsp.load_der_ocsp_request(await request.read())
        asked.append(req.serial_number)
        nonce = req.extensions.get_extension_for_class(x509.OCSPNonce).value
        resp = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=sub.cert,
                issuer=pki.root.cert,
                algorithm=hashes.SHA1(),
                cert_status=ocsp.OCSPCertStatus.REVOKED,
                this_update=NOW - dt.timedelta(minutes=1),
                next_update=NOW + DAY,
                revocation_time=NOW - DAY,
                revocation_reason=x509.ReasonFlags.ca_compromise,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, pki.root.cert)
            .add_extension(nonce, critical=False)
            .sign(pki.root.key, hashes.SHA256())
        )
        return web.Response(body=resp.public_bytes(serialization.Encoding.DER))

    app = web.Application()
    app.router.add_post("/root-ocsp", answer)
    async with TestServer(app) as server:
        sub = ca_cert(name("ISSUING CA"), pki.root, 0, ocsp_url=str(server.make_url("/root-ocsp")))
        cms = sign(person(sub, "850101300123").auth, DATA, chain=[sub])
        v = verifier(pki, tmp_path, sub)
        v.fetch = post
        refused = await refusal(v, cms)
        assert refused.reason == "revoked"
        assert "in its chain is revoked (OCSP)" in refused.message
        assert asked == [sub.cert.serial_number]


async def test_a_tangle_of_carried_certificates_is_refused_quickly(
    pki: Pki, tmp_path: Path
) -> None:
    # Sixteen CA certificates of one key and one name: each is "issued by" every other,
    # so an unbounded search would walk 16*15*14*13*12 paths before giving up.
    rogue = pki.rogue_root
    tangle = [
        Issued(
            x509.CertificateBuilder()
            .subject_name(rogue.cert.subject)
            .issuer_name(rogue.cert.subject)
            .public_key(rogue.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - DAY)
            .not_valid_after(NOW + DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(rogue.key, hashes.SHA256()),
            rogue.key,
        )
        for _ in range(16)
    ]
    cms = sign(pki.rogue.auth, DATA, chain=tangle)
    v = verifier(pki, tmp_path)
    started = time.monotonic()
    assert (await refusal(v, cms)).reason == "untrusted"
    assert time.monotonic() - started < 5
