"""Signatures: listd's and the receiver code docs/webhooks.md shows agree; replays and
tampering are refused."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from listd.notifications.signing import new_secret, sign, signature, verify

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verify() -> Callable[[str, str, bytes], bool]:
    """The `verify` function from the docs' "Verifying a delivery" section, executed."""
    text = DOC.read_text("utf-8")
    section = text.split("### Verifying a delivery", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), str(DOC), "exec"), namespace)  # noqa: S102 - our own doc
    func = namespace["verify"]
    assert callable(func)
    return func  # type: ignore[return-value]


@pytest.mark.parametrize("check", [verify, documented_verify()], ids=["listd", "docs"])
def test_signature_round_trip(check: Callable[..., bool]) -> None:
    secret, other = new_secret(), new_secret()
    body = '{"id":"evt_1","type":"blocking.required","data":{"name":"Мирна"}}'.encode()
    header = sign([secret], body)
    assert check(secret, header, body)
    assert not check(other, header, body)
    assert not check(secret, header, body + b" ")
    # Two secrets during a rotation: either verifies.
    both = sign([other, secret], body)
    assert both.count("v1=") == 2 and check(secret, both, body) and check(other, both, body)
    # A replay of an old delivery: right signature, stale timestamp.
    stale = sign([secret], body, timestamp=int(time.time()) - 3600)
    assert not check(secret, stale, body)
    assert not check(secret, "v1=" + signature(secret, 0, body), body)
    assert not check(secret, "", body)


def test_signature_is_hmac_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    body = b'{"a":1}'
    expected = hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(["whsec_x"], body, timestamp=1700000000) == f"t=1700000000,v1={expected}"
    assert new_secret().startswith("whsec_") and len(new_secret()) > 40
