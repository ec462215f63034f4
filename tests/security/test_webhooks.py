"""Webhook URLs a subscriber controls: refused unless written exactly as they will be
requested (no CR/LF, no whitespace, nothing the parser rewrites), and allow-listed hosts
reachable only on the ports their entry names."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from listd.access import KeyStore
from listd.api import create_app
from listd.errors import BadRequest, ConfigError
from listd.keyspace import Keys
from listd.notifications.app import setup, webhook_session
from listd.notifications.config import WebhookConfig
from listd.notifications.delivery import post
from listd.notifications.egress import AllowList, check_url
from listd.notifications.events import Event
from listd.notifications.routes import BLOCKING
from listd.notifications.subscriptions import Subscription
from listd.settings import Settings

Client = TestClient[Any, Any]


class Canary:
    """A service on 127.0.0.1 that must never hear from listd: records every request."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(f"{request.method} {request.path_qs}")
        return web.Response(text="ok")

    async def start(self) -> int:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self.server.port or 0


@pytest.fixture
async def canary() -> AsyncIterator[tuple[Canary, int]]:
    c = Canary()
    port = await c.start()
    yield c, port
    assert c.server is not None
    await c.server.close()


MakeHooks = Callable[[tuple[str, ...]], Awaitable[tuple[Client, str]]]


@pytest.fixture
def hooks(
    redis: Redis, settings: Settings, aiohttp_client: Callable[..., Awaitable[Client]]
) -> MakeHooks:
    """The API with subscription routes, for an allow-list; and a subscriber's key."""

    async def make(allow: tuple[str, ...]) -> tuple[Client, str]:
        app = create_app(settings, redis, refresh_seconds=0.2)
        setup(app, settings, redis, dispatch=False, config=WebhookConfig(allow_hosts=allow))
        client = await aiohttp_client(app)
        store = KeyStore(redis, Keys(settings.key_prefix))
        key = await store.create("bank-a webhooks", "subscriber", org="bank-a")
        await store.accept_agreement(key)
        return client, key

    return make


async def subscribe(api: Client, key: str, url: str) -> tuple[int, dict[str, Any]]:
    resp = await api.post(
        "/v1/subscriptions", json={"url": url}, headers={"Authorization": f"Bearer {key}"}
    )
    return resp.status, await resp.json()


# -- 4: the URL is stored exactly as it will be requested ---------------------------------------

BASE = "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/hook\r\nX-Injected: 1",
        f"{BASE}/hook\nX-Injected: 1",
        f"{BASE}/hook\r",
        f"{BASE}/ho\tok",
        f"{BASE}/ho ok",
        f" {BASE}/hook",
        f"{BASE}/hook ",
        f"{BASE}/hook\x00",
        f"{BASE}/hook\x7f",
        f"{BASE}/hook\u2028",
        f"{BASE}/hook\u00a0",
    ],
)
async def test_control_characters_and_whitespace_are_refused(hooks: MakeHooks, url: str) -> None:
    api, key = await hooks(("127.0.0.1:8080",))
    status, body = await subscribe(api, key, url)
    assert (status, body.get("field")) == (400, "url"), body  # today's main: 201, stored as typed
    assert "control characters or whitespace" in body["message"]


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTP://127.0.0.1:8080/hook", f"{BASE}/hook"),
        ("http://127.0.0.1:8080/a/../hook", f"{BASE}/hook"),
        ("http://127.0.0.1:8080/%7ehook", f"{BASE}/~hook"),
        ("http://127.0.0.1:8080/hook?a=%41", f"{BASE}/hook?a=A"),
        ("http://127.0.0.1:8080/hook?", f"{BASE}/hook"),
        ("https://Bank.Example/hook", "https://bank.example/hook"),
        ("https://bank.example:443/hook", "https://bank.example/hook"),
        ("https://bänk.example/hook", "https://xn--bnk-qla.example/hook"),
    ],
)
async def test_urls_the_parser_would_rewrite_are_refused(
    hooks: MakeHooks, url: str, canonical: str
) -> None:
    api, key = await hooks(("127.0.0.1:8080",))
    status, body = await subscribe(api, key, url)
    assert (status, body.get("field"), body.get("canonical")) == (400, "url", canonical), body


async def test_a_canonical_url_is_stored_byte_for_byte(hooks: MakeHooks) -> None:
    api, key = await hooks(("127.0.0.1:8080",))
    url = f"{BASE}/hooks/a%20b/listd?tenant=a%26b&x=%2B"
    status, body = await subscribe(api, key, url)
    assert status == 201, body
    assert body["url"] == url
    resp = await api.get(
        f"/v1/subscriptions/{body['id']}", headers={"Authorization": f"Bearer {key}"}
    )
    assert (await resp.json())["url"] == url


# -- 5: an allow-listed host is allowed on the ports its entry names, no others -------------------


async def test_a_bare_allow_listed_host_does_not_open_every_port(
    hooks: MakeHooks, canary: tuple[Canary, int]
) -> None:
    spy, port = canary
    api, key = await hooks(("127.0.0.1",))  # the released, host-only syntax
    status, body = await subscribe(api, key, f"http://127.0.0.1:{port}/anything")
    assert (status, body.get("field")) == (400, "url"), body  # today's main: 201
    assert f"port {port} is not allow-listed for 127.0.0.1 (allowed: 443, 80)" in body["message"]
    # The same host on a named port, or a range holding it, is fine.
    for entry in (f"127.0.0.1:{port}", f"127.0.0.1:{port - 1}-{port + 1}"):
        api, key = await hooks((entry,))
        status, body = await subscribe(api, key, f"http://127.0.0.1:{port}/anything")
        assert status == 201, body
    assert spy.requests == []


async def test_a_stored_subscription_to_another_port_is_never_posted_to(
    hooks: MakeHooks, canary: tuple[Canary, int], redis: Redis, settings: Settings
) -> None:
    """A subscription saved under the old reading (every port) gets nothing delivered now."""
    spy, port = canary
    api, key = await hooks(("127.0.0.1",))
    blocking = api.app[BLOCKING]
    sub, _ = await blocking.subs.create(
        Subscription(id="", org="bank-a", url=f"http://127.0.0.1:{port}/anything")
    )
    auth = {"Authorization": f"Bearer {key}"}
    resp = await api.post(f"/v1/subscriptions/{sub.id}/ping", headers=auth)
    assert resp.status == 400 and (await resp.json())["field"] == "url"
    config = WebhookConfig(allow_hosts=("127.0.0.1",))
    session = webhook_session(config)
    try:
        event = Event("evt_canary", "ping", "{}", 0)
        attempt = await post(session, sub, event, 1, 2.0, AllowList(config.allow_hosts))
    finally:
        await session.close()
    assert attempt.status is None and "not allow-listed" in (attempt.error or "")
    assert spy.requests == []  # today's main: ["POST /anything"]


async def test_the_resolver_checks_the_port_at_connection_time(
    canary: tuple[Canary, int],
) -> None:
    spy, port = canary
    session = webhook_session(WebhookConfig(allow_hosts=("localhost",)))
    try:
        with pytest.raises(aiohttp.ClientConnectorError):
            await session.post(f"http://localhost:{port}/anything", data=b"{}")
    finally:
        await session.close()
    assert spy.requests == []


@pytest.mark.parametrize(
    ("entry", "url", "allowed"),
    [
        ("127.0.0.1", "http://127.0.0.1/hook", True),
        ("127.0.0.1", "https://127.0.0.1/hook", True),
        ("127.0.0.1", "http://127.0.0.1:6379/", False),
        ("127.0.0.1:8000-8099", "http://127.0.0.1:8099/hook", True),
        ("127.0.0.1:8000-8099", "http://127.0.0.1:8100/hook", False),
        ("127.0.0.1:8000-8099", "http://127.0.0.1/hook", False),
        ("[::1]:9000", "http://[::1]:9000/hook", True),
        ("[::1]:9000", "http://[::1]:9001/hook", False),
        ("::1", "https://[::1]/hook", True),
        ("Receiver.Internal:8443", "https://receiver.internal:8443/hook", True),
    ],
)
def test_allow_list_entries(entry: str, url: str, allowed: bool) -> None:
    allow = AllowList([entry])
    if allowed:
        check_url(url, allow)
    else:
        with pytest.raises(BadRequest):
            check_url(url, allow)


@pytest.mark.parametrize(
    "entry", ["127.0.0.1:", "127.0.0.1:http", "127.0.0.1:0", "h:9-8", "[::1]x"]
)
def test_malformed_allow_list_entries_stop_start_up(entry: str, tmp_path: Path) -> None:
    env = {"LISTD_STATE_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="LISTD_WEBHOOK_ALLOW_HOSTS|allow-list entry") as caught:
        Settings.from_env(env | {"LISTD_WEBHOOK_ALLOW_HOSTS": f"hooks.internal:8443,{entry}"})
    assert caught.value.detail["key"] == "LISTD_WEBHOOK_ALLOW_HOSTS"


async def test_a_bare_host_entry_is_named_in_the_log_at_start(
    hooks: MakeHooks, capsys: pytest.CaptureFixture[str]
) -> None:
    await hooks(("127.0.0.1", "hooks.internal:8443"))
    out = capsys.readouterr().out
    assert "webhook allow-list entry names no port: 443 and 80 only" in out
    assert "host=127.0.0.1" in out and "hooks.internal" not in out
