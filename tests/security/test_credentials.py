"""One credential per request: a second Authorization header, or a key beside a client
certificate of another user, is refused (400 naming the header), never resolved by order."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from tests.access.test_tls import call
from tests.conftest import SCREEN, Api


def two(first: str, second: str) -> CIMultiDict[str]:
    return CIMultiDict(
        [("Authorization", f"Bearer {first}"), ("Authorization", f"Bearer {second}")]
    )


async def twice(api: Api, method: str, path: str, first: str, second: str, **kw: Any) -> Any:
    """Call with two Authorization headers (Api.call would fold them into one)."""
    return await api.client.request(method, path, headers=two(first, second), **kw)


async def test_a_valid_key_followed_by_an_invalid_one_is_refused(api: Api) -> None:
    key = await api.key("screener")
    resp = await twice(api, "POST", "/v1/screen", key, "not-a-key", json=SCREEN)
    body = await resp.json()
    assert resp.status == 400, body  # today's main: 200, the first header won
    assert body["field"] == "Authorization" and "one Authorization header" in body["message"]
    resp = await twice(api, "POST", "/v1/screen", "not-a-key", key, json=SCREEN)
    assert resp.status == 400


async def test_two_organisations_keys_are_refused_in_either_order(api: Api) -> None:
    a = await api.key("screener", org="bank-a")
    b = await api.key("screener", org="bank-b")
    for first, second in ((b, a), (a, b)):
        resp = await twice(api, "GET", "/v1/whoami", first, second)
        body = await resp.json()
        assert (resp.status, body["error"], body["field"]) == (400, "bad_request", "Authorization")
    # The same key twice is still two headers.
    assert (await twice(api, "GET", "/v1/whoami", a, a)).status == 400
    # One header still works.
    assert (await api.call("GET", "/v1/whoami", a)).status == 200
    # Two keys folded into one header (as a proxy may join repeated headers) are no key.
    folded = {"Authorization": f"Bearer {a}, Bearer {b}"}
    assert (await api.client.get("/v1/whoami", headers=folded)).status == 401


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
async def test_a_key_and_a_certificate_of_another_user_are_refused(
    tls: tuple[Api, str], pki: Path
) -> None:
    api, base = tls
    operator = await api.key("operator", org="ops")
    cert_user = await api.json(
        "POST", "/v1/users", operator,
        json={"name": "bank-a desk", "org": "bank-a", "role": "screener",
              "cert_subject": "CN=bank-a screening,O=Bank A,C=KZ"},
    )  # fmt: skip
    other = await api.key("screener", org="bank-b")
    auth = {"Authorization": f"Bearer {other}"}
    status, body = await call(base, pki, "bank-a", "GET", "/v1/whoami", headers=auth)
    assert (status, body.get("field")) == (400, "Authorization"), body  # today: served as bank-b
    assert "different users" in str(body["message"])
    # A certificate mapped to nobody is no second credential: the key alone decides.
    status, body = await call(base, pki, "stranger", "GET", "/v1/whoami", headers=auth)
    assert status == 200 and body["org"] == "bank-b"
    # A key of the certificate's own user is one identity, not two.
    own = await api.key("screener", org="bank-a", name="bank-a desk")
    status, body = await call(
        base, pki, "bank-a", "GET", "/v1/whoami", headers={"Authorization": f"Bearer {own}"}
    )
    assert (status, body["org"], body["via"]) == (200, "bank-a", "key"), body
    assert cert_user["name"] == body["name"]
