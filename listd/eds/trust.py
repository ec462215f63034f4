"""Is this certificate the NCA's, valid now, for this purpose, and not revoked?

Trust anchors are the self-signed certificates the operator put in the trust directory;
the other certificates there, and those a signature carries, only help build the path
(a signature's own certificates are never trusted for themselves). Every issuer in the
path must be a CA allowed to sign certificates, within its path length and name
constraints; a critical extension listd does not process refuses the certificate.
Nothing is fetched but OCSP. Revocation of every certificate in the path but the anchor:
OCSP first (the responder the certificate names, or for the signer the configured one),
then the operator's CRL files; when neither answers, `unknown_revocation` decides, and
the caller journals the outcome.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID

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
# Paths tried per certificate at most: certificates a signature carries could be made to
# chain among themselves in every order (an attacker's cycle), which a search without a
# bound would explore exponentially. A real NCA chain is found in a handful.
_MAX_PATHS = 64
_SKEW = dt.timedelta(minutes=5)  # OCSP thisUpdate may be this far in our future
# An answer that does not echo our nonce (or has no nextUpdate) may be a replay: at most
# this old (thisUpdate), whatever its nextUpdate says.
_OCSP_MAX_AGE = dt.timedelta(hours=1)
# Critical extensions this module processes; any other critical one refuses the certificate
# (RFC 5280 4.2). Certificate policies are understood in the sense that no particular
# policy is required (policy constraints and mappings are not processed, so refused).
_UNDERSTOOD = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.NAME_CONSTRAINTS,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.CERTIFICATE_POLICIES,
    }
)
_RANK = {"ocsp": 0, "crl": 0, "recorded": 0, "unknown": 1}


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
    revocation: str  # the signer's: ocsp | crl | unknown (accepted by setting) | recorded
    # One outcome per certificate of the chain but the anchor, signer first.
    revocation_chain: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            **self.subject.to_json(),
            "serial": format(self.cert.serial_number, "x"),
            "issuer": self.cert.issuer.rfc4514_string(),
            "not_after": self.cert.not_valid_after_utc.isoformat(),
            "revocation": self.revocation,
        }
        if self.revocation_chain:
            out["revocation_chain"] = list(self.revocation_chain)
        return out


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
        """The path from `leaf` to an anchor, every link checked at `at`; refused if none.

        Every path the pool allows is tried (depth first), so a decoy certificate cannot
        hide a good path; when none holds, the first specific refusal is given."""
        _check_alg(leaf)
        _check_time(leaf, at)
        _check_critical(leaf)
        pool = self.intermediates + [c for c in carried if c != leaf]
        refusals: list[SignatureRefused] = []
        edges: dict[tuple[x509.Certificate, x509.Certificate], bool] = {}
        budget = [_MAX_PATHS * _MAX_DEPTH]  # nodes the search may still visit
        for path in self._paths([leaf], pool, at, edges, budget):
            try:
                _check_path(path)
            except SignatureRefused as exc:
                refusals.append(exc)
                continue
            return path
        if refusals:
            raise refusals[0]
        raise SignatureRefused(
            "the certificate was not issued by the NCA (no path to an installed NCA root)",
            "untrusted",
        )

    def _paths(
        self,
        path: list[x509.Certificate],
        pool: list[x509.Certificate],
        at: dt.datetime,
        edges: dict[tuple[x509.Certificate, x509.Certificate], bool],
        budget: list[int],
    ) -> Iterator[list[x509.Certificate]]:
        """Candidate paths from path[0] through `path` to an anchor (signatures only;
        `_check_path` judges the rest). `edges` remembers signature checks; `budget`
        bounds the nodes visited."""
        budget[0] -= 1
        if budget[0] < 0:
            return
        current = path[-1]

        def signed(issuer: x509.Certificate) -> bool:
            if (current, issuer) not in edges:
                edges[current, issuer] = _issued_by(current, issuer)
            return edges[current, issuer]

        for anchor in self.anchors:
            if anchor not in path and _valid_at(anchor, at) and signed(anchor):
                yield [*path, anchor]
        if len(path) >= _MAX_DEPTH:
            return
        for issuer in pool:
            if issuer not in path and _valid_at(issuer, at) and signed(issuer):
                yield from self._paths([*path, issuer], pool, at, edges, budget)

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
        if not revocation:
            return Verified(leaf, path, Subject.of(leaf), "recorded")
        # Signer first: its refusal is the one the officer needs to read.
        outcomes = [
            await self.revocation(cert, path[i + 1], at, fetch, signer=i == 0)
            for i, cert in enumerate(path[:-1])
        ]
        worst = max(outcomes, key=lambda o: _RANK.get(o, 1))
        status = outcomes[0] if _RANK.get(worst, 1) == 0 else worst
        return Verified(leaf, path, Subject.of(leaf), status, tuple(outcomes))

    async def revocation(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        at: dt.datetime,
        fetch: Fetch | None,
        *,
        signer: bool = True,
    ) -> str:
        """ocsp or crl (good), or unknown if the policy accepts that; refuses if revoked.
        The configured OCSP URL is for signers; a CA certificate is asked at the responder
        its own AIA names, if any."""
        what = "the certificate" if signer else "an NCA certificate in its chain"
        if fetch is not None and self.settings.ocsp_timeout > 0:
            url = (self.settings.ocsp_url if signer else "") or _ocsp_url(cert)
            if url:
                status = await _ask_ocsp(url, cert, issuer, at, fetch)
                if status is ocsp.OCSPCertStatus.REVOKED:
                    raise SignatureRefused(f"{what} is revoked (OCSP)", "revoked")
                if status is ocsp.OCSPCertStatus.GOOD:
                    return "ocsp"
        listed = self._crl_status(cert, issuer, at)
        if listed is True:
            raise SignatureRefused(f"{what} is revoked (CRL)", "revoked")
        if listed is False:
            return "crl"
        serial = format(cert.serial_number, "x")
        if self.settings.unknown_revocation == "accept":
            log.warning("eds revocation unknown, accepted by setting", serial=serial, ca=not signer)
            return "unknown"
        log.warning("eds revocation unknown, refused", serial=serial, ca=not signer)
        raise SignatureRefused(
            f"the revocation status of {what} could not be learnt (OCSP unreachable, "
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


def _valid_at(cert: x509.Certificate, at: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= at <= cert.not_valid_after_utc


def _check_path(path: list[x509.Certificate]) -> None:
    """RFC 5280 6.1, the parts that matter here, for path = [leaf, ..., anchor]: every
    issuer a CA allowed to sign certificates, within its pathLenConstraint and name
    constraints, and no certificate with a critical extension listd does not process."""
    for depth, issuer in enumerate(path[1:], start=1):
        _check_critical(issuer)
        subject = path[depth - 1].subject.rfc4514_string()
        try:
            basic = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            basic = None
        if basic is None or not basic.ca:
            # An end-entity certificate used to issue another: the classic forgery.
            raise SignatureRefused(
                f"the certificate of {subject} was issued by a certificate that is not a CA",
                "untrusted",
            )
        try:
            usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            usage = None
        if usage is not None and not usage.key_cert_sign:
            raise SignatureRefused(
                f"the certificate of {subject} was issued by a CA key not allowed to sign "
                "certificates",
                "untrusted",
            )
        # CA certificates between this issuer and the leaf (self-issued ones do not count).
        below = sum(1 for c in path[1:depth] if c.issuer != c.subject)
        if basic.path_length is not None and below > basic.path_length:
            raise SignatureRefused(
                f"the chain is longer than {issuer.subject.rfc4514_string()} allows "
                f"(path length {basic.path_length})",
                "untrusted",
            )
        try:
            limits = issuer.extensions.get_extension_for_class(x509.NameConstraints).value
        except x509.ExtensionNotFound:
            continue
        for cert in path[:depth]:
            _check_names(cert, limits, issuer)


def _check_critical(cert: x509.Certificate) -> None:
    for ext in cert.extensions:
        if ext.critical and ext.oid not in _UNDERSTOOD:
            raise SignatureRefused(
                f"the certificate of {cert.subject.rfc4514_string()} has a critical extension "
                f"listd does not process ({ext.oid.dotted_string})",
                "untrusted",
            )


def _names(cert: x509.Certificate) -> list[x509.GeneralName]:
    """The names a name constraint applies to: the subject DN and the alternative names."""
    names: list[x509.GeneralName] = []
    if len(cert.subject) > 0:
        names.append(x509.DirectoryName(cert.subject))
    with contextlib.suppress(x509.ExtensionNotFound):
        names += list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    return names


def _within(name: x509.GeneralName, base: x509.GeneralName) -> bool | None:
    """Is `name` in the subtree `base`? None: a form listd does not compare."""
    if isinstance(name, x509.DirectoryName) and isinstance(base, x509.DirectoryName):
        rdns, prefix = list(name.value.rdns), list(base.value.rdns)
        return rdns[: len(prefix)] == prefix
    if isinstance(name, x509.DNSName) and isinstance(base, x509.DNSName):
        host, dom = name.value.lower().rstrip("."), base.value.lower().lstrip(".").rstrip(".")
        return host == dom or host.endswith("." + dom)
    if isinstance(name, x509.RFC822Name) and isinstance(base, x509.RFC822Name):
        mail, dom = name.value.lower(), base.value.lower()
        if "@" in dom:
            return mail == dom
        host = mail.rpartition("@")[2]
        return host.endswith(dom) if dom.startswith(".") else host == dom
    return None


def _check_names(
    cert: x509.Certificate, limits: x509.NameConstraints, ca: x509.Certificate
) -> None:
    """Refuse `cert` if one of its names is excluded, or not permitted where `ca` permits
    names of its form; a constraint of a form listd cannot compare refuses (fail closed)."""
    who = cert.subject.rfc4514_string()
    for name in _names(cert):
        for base in limits.excluded_subtrees or []:
            inside = _within(name, base)
            if inside is None and type(name) is type(base):
                raise _unsupported_constraint(ca)
            if inside:
                raise SignatureRefused(
                    f"the name of {who} is excluded by {ca.subject.rfc4514_string()}", "untrusted"
                )
        same_form = [b for b in limits.permitted_subtrees or [] if type(b) is type(name)]
        if not same_form:
            continue
        verdicts = [_within(name, base) for base in same_form]
        if None in verdicts:
            raise _unsupported_constraint(ca)
        if not any(verdicts):
            raise SignatureRefused(
                f"the name of {who} is outside what {ca.subject.rfc4514_string()} may certify",
                "untrusted",
            )


def _unsupported_constraint(ca: x509.Certificate) -> SignatureRefused:
    return SignatureRefused(
        f"{ca.subject.rfc4514_string()} has a name constraint listd cannot check", "untrusted"
    )


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
    """The responder's signed answer about `cert`, or None if there is no usable one.

    The request carries a fresh nonce (RFC 8954). An answer that echoes a nonce must echo
    ours; one without a nonce (a pre-produced answer) may be a replay, so it counts only
    while current (thisUpdate..nextUpdate) and at most `_OCSP_MAX_AGE` old. The answer's
    certID (hash algorithm, issuer name and key hashes, serial) must be the one asked."""
    nonce = secrets.token_bytes(16)
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer, hashes.SHA1())
        .add_extension(x509.OCSPNonce(nonce), critical=False)
        .build()
    )
    try:
        raw = await fetch(url, request.public_bytes(serialization.Encoding.DER))
        answer = ocsp.load_der_ocsp_response(raw)
    except (OSError, TimeoutError, ValueError) as exc:
        log.warning("eds ocsp unavailable", url=url, error=str(exc) or type(exc).__name__)
        return None
    if answer.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        log.warning("eds ocsp refused", url=url, status=answer.response_status.name)
        return None
    try:
        echoed: bytes | None = answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        echoed = None
    if echoed is not None and echoed != nonce:
        log.warning("eds ocsp answer for another request (nonce differs): a replay", url=url)
        return None
    for single in answer.responses:
        if not _same_cert_id(single, cert, issuer):
            continue
        if not _ocsp_signed(answer, issuer, at):
            log.warning("eds ocsp answer not signed by the issuer or its responder", url=url)
            return None
        nxt = single.next_update_utc
        this = single.this_update_utc
        too_old = (nxt is None or echoed is None) and this < at - _OCSP_MAX_AGE
        if this > at + _SKEW or (nxt is not None and nxt < at) or too_old:
            log.warning("eds ocsp answer out of date", url=url, nonce=echoed is not None)
            return None
        return single.certificate_status
    log.warning("eds ocsp answer is not about the certificate asked", url=url)
    return None


def _same_cert_id(
    single: ocsp.OCSPSingleResponse, cert: x509.Certificate, issuer: x509.Certificate
) -> bool:
    """The single response's certID is that of `cert` under `issuer`, in the responder's
    hash algorithm (a serial alone could be another CA's)."""
    if single.serial_number != cert.serial_number:
        return False
    try:
        mine = (
            ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, single.hash_algorithm).build()
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return (
        single.issuer_name_hash == mine.issuer_name_hash
        and single.issuer_key_hash == mine.issuer_key_hash
    )


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
