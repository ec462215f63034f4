"""One call for the API and the command line: parse a CMS, check its signature over the
expected data, then its signer's certificate for the purpose."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import warnings
from dataclasses import dataclass

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

from listd.eds.cms import parse_cms
from listd.eds.errors import SignatureRefused
from listd.eds.trust import Fetch, Purpose, TrustStore, Verified

__all__ = ["SignatureRefused", "Verifier", "decode"]

_UNREADABLE = (ValueError, TypeError, KeyError, x509.InvalidVersion, CryptographyDeprecationWarning)


def decode(value: str) -> bytes:
    """A CMS as NCALayer returns it: base64 (line breaks allowed), or PEM."""
    text = value.strip()
    if text.startswith("-----BEGIN"):
        text = "".join(line for line in text.splitlines() if not line.startswith("-----"))
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureRefused("the signature is not base64", "bad_signature") from None


@dataclass(slots=True)
class Verifier:
    trust: TrustStore
    fetch: Fetch | None = None  # None: no OCSP (CRL files only)

    async def verify(
        self,
        cms: bytes,
        data: bytes,
        purpose: Purpose,
        at: dt.datetime,
        *,
        revocation: bool = True,
    ) -> tuple[Verified, bytes]:
        """The verified signer and the signed bytes (which are `data`)."""
        try:
            with warnings.catch_warnings():
                # A certificate cryptography only warns about (a negative serial...) is
                # refused here rather than accepted with a note in a log.
                warnings.simplefilter("error", CryptographyDeprecationWarning)
                signed = parse_cms(cms)
                content = signed.verify(data)
            verified = await self.trust.check(
                signed.signer, signed.certificates, purpose, at, self.fetch, revocation=revocation
            )
        except _UNREADABLE as exc:
            # Damaged DER is found lazily, anywhere from parsing to the chain: a refusal,
            # never a server error.
            raise SignatureRefused(
                f"not a readable CMS signature: {str(exc).splitlines()[0][:200]}", "bad_signature"
            ) from None
        return verified, content
