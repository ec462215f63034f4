"""CMS (PKCS#7) SignedData as NCALayer makes it: one signer, content attached or detached.

Parsing is asn1crypto's; the signature is checked with `cryptography`. The signed
attributes are verified over their original encoding (re-tagged as a SET), never a
re-encoding, so a signer's non-canonical DER still verifies and nothing is normalised
into validity.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms as acms
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from listd.eds.errors import SignatureRefused

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# Kazakh GOST (34.310-2004, 34.10-2015: 1.2.398.3.10.1.*) and Russian GOST (1.2.643.*).
_GOST_PREFIXES = ("1.2.398.3.10.1.", "1.2.643.")


def is_gost(oid: str) -> bool:
    return oid.startswith(_GOST_PREFIXES)


def gost_refused() -> SignatureRefused:
    return SignatureRefused(
        "GOST keys are not supported yet: sign with your RSA key (NCALayer offers both when "
        "the NCA issued both)",
        "gost_unsupported",
    )


@dataclass(frozen=True, slots=True)
class Signed:
    """A parsed SignedData: the signer's certificate, the others it carries, the content."""

    signer: x509.Certificate
    certificates: list[x509.Certificate]
    content: bytes | None  # None: detached
    digest: str  # sha256 | sha384 | sha512
    signed_at: dt.datetime | None  # the signing-time attribute, as the signer claims it
    _info: Any  # the asn1crypto SignerInfo

    def verify(self, data: bytes | None = None) -> bytes:
        """Check the signature over the content (attached, or `data` when detached) and
        return the signed bytes. A CMS with attached content must match `data` if given."""
        if self.content is None:
            if data is None:
                raise SignatureRefused(
                    "the signature is detached: the signed data is needed", "bad_signature"
                )
            content = data
        else:
            if data is not None and not hmac.compare_digest(self.content, data):
                raise SignatureRefused("the signature is over other data", "wrong_content")
            content = self.content
        info = self._info
        attrs = info["signed_attrs"]
        if attrs.native:
            found: dict[str, Any] = {a["type"].native: a["values"] for a in attrs}
            if "message_digest" not in found or found.get("content_type") is None:
                raise SignatureRefused(
                    "the signed attributes lack the content digest", "bad_signature"
                )
            if found["content_type"][0].native != "data":
                raise SignatureRefused("the signed content is not plain data", "bad_signature")
            expected = found["message_digest"][0].native
            actual = hashlib.new(self.digest, content).digest()
            if not hmac.compare_digest(expected, actual):
                raise SignatureRefused("the signature is over other data", "wrong_content")
            signed = b"\x31" + attrs.dump()[1:]  # [0] IMPLICIT -> SET OF, same length
        else:
            signed = content
        _check(self.signer, info, signed, _HASHES[self.digest]())
        return content


def _check(
    cert: x509.Certificate, info: Any, signed: bytes, algorithm: hashes.HashAlgorithm
) -> None:
    signature = info["signature"].native
    sig_oid = info["signature_algorithm"]["algorithm"].dotted
    if is_gost(sig_oid):
        raise gost_refused()
    if is_gost(cert.public_key_algorithm_oid.dotted_string):
        raise gost_refused()
    try:
        key = cert.public_key()
    except UnsupportedAlgorithm:
        raise SignatureRefused("this key type is not supported", "unsupported_algorithm") from None
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if info["signature_algorithm"].signature_algo != "rsassa_pkcs1v15":
                raise SignatureRefused(
                    "only RSA PKCS#1 v1.5 signatures are accepted", "unsupported_algorithm"
                )
            key.verify(signature, signed, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed, ec.ECDSA(algorithm))
        else:
            raise SignatureRefused("this key type is not supported", "unsupported_algorithm")
    except InvalidSignature:
        raise SignatureRefused("the signature does not verify", "bad_signature") from None


def parse_cms(der: bytes) -> Signed:
    """Parse a CMS SignedData with exactly one signer whose certificate it carries."""
    try:
        info = acms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise SignatureRefused("not a CMS SignedData", "bad_signature")
        data = info["content"]
        signers = list(data["signer_infos"])
        encap = data["encap_content_info"]
        content = encap["content"].native if encap["content"] else None
        if encap["content_type"].native != "data":
            raise SignatureRefused("the signed content is not plain data", "bad_signature")
        certs = [
            x509.load_der_x509_certificate(c.chosen.dump())
            for c in data["certificates"] or []
            if c.name == "certificate"
        ]
        if len(signers) != 1:
            raise SignatureRefused(f"expected one signer, found {len(signers)}", "bad_signature")
        signer = signers[0]
        digest_oid = signer["digest_algorithm"]["algorithm"]
        sid = signer["sid"]
        attrs = {a["type"].native: a["values"] for a in signer["signed_attrs"] or []}
        signed_at = attrs["signing_time"][0].native if "signing_time" in attrs else None
    except SignatureRefused:
        raise
    except (ValueError, TypeError, KeyError) as exc:  # asn1crypto's errors for bad input
        raise SignatureRefused(f"not a readable CMS signature: {exc}", "bad_signature") from None
    if is_gost(digest_oid.dotted):
        raise gost_refused()
    digest = digest_oid.native
    if digest not in _HASHES:
        raise SignatureRefused(
            f"digest {digest} is not accepted (SHA-256 or stronger)", "unsupported_algorithm"
        )
    cert = _signer_cert(sid, certs)
    return Signed(cert, certs, content, digest, signed_at, signer)


def _signer_cert(sid: Any, certs: list[x509.Certificate]) -> x509.Certificate:
    # Matching by serial alone is safe: the chosen certificate must still verify the
    # signature and chain up to a trust anchor.
    for cert in certs:
        if sid.name == "issuer_and_serial_number":
            if cert.serial_number == sid.chosen["serial_number"].native:
                return cert
        else:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except x509.ExtensionNotFound:
                continue
            if ski.value.digest == sid.chosen.native:
                return cert
    raise SignatureRefused("the signature does not carry its signer's certificate", "bad_signature")
