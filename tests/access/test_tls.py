"""Rule 7, optional part: clients authenticate with a TLS client certificate whose subject
is mapped to a user; same roles, terms, journal and blocking as keys. A real TLS server,
with certificates made for the test by the openssl command."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from listd.access import tls_context
from listd.api import create_app
from listd.api.state import REDIS, SETTINGS
from tests.conftest import SCREEN, Api, MakeApi

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def issue(name: str, subject: str, cwd: Path, ext: str = "") -> None:
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=cwd)  # fmt: skip
    extra = ["-extfile", "ext.cnf"] if ext else []
    if ext:
        (cwd / "ext.cnf").write_text(ext)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", *extra, cwd=cwd)  # fmt: skip


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and two client certificates."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=listd test CA", cwd=d)  # fmt: skip
    issue("server", "/CN=127.0.0.1", d, "subjectAltName=IP:127.0.0.1\n")
    issue("bank-a", "/C=KZ/O=Bank A/CN=bank-a screening", d)
    issue("stranger", "/C=KZ/O=Nobody/CN=stranger", d)
    return d


def client_context(pki: Path, name: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if name is not None:
        context.load_cert_chain(pki / f"{name}.pem", pki / f"{name}.key")
    return context


@pytest.fixture
async def tls(make_api: MakeApi, pki: Path) -> AsyncIterator[tuple[Api, str]]:
    api = await make_api()  # loads the list; the TLS server below shares its Redis
    app = create_app(api.app[SETTINGS], api.app[REDIS], refresh_seconds=0.05)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(
        ssl=tls_context(pki / "server.pem", pki / "server.key", pki / "ca.pem")
    )
    yield api, str(server.make_url("")).rstrip("/")
    await server.close()


async def call(
    base: str, pki: Path, cert: str | None, method: str, path: str, **kw: object
) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, base + path, ssl=client_context(pki, cert), **kw) as resp,
    ):
        return resp.status, await resp.json()


async def test_a_client_certificate_logs_a_user_in(tls: tuple[Api, str], pki: Path) -> None:
    api, base = tls
    assert base.startswith("https://")
    operator = await api.key("operator", org="ops")
    user = await api.json(
        "POST", "/v1/users", operator,
        json={"name": "bank-a desk", "org": "bank-a", "role": "screener",
              "cert_subject": "CN=bank-a screening,O=Bank A,C=KZ"},
    )  # fmt: skip
    status, body = await call(base, pki, "bank-a", "POST", "/v1/screen", json=SCREEN)
    assert (status, body["error"]) == (403, "agreement_required")
    status, body = await call(base, pki, "bank-a", "POST", "/v1/agreement", json={"accept": True})
    assert status == 200
    status, terms = await call(base, pki, "bank-a", "GET", "/v1/agreement")
    assert status == 200 and terms["accepted"] == body["at"]
    status, body = await call(base, pki, "bank-a", "POST", "/v1/screen", json=SCREEN)
    assert status == 200
    by_cert = [e.fields for e in await api.entries() if e.fields.get("via") == "cert"]
    (entry,) = [f for f in by_cert if f.get("route") == "/v1/screen" and f["status"] == 200]
    assert (entry["user"], entry["org"], entry["role"]) == (user["id"], "bank-a", "screener")
    # Same role model: a screener's certificate cannot manage users.
    status, body = await call(base, pki, "bank-a", "GET", "/v1/users")
    assert (status, body["error"]) == (403, "forbidden")
    # A certificate from the CA that is mapped to nobody, and no certificate at all.
    status, body = await call(base, pki, "stranger", "GET", "/v1/sources")
    assert status == 401 and "not mapped" in str(body["message"])
    status, _ = await call(base, pki, None, "GET", "/v1/sources")
    assert status == 401
    # API keys keep working on the same TLS server.
    key = await api.key("screener", org="bank-b")
    status, _ = await call(
        base, pki, None, "GET", "/v1/sources", headers={"Authorization": f"Bearer {key}"}
    )
    assert status == 200
    # Blocking the user stops the certificate on the next request.
    await api.json("POST", f"/v1/users/{user['id']}/block", operator)
    status, body = await call(base, pki, "bank-a", "POST", "/v1/screen", json=SCREEN)
    assert (status, body["error"]) == (403, "blocked")
