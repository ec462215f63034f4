"""Is this certificate the NCA's, valid now, for this purpose, and not revoked?

Trust anchors are the self-signed certificates the operator put in the trust directory;
the other certificates there, and those a signature carries, only help build the path
(a signature's own certificates are never trusted for themselves). Nothing is fetched
but OCSP. Revocation of the signer's certificate: OCSP first (the responder named in the
certificate, or the configured one), then the operator's CRL files; when neither
answers, `unknown_revocation` decides, and the caller journals the outcome.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from listd.eds.cms import gost_refused, is_gost
from listd.eds.config import EdsSettings
from listd.eds.errors import SignatureRefused
from listd.eds.subject import Subject
from listd.errors import ConfigError
from listd.logs import get_logger

log = get_logger(__name__)

# POST an OCSP request (DER) to a URL, return the answer's body; raise OSError or
# TimeoutError when the responder cannot be reached.
Fetch = Callable[[str, bytes], Awaitable[bytes]]
_MAX_DEPTH = 6
_SKEW = dt.timedelta(minutes=5)  # OCSP thisUpdate may be this far in our future
_OCSP_MAX_AGE = dt.timedelta(hours=1)  # an answer without nextUpdate, at most this old


class Purpose(enum.Enum):
    """AUTH keys sign in (clientAuth); SIGN keys sign documents (nonRepudiation)."""

    AUTH = "auth"
    SIGN = "sign"


@dataclass(frozen=True, slots=True)
class Verified:
    """A certificate that checked out, and how its revocation status was learnt."""

    cert: x509.Certificate
    chain: list[x509.Certificate]  # signer first, anchor last
    subject: Subject
    revocation: str  # ocsp | crl | unknown (accepted by setting)

    def to_json(self) -> dict[str, object]:
        return {
            **self.subject.to_json(),
            "serial": format(self.cert.serial_number, "x"),
            "issuer": self.cert.issuer.rfc4514_string(),
            "not_after": self.cert.not_valid_after_utc.isoformat(),
            "revocation": self.revocation,
        }


@dataclass(slots=True)
class _Crl:
    mtime: float
    crl: x509.CertificateRevocationList


@dataclass(slots=True)
class TrustStore:
    """The operator's anchors, intermediates and CRL files, and the revocation policy."""

    settings: EdsSettings
    anchors: list[x509.Certificate] = field(default_factory=list)
    intermediates: list[x509.Certificate] = field(default_factory=list)
    _crls: dict[Path, _Crl] = field(default_factory=dict)

    @classmethod
    def load(cls, settings: EdsSettings) -> TrustStore:
        if settings.trust_dir is None:
            raise ConfigError("LISTD_EDS_TRUST_DIR is not set: EDS sign-in is off")
        store = cls(settings)
        for path in sorted(settings.trust_dir.iterdir()):
            if not path.is_file():
                continue
            for cert in _certs(path):
                if cert.issuer == cert.subject and _self_signed(cert):
                    store.anchors.append(cert)
                else:
                    store.intermediates.append(cert)
        if not store.anchors:
            raise ConfigError(
                f"no self-signed root certificate in LISTD_EDS_TRUST_DIR {settings.trust_dir}"
            )
        log.info(
            "eds trust loaded", anchors=len(store.anchors), intermediates=len(store.intermediates)
        )
        return store

    def chain(
        self, leaf: x509.Certificate, carried: list[x509.Certificate], at: dt.datetime
    ) -> list[x509.Certificate]:
        """The path from `leaf` to an anchor, every link checked at `at`; refused if none."""
        _check_alg(leaf)
        _check_time(leaf, at)
        path = [leaf]
        pool = self.intermediates + [c for c in carried if c != leaf]
        current = leaf
        for _ in range(_MAX_DEPTH):
            for anchor in self.anchors:
                if _issued_by(current, anchor) and _can_issue(anchor, at):
                    return [*path, anchor]
            issuer = next(
                (c for c in pool if c not in path and _issued_by(current, c) and _can_issue(c, at)),
                None,
            )
            if issuer is None:
                break
            path.append(issuer)
            current = issuer
        raise SignatureRefused(
            "the certificate was not issued by the NCA (no path to an installed NCA root)",
            "untrusted",
        )

    async def check(
        self,
        leaf: x509.Certificate,
        carried: list[x509.Certificate],
        purpose: Purpose,
        at: dt.datetime,
        fetch: Fetch | None,
        *,
        revocation: bool = True,
    ) -> Verified:
        """Chain, validity, key usage and (unless re-checking old evidence, whose outcome
        was journaled) revocation of a signer's certificate."""
        path = self.chain(leaf, carried, at)
        _check_usage(leaf, purpose)
        status = await self.revocation(leaf, path[1], at, fetch) if revocation else "recorded"
        return Verified(leaf, path, Subject.of(leaf), status)

    async def revocation(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        at: dt.datetime,
        fetch: Fetch | None,
    ) -> str:
        """ocsp or crl (good), or unknown if the policy accepts that; refuses if revoked."""
        if fetch is not None and self.settings.ocsp_timeout > 0:
            url = self.settings.ocsp_url or _ocsp_url(cert)
            if url:
                status = await _ask_ocsp(url, cert, issuer, at, fetch)
                if status is ocsp.OCSPCertStatus.REVOKED:
                    raise SignatureRefused("the certificate is revoked (OCSP)", "revoked")
                if status is ocsp.OCSPCertStatus.GOOD:
                    return "ocsp"
        listed = self._crl_status(cert, issuer, at)
        if listed is True:
            raise SignatureRefused("the certificate is revoked (CRL)", "revoked")
        if listed is False:
            return "crl"
        if self.settings.unknown_revocation == "accept":
            log.warning(
                "eds revocation unknown, accepted by setting",
                serial=format(cert.serial_number, "x"),
            )
            return "unknown"
        raise SignatureRefused(
            "the certificate's revocation status could not be learnt (OCSP unreachable, "
            "no current CRL); try again later",
            "revocation_unknown",
        )

    def _crl_status(
        self, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime
    ) -> bool | None:
        """True: listed; False: a current CRL of the issuer does not list it; None: no
        current CRL of the issuer."""
        current = False
        for crl in self._load_crls():
            if crl.issuer != cert.issuer or not _crl_signed_by(crl, issuer):
                continue
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
                return True
            nxt = crl.next_update_utc
            if crl.last_update_utc <= at + _SKEW and (nxt is None or nxt >= at):
                current = True
        return False if current else None

    def _load_crls(self) -> list[x509.CertificateRevocationList]:
        """The CRL files, re-read when changed (the operator replaces them as they age)."""
        folder = self.settings.crl_dir
        if folder is None or not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.iterdir()):
            try:
                mtime = path.stat().st_mtime
                cached = self._crls.get(path)
                if cached is None or cached.mtime != mtime:
                    raw = path.read_bytes()
                    crl = (
                        x509.load_pem_x509_crl(raw)
                        if raw.lstrip().startswith(b"-----")
                        else x509.load_der_x509_crl(raw)
                    )
                    cached = self._crls[path] = _Crl(mtime, crl)
            except (OSError, ValueError) as exc:
                log.warning("eds crl file unreadable", path=str(path), error=str(exc))
                continue
            found.append(cached.crl)
        return found


def _certs(path: Path) -> list[x509.Certificate]:
    raw = path.read_bytes()
    try:
        if b"-----BEGIN CERTIFICATE-----" in raw:
            return x509.load_pem_x509_certificates(raw)
        return [x509.load_der_x509_certificate(raw)]
    except ValueError as exc:
        raise ConfigError(f"{path} is not a certificate (PEM or DER): {exc}") from exc


def _verify_with(
    key: object, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None
) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _self_signed(cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _can_issue(cert: x509.Certificate, at: dt.datetime) -> bool:
    """A CA certificate, valid at `at`, allowed to sign certificates."""
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        return False
    try:
        if not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return False
    except x509.ExtensionNotFound:
        return False
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        return True


def _check_alg(cert: x509.Certificate) -> None:
    oids = (cert.signature_algorithm_oid, cert.public_key_algorithm_oid)
    if any(is_gost(oid.dotted_string) for oid in oids):
        raise gost_refused()
    try:
        cert.public_key()
    except UnsupportedAlgorithm:
        raise SignatureRefused("this key type is not supported", "unsupported_algorithm") from None


def _check_time(cert: x509.Certificate, at: dt.datetime) -> None:
    if at > cert.not_valid_after_utc:
        raise SignatureRefused(
            f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}", "expired"
        )
    if at < cert.not_valid_before_utc:
        raise SignatureRefused("the certificate is not valid yet", "not_yet_valid")


def _check_usage(cert: x509.Certificate, purpose: Purpose) -> None:
    """NCA AUTH certificates: digitalSignature and clientAuth; SIGN (ГОСТ/RSA) ones:
    nonRepudiation. A key for one purpose is refused for the other."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise SignatureRefused("the certificate states no key usage", "wrong_key") from None
    try:
        eku = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        eku = []
    if purpose is Purpose.AUTH:
        if not usage.digital_signature or ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            raise SignatureRefused(
                "this is not an authentication key: sign in with your AUTH key", "wrong_key"
            )
    elif not usage.content_commitment:
        raise SignatureRefused(
            "this is not a signing key: sign documents with your SIGN (RSA) key", "wrong_key"
        )


def _ocsp_url(cert: x509.Certificate) -> str:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return ""
    for desc in aia:
        if desc.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
            desc.access_location, x509.UniformResourceIdentifier
        ):
            return desc.access_location.value
    return ""


def _crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    key = issuer.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return False
    return crl.is_signature_valid(key)


async def _ask_ocsp(
    url: str, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime, fetch: Fetch
) -> ocsp.OCSPCertStatus | None:
    """The responder's signed answer about `cert`, or None if there is no usable one."""
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
    try:
        raw = await fetch(url, request.public_bytes(serialization.Encoding.DER))
        answer = ocsp.load_der_ocsp_response(raw)
    except (OSError, TimeoutError, ValueError) as exc:
        log.warning("eds ocsp unavailable", url=url, error=str(exc) or type(exc).__name__)
        return None
    if answer.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        log.warning("eds ocsp refused", url=url, status=answer.response_status.name)
        return None
    for single in answer.responses:
        if single.serial_number != cert.serial_number:
            continue
        if not _ocsp_signed(answer, issuer, at):
            log.warning("eds ocsp answer not signed by the issuer or its responder", url=url)
            return None
        nxt = single.next_update_utc
        # Without a nextUpdate (the NCA's responder answers afresh each time), an answer
        # older than an hour is a replay, not news.
        if single.this_update_utc > at + _SKEW or (
            nxt < at if nxt is not None else single.this_update_utc < at - _OCSP_MAX_AGE
        ):
            log.warning("eds ocsp answer out of date", url=url)
            return None
        return single.certificate_status
    return None


def _ocsp_signed(answer: ocsp.OCSPResponse, issuer: x509.Certificate, at: dt.datetime) -> bool:
    """Signed by the issuer itself, or by a responder certificate it issued for OCSP."""
    signers = [issuer]
    for responder in answer.certificates:
        try:
            eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if (
            ExtendedKeyUsageOID.OCSP_SIGNING in eku
            and _issued_by(responder, issuer)
            and responder.not_valid_before_utc <= at <= responder.not_valid_after_utc
        ):
            signers.append(responder)
    algorithm = answer.signature_hash_algorithm
    return any(
        _verify_with(s.public_key(), answer.signature, answer.tbs_response_bytes, algorithm)
        for s in signers
    )
