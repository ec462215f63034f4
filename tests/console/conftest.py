"""Console fixtures: listd on a real port over the embedded Redis with the real KZ AFM
and UN lists loaded, keys per role, and headless Chromium driven by Playwright.

Playwright's async API runs on the test's own event loop, next to the app server.
No browser is ever downloaded: Debian's chromium at /usr/bin/chromium is driven, and
the browser tests skip (or fail, with LISTD_REQUIRE_BROWSER=1) when it is absent.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from listd.access import KeyStore
from listd.api import create_app
from listd.api.state import INDEX
from listd.keyspace import Keys
from listd.notifications.config import WebhookConfig
from listd.notifications.delivery import Policy
from listd.notifications.routes import BLOCKING
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer, SyncResult
from listd.settings import Settings, SourceConfig
from tests.notifications.conftest import (  # noqa: F401 (autouse: memoised parsing)
    Receiver,
    fast_parse,
)

try:  # the browser tests import `expect` from here, so a missing Playwright skips them
    from playwright.async_api import expect

    # Waits, not sleeps: a loaded 2-core CI machine can take longer than Playwright's 5 s.
    expect.set_options(timeout=20_000)
except ImportError:  # pragma: no cover - the `browser` fixture skips or fails first
    expect = None
from tests.conftest import DATA, un_file
from tests.helpers import auth

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
KZ = DATA / "kz" / "afm-terror-extremism-active-2022-10-03.xml"
FIRST_UN = "2025-11-20"  # then 2026-02-27: +4 (SDi.007-010) -1 (IQi.074) ~2 (HTi.006, SOi.022)
VIEWPORT = {"width": 1366, "height": 768}


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is absent (apt install chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    why = browser_missing()
    if why is not None:
        if os.environ.get("LISTD_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LISTD_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@dataclass
class Console:
    """listd serving the console on a real port, and helpers to set the scene."""

    app: web.Application
    server: TestServer
    redis: Redis
    settings: Settings
    store: Store
    errors: list[str] = field(default_factory=list)  # JavaScript errors on any page

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def key(self, role: str, org: str = "bank-a", agree: bool = True) -> str:
        keys = KeyStore(self.redis, Keys(self.settings.key_prefix))
        secret = await keys.create(f"{org} {role}", role, org=org)
        if agree:
            await keys.accept_agreement(secret)
        return secret

    async def sync(self, source: str, path: Path) -> SyncResult:
        """A sync from a file, as `listd sync --file` runs it (outside the app)."""
        return await Syncer(self.settings, self.store).sync(source, raw=path.read_bytes())

    async def page(self, browser: Any, *, locale: str = "en-GB") -> Any:
        context = await browser.new_context(viewport=VIEWPORT, locale=locale)
        page = await context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        return page

    async def sign_in(self, page: Any, key: str, hash_: str = "") -> None:
        await self.sign_in_as(page, key, hash_, "API key", "Sign in")

    async def sign_in_as(self, page: Any, key: str, hash_: str, label: str, button: str) -> None:
        """Sign in with the form labelled in the page's language; land on `hash_`."""
        await page.goto(f"{self.base}/console/")
        await page.get_by_label(label).fill(key)
        await page.get_by_role("button", name=button).click()
        await page.locator("#nav a").first.wait_for()
        if hash_:
            await page.goto(f"{self.base}/console/{hash_}")


def console_settings(settings: Settings) -> Settings:
    sources = {
        "un": replace(settings.sources["un"], min_entities=0),
        "kz-afm-tf": SourceConfig("kz-afm-tf", "kz-afm-tf", url="http://127.0.0.1:9/unused"),
    }
    return replace(settings, sources=sources)


WEBHOOKS = WebhookConfig(
    allow_hosts=("127.0.0.1:1-65535",),
    delivery=Policy(timeout=2.0, backoff_base=0.05, backoff_max=0.2, retry_window=30.0,
                    idle_poll=0.05),
    lease_ttl=1.0,
    poll_interval=0.05,
)  # fmt: skip


MakeConsole = Callable[..., Awaitable[Console]]


@pytest.fixture
async def make_console(redis: Redis, settings: Settings) -> AsyncIterator[MakeConsole]:
    servers: list[TestServer] = []

    async def make(*, dispatch: bool = False, **changes: Any) -> Console:
        s = replace(console_settings(settings), **changes)
        store = Store(redis, Keys(s.key_prefix))
        syncer = Syncer(s, store)
        for name, path in (("un", un_file(FIRST_UN)), ("kz-afm-tf", KZ)):
            result = await syncer.sync(name, raw=path.read_bytes())
            assert result.outcome == "updated", result
        app = create_app(s, redis, refresh_seconds=0.05, dispatch=dispatch, webhooks=WEBHOOKS)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        console = Console(app, server, redis, s, store)
        for _ in range(400):  # the index loads in the background
            if len(app[INDEX].versions) == 2:
                break
            await asyncio.sleep(0.025)
        if dispatch:
            dispatcher = app[BLOCKING].dispatcher
            assert dispatcher is not None
            await asyncio.wait_for(dispatcher.leading.wait(), 60)  # a bound, not a figure
        return console

    yield make
    for server in servers:
        await server.close()


@pytest.fixture
async def console(make_console: MakeConsole) -> Console:
    return await make_console()


async def alert_for_a_listed_customer(
    console: Console, http: aiohttp.ClientSession, key: str, rx: Receiver
) -> dict[str, Any]:
    """Subscribe `rx` for the subscriber `key`, activate it, upload a watchlist holding
    the KZ-listed person as a bank writes them and someone not listed, and wait until the
    blocking alert is delivered. Returns the subscription."""
    async with http.post(
        console.base + "/v1/subscriptions", json={"url": rx.url}, headers=auth(key)
    ) as resp:
        sub: dict[str, Any] = await resp.json()
        assert resp.status == 201, sub
    rx.secret = sub["secret"]
    async with http.post(
        f"{console.base}/v1/subscriptions/{sub['id']}/ping", headers=auth(key)
    ) as resp:
        assert resp.status == 200, await resp.text()
    body = (
        "reference,name,birth_date\n"
        "C-001,АБДИБЕКОВ Асет Мейржанович,1993-08-07\n"
        "C-002,Иванова Мария Петровна,1990-01-01\n"
    )
    async with http.put(
        f"{console.base}/v1/subscriptions/{sub['id']}/watchlist",
        data=body.encode(),
        headers={**auth(key), "Content-Type": "text/csv"},
    ) as resp:
        assert resp.status == 200, await resp.text()
    deadline = time.monotonic() + 20
    while not rx.of_type("blocking.required"):
        assert time.monotonic() < deadline, "no blocking alert was delivered"
        await asyncio.sleep(0.05)
    return sub
