"""A test PKI shaped like the NCA's: a root, an intermediate, and people with separate
AUTH and SIGN keys and NCA-like subjects (IIN in SERIALNUMBER, BIN in OU); one person's
certificates expired, one revoked (in the CRL and by the OCSP responder below). Also a
self-made root that issues a certificate with a registered person's IIN."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)
BIN = "060540002341"  # a valid BIN (check digit): the bank the people work for
# Where the user certificates' AIA points: nothing listens there (tests that want OCSP
# name the local responder with LISTD_EDS_OCSP_URL).
DEAD_OCSP = "http://127.0.0.1:9/ocsp"


@dataclass
class Issued:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Person:
    iin: str
    auth: Issued
    sign: Issued


@dataclass
class Pki:
    root: Issued
    ca: Issued  # the intermediate that issues people's certificates
    people: dict[str, Person]  # alice, bob (expired), carol (revoked), dave (private person)
    rogue_root: Issued
    rogue: Person  # alice's IIN and BIN, issued by the rogue root
    revoked: set[int] = field(default_factory=set)  # by the intermediate (people)
    revoked_cas: set[int] = field(default_factory=set)  # by the root (intermediates)

    def write_trust(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "root_rsa.pem").write_bytes(self.root.pem())
        (folder / "nca_rsa.cer").write_bytes(self.ca.cert.public_bytes(serialization.Encoding.DER))
        return folder

    def write_crl(
        self, folder: Path, next_update: dt.datetime | None = None, *, root: bool = True
    ) -> Path:
        """The intermediate's CRL and (unless `root` is false) the root's, which lists
        revoked intermediates."""
        folder.mkdir(parents=True, exist_ok=True)
        crls = [("nca_rsa.crl", self.ca, self.revoked)]
        if root:
            crls.append(("root_rsa.crl", self.root, self.revoked_cas))
        for filename, issuer, revoked in crls:
            write_crl_file(folder / filename, issuer, revoked, next_update or NOW + DAY)
        return folder


def write_crl_file(path: Path, issuer: Issued, revoked: set[int], next_update: dt.datetime) -> None:
    """A CRL of `issuer` listing `revoked`, current from yesterday to `next_update`."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(NOW - DAY)
        .next_update(next_update)
    )
    for serial in sorted(revoked):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(NOW - DAY)
            .build()
        )
    crl = builder.sign(issuer.key, hashes.SHA256())
    path.write_bytes(crl.public_bytes(serialization.Encoding.DER))


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
        ]
    )


def ca_cert(
    name: x509.Name,
    issuer: Issued | None,
    path_length: int | None,
    *,
    key_cert_sign: bool = True,
    extra: list[tuple[x509.ExtensionType, bool]] | None = None,
    ocsp_url: str = "",
) -> Issued:
    """A CA certificate (self-signed when `issuer` is None); `extra`: (extension, critical)."""
    key = _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - 365 * DAY)
        .not_valid_after(NOW + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, key_cert_sign, True, False, False),
            critical=True,
        )
    )
    for ext, critical in extra or []:
        builder = builder.add_extension(ext, critical=critical)
    if ocsp_url:
        builder = builder.add_extension(_aia(ocsp_url), critical=False)
    return Issued(builder.sign(issuer.key if issuer else key, hashes.SHA256()), key)


_ca = ca_cert


def _aia(url: str) -> x509.AuthorityInformationAccess:
    return x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(url)
            )
        ]
    )


def name(cn: str) -> x509.Name:
    return _name(cn)


def _person_cert(issuer: Issued, iin: str, bin_: str, auth: bool, not_after: dt.datetime) -> Issued:
    key = _key()
    attrs = [
        x509.NameAttribute(NameOID.COMMON_NAME, "ТЕСТОВ ТЕСТ"),
        x509.NameAttribute(NameOID.SURNAME, "ТЕСТОВ"),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, "IIN" + iin),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
        x509.NameAttribute(NameOID.GIVEN_NAME, "ТЕСТОВИЧ"),
    ]
    if bin_:
        attrs += [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'АО "ТЕСТ БАНК"'),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "BIN" + bin_),
        ]
    usage = (
        x509.KeyUsage(True, False, True, False, False, False, False, False, False)
        if auth
        else x509.KeyUsage(True, True, False, False, False, False, False, False, False)
    )
    eku = [ExtendedKeyUsageOID.CLIENT_AUTH] if auth else [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(NOW - 30 * DAY, not_after - DAY))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        .add_extension(_aia(DEAD_OCSP), critical=False)
    )
    return Issued(builder.sign(issuer.key, hashes.SHA256()), key)


def person(issuer: Issued, iin: str, bin_: str = BIN) -> Person:
    """A person with a year's AUTH and SIGN certificates from `issuer`."""
    return _person(issuer, iin, bin_, NOW + 365 * DAY)


def _person(issuer: Issued, iin: str, bin_: str, not_after: dt.datetime) -> Person:
    return Person(
        iin,
        _person_cert(issuer, iin, bin_, True, not_after),
        _person_cert(issuer, iin, bin_, False, not_after),
    )


def make_pki() -> Pki:
    root = _ca(_name("ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ TEST"), None, 1)
    ca = _ca(_name("ҰКО (RSA) TEST ISSUING"), root, 0)
    year = NOW + 365 * DAY
    people = {
        "alice": _person(ca, "850101300123", BIN, year),
        "bob": _person(ca, "870202400234", BIN, NOW - 2 * DAY),
        "carol": _person(ca, "900303500345", BIN, year),
        "dave": _person(ca, "920404300456", "", year),
    }
    rogue_root = _ca(_name("ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ TEST"), None, 1)
    pki = Pki(root, ca, people, rogue_root, _person(rogue_root, "850101300123", BIN, year))
    pki.revoked = {people["carol"].auth.cert.serial_number, people["carol"].sign.cert.serial_number}
    return pki


def sign(
    issued: Issued, data: bytes, *, detached: bool = False, chain: list[Issued] | None = None
) -> str:
    """A CMS SignedData over `data` (base64), as NCALayer's createCMSSignatureFromBase64
    returns it."""
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(issued.cert, issued.key, hashes.SHA256())
    )
    for extra in chain or []:
        builder = builder.add_certificate(extra.cert)
    # Binary: the bytes as given (without it, text would be signed with CRLF line ends).
    options = [pkcs7.PKCS7Options.Binary]
    if detached:
        options.append(pkcs7.PKCS7Options.DetachedSignature)
    der = builder.sign(serialization.Encoding.DER, options)
    return base64.b64encode(der).decode()


def ocsp_app(
    pki: Pki,
    hits: list[int] | None = None,
    signer: Issued | None = None,
    *,
    nonce: str = "echo",
    this_update: dt.datetime | None = None,
    about: Issued | None = None,
) -> web.Application:
    """An OCSP responder for the intermediate (signs its own answers, or with `signer`'s
    key when given: a forger's), as aiohttp app. `nonce`: echo the request's (as the
    NCA's responder does), "none" (a pre-produced answer) or "other" (a replay of another
    request's answer); `about`: the issuer named in the certID, if not the intermediate."""
    signer = signer or pki.ca

    async def answer(request: web.Request) -> web.Response:
        req = ocsp.load_der_ocsp_request(await request.read())
        if hits is not None:
            hits.append(req.serial_number)
        by_serial = {
            p.cert.serial_number: p.cert
            for person in pki.people.values()
            for p in (person.auth, person.sign)
        }
        cert = by_serial.get(req.serial_number)
        if cert is None:
            resp = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        else:
            revoked = req.serial_number in pki.revoked
            when = this_update or NOW - dt.timedelta(minutes=1)
            builder = (
                ocsp.OCSPResponseBuilder()
                .add_response(
                    cert=cert,
                    issuer=(about or pki.ca).cert,
                    algorithm=hashes.SHA1(),
                    cert_status=ocsp.OCSPCertStatus.REVOKED
                    if revoked
                    else ocsp.OCSPCertStatus.GOOD,
                    this_update=when,
                    next_update=when + DAY,
                    revocation_time=NOW - DAY if revoked else None,
                    revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
                )
                .responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
            )
            try:
                asked = req.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
            except x509.ExtensionNotFound:
                asked = None
            if nonce == "echo" and asked is not None:
                builder = builder.add_extension(x509.OCSPNonce(asked), critical=False)
            elif nonce == "other":
                builder = builder.add_extension(x509.OCSPNonce(b"\x00" * 16), critical=False)
            resp = builder.sign(signer.key, hashes.SHA256())
        return web.Response(
            body=resp.public_bytes(serialization.Encoding.DER),
            content_type="application/ocsp-response",
        )

    app = web.Application()
    app.router.add_post("/ocsp", answer)
    return app
