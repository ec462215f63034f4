"""Webhook signatures: HMAC-SHA256 over "<unix time>.<body>", Stripe-style header.

    Listd-Signature: t=1767225600,v1=5f1c...,v1=09ab...

One `v1` per secret the subscription holds (two while a secret is being rotated). A
receiver recomputes the HMAC with its secret, compares in constant time with any `v1`,
and refuses timestamps older than a few minutes (replays); `verify` does exactly that
and is what docs/webhooks.md shows.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence

SIGNATURE_HEADER = "Listd-Signature"
SECRET_PREFIX = "whsec_"
TOLERANCE_S = 300


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of "<timestamp>.<body>" under `secret`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def sign(secrets_: Sequence[str], body: bytes, timestamp: int | None = None) -> str:
    """The Listd-Signature header value for `body`, one v1 per secret."""
    t = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={t}", *(f"v1={signature(s, t, body)}" for s in secrets_)])


def verify(
    secret: str, header: str, body: bytes, *, tolerance: int = TOLERANCE_S, now: float | None = None
) -> bool:
    """True when `header` signs `body` with `secret` and its timestamp is fresh."""
    timestamp, candidates = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)
