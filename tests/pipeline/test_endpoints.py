"""Each source as its publisher answers today, emulated by real HTTP servers on loopback.

OFAC: the legacy treasury.gov path redirects into the Sanctions List Service, behind a firewall
that (July 2026) answered 403 unless the User-Agent began with "Mozilla/<digit>" and was at least
40 characters long. UN: a 302 to a signed blob URL whose storage host rotates. AFM: a token sent
as `Authorization: Bearer` or as `X-Api-Key`, chosen by configuration alone.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from listd.errors import FetchError, SourceRefused
from listd.keyspace import Keys
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.settings import USER_AGENT, Settings, load_sources, parse_sources
from tests.conftest import DATA, un_file

SDN = DATA / "ofac" / "ofac-consolidated-nonsdn-2025-06-30.xml"
KZ = DATA / "kz" / "afm-terror-extremism-active-2022-10-03.xml"
SLS_PATH = "/api/PublicationPreview/exports/SDN.XML"
# The rule OFAC's firewall applied in July 2026 (opensanctions/opensanctions#5237).
BROWSER_LIKE = re.compile(r"Mozilla/\d")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Host:
    """One emulated HTTP host, recording what it was asked."""

    handler: Handler
    seen: list[tuple[str, str]] = field(default_factory=list)  # (path, User-Agent)
    server: TestServer | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.path_qs, request.headers.get("User-Agent", "")))
        return await self.handler(request)


@pytest.fixture
async def hosts() -> AsyncIterator[Callable[[Handler], Awaitable[Host]]]:
    started: list[TestServer] = []

    async def start(handler: Handler) -> Host:
        host = Host(handler)
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", host.handle)
        host.server = TestServer(app, host="127.0.0.1")
        await host.server.start_server()
        started.append(host.server)
        return host

    yield start
    for server in started:
        await server.close()


def firewall_admits(user_agent: str) -> bool:
    return BROWSER_LIKE.match(user_agent) is not None and len(user_agent) >= 40


def sls(body: bytes, page: bytes | None = None) -> Handler:
    """The Sanctions List Service behind its firewall: 403 (or `page`, with 200) to others."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if not firewall_admits(request.headers.get("User-Agent", "")):
            if page is not None:
                return web.Response(body=page, content_type="text/html")
            return web.Response(status=403, text="<html>Request Rejected</html>")
        if request.path != SLS_PATH:
            return web.Response(status=404)
        return web.Response(body=body, content_type="application/xml")

    return handle


def redirect_to(target: Callable[[], str], status: int = 302) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": target()})

    return handle


def configured(settings: Settings, toml: str, env: dict[str, str] | None = None) -> Settings:
    """Settings whose sources are exactly those of `toml` (a sources file's text)."""
    import tomllib

    sources = parse_sources(tomllib.loads(toml), env or {}, "test")
    return replace(settings, sources=sources)


async def run(settings: Settings, redis: Redis, name: str) -> tuple[Store, Syncer]:
    store = Store(redis, Keys(settings.key_prefix))
    return store, Syncer(settings, store)


def test_packaged_ofac_sources_use_the_sls_with_a_user_agent_its_firewall_admits() -> None:
    sources = load_sources(None, {})
    base = "https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/"
    assert sources["ofac"].url == base + "SDN.XML"
    assert sources["ofac-cons"].url == base + "CONSOLIDATED.XML"
    assert sources["ofac-enhanced"].url == base + "SDN_ENHANCED.XML"
    assert sources["ofac"].enabled and sources["ofac-cons"].enabled
    assert not sources["ofac-enhanced"].enabled
    for name in ("ofac", "ofac-cons", "ofac-enhanced"):
        agent = sources[name].request_headers(USER_AGENT)["User-Agent"]
        assert firewall_admits(agent) and "listd" in agent, name
    assert firewall_admits(USER_AGENT) and "listd" in USER_AGENT


async def test_legacy_treasury_path_redirects_into_the_sls(
    redis: Redis, settings: Settings, hosts: Callable[[Handler], Awaitable[Host]]
) -> None:
    service = await hosts(sls(SDN.read_bytes()))
    treasury = await hosts(redirect_to(lambda: service.url(SLS_PATH), status=301))
    toml = f'[sources.ofac]\nkind = "ofac"\nurl = "{treasury.url("/ofac/downloads/sdn.xml")}"\n'
    store, syncer = await run(configured(settings, toml), redis, "ofac")
    async with aiohttp.ClientSession() as syncer.session:
        result = await syncer.sync("ofac")
    assert result.outcome == "updated" and result.entities == 443
    assert treasury.seen[0][0] == "/ofac/downloads/sdn.xml"
    assert [path for path, _ in service.seen] == [SLS_PATH]
    assert service.seen[0][1] == USER_AGENT
    assert (await store.entity("ofac:9639")) is not None


@pytest.mark.parametrize("answer", ["403", "html page"])
async def test_a_firewall_refusal_names_the_user_agent_and_a_setting_fixes_it(
    redis: Redis, settings: Settings, hosts: Callable[[Handler], Awaitable[Host]], answer: str
) -> None:
    page = b"<!DOCTYPE html><html><body>Please enable JavaScript</body></html>"
    service = await hosts(sls(SDN.read_bytes(), page if answer == "html page" else None))
    url = service.url(SLS_PATH)
    refused = f'[sources.ofac]\nkind = "ofac"\nurl = "{url}"\nuser_agent = "listd/0.1"\n'
    store, syncer = await run(configured(settings, refused), redis, "ofac")
    async with aiohttp.ClientSession() as syncer.session:
        with pytest.raises(SourceRefused) as caught:
            await syncer.sync("ofac")
    assert "the source refused this client" in caught.value.message
    assert "see the User-Agent setting" in caught.value.message
    if answer == "403":
        assert "(HTTP 403)" in caught.value.message
        assert len(service.seen) == 1  # a refusal is not retried
    assert (await store.state("ofac"))["status"] == "error"
    assert "refused this client" in (await store.history("ofac"))[0]["error"]
    # The fix is configuration only: a browser-like User-Agent that still names listd.
    agent = "Mozilla/5.0 (compatible; listd/0.1; +https://example.org/listd)"
    fixed = f'[sources.ofac]\nkind = "ofac"\nurl = "{url}"\nuser_agent = "{agent}"\n'
    store, syncer = await run(configured(settings, fixed), redis, "ofac")
    async with aiohttp.ClientSession() as syncer.session:
        result = await syncer.sync("ofac")
    assert result.outcome == "updated" and result.entities == 443
    assert service.seen[-1] == (SLS_PATH, agent)


async def test_un_redirects_to_a_rotating_blob_host_and_the_signed_url_is_never_kept(
    redis: Redis, settings: Settings, hosts: Callable[[Handler], Awaitable[Host]]
) -> None:
    files = [un_file("2026-02-27").read_bytes(), un_file("2026-05-08").read_bytes()]

    async def blob(request: web.Request) -> web.StreamResponse:
        if request.query.get("sig") != "ok":
            return web.Response(status=403, text="AuthenticationFailed")
        return web.Response(body=files[0], content_type="application/xml")

    blobs = [await hosts(blob), await hosts(blob)]
    path = "/publiclegacyxmlfiles/EN/consolidatedLegacyByPRN.xml?sig=ok"
    turn = iter(range(10))
    un = await hosts(redirect_to(lambda: blobs[next(turn) % 2].url(path)))
    toml = f'[sources.un]\nkind = "un"\nurl = "{un.url("/resources/xml/en/consolidated.xml")}"\n'
    store, syncer = await run(configured(settings, toml), redis, "un")
    async with aiohttp.ClientSession() as syncer.session:
        first = await syncer.sync("un")
        files[0] = files[1]
        second = await syncer.sync("un")
    assert (first.outcome, first.entities) == ("updated", 1003)
    assert (second.outcome, second.entities) == ("updated", 1009)
    # Each sync starts at the UN's own URL and lands on whichever host it names today.
    assert len(un.seen) == 2
    assert [len(b.seen) for b in blobs] == [1, 1]
    assert all(firewall_admits(agent) for _, agent in un.seen)


def afm(token: str, style: str) -> Handler:
    """The websfm export, accepting the token in one header style only."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if style == "bearer":
            ok = request.headers.get("Authorization") == f"Bearer {token}"
        else:
            ok = request.headers.get("X-Api-Key") == token
        if not ok:
            return web.Response(status=401, text='{"detail":"Invalid token"}')
        return web.Response(body=KZ.read_bytes(), content_type="application/xml")

    return handle


HEADERS = {
    "bearer": 'headers = { Authorization = "Bearer ${LISTD_AFM_TOKEN}" }',
    "x-api-key": 'headers = { X-Api-Key = "${LISTD_AFM_TOKEN}" }',
}


@pytest.mark.parametrize("style", sorted(HEADERS))
async def test_afm_token_header_style_is_configuration_only(
    redis: Redis, settings: Settings, hosts: Callable[[Handler], Awaitable[Host]], style: str
) -> None:
    env = {"LISTD_AFM_TOKEN": "kz-t0ken"}
    api = await hosts(afm("kz-t0ken", style))
    url = api.url("/v1/sanctions/sanction-terrorist-old/xml_category_1/?status=acting")

    def toml(header_style: str) -> str:
        return (
            f'[sources.kz-afm-tf]\nkind = "kz-afm-tf"\nurl = "{url}"\n'
            f'{HEADERS[header_style]}\nenabled_if_env = "LISTD_AFM_TOKEN"\nretries = 0\n'
        )

    other = next(s for s in HEADERS if s != style)
    store, syncer = await run(configured(settings, toml(other), env), redis, "kz-afm-tf")
    async with aiohttp.ClientSession() as syncer.session:
        with pytest.raises(FetchError, match="HTTP 401"):
            await syncer.sync("kz-afm-tf")
    store, syncer = await run(configured(settings, toml(style), env), redis, "kz-afm-tf")
    async with aiohttp.ClientSession() as syncer.session:
        result = await syncer.sync("kz-afm-tf")
    assert result.outcome == "updated" and result.entities == 1620


def test_packaged_afm_sources_document_both_header_styles() -> None:
    text = (Path(__file__).resolve().parents[2] / "listd" / "sources.toml").read_text()
    assert HEADERS["x-api-key"] in text and "Bearer ${LISTD_AFM_TOKEN}" in text
