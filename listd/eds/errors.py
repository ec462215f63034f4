"""The one refusal of this package: a signature or certificate listd does not accept."""

from __future__ import annotations

from typing import Any

from listd.errors import Unauthorized


class SignatureRefused(Unauthorized):
    """401 with a `reason` the console translates: bad_signature, wrong_content,
    gost_unsupported, unsupported_algorithm, untrusted, expired, not_yet_valid, wrong_key,
    revoked, revocation_unknown, no_iin, unknown_iin, challenge."""

    code = "signature_refused"

    def __init__(self, message: str, reason: str, **detail: Any) -> None:
        super().__init__(message, reason=reason, **detail)
        self.reason = reason
