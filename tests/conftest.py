"""Shared fixtures: a real Redis server, a unique key prefix per test, a source server.

Redis is the embedded Valkey server (the same one `listd run` starts) unless
LISTD_REDIS_URL points at another; never a Python fake.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import struct
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from listd.connection import client
from listd.embedded import EmbeddedRedis
from listd.keys import Keys
from listd.settings import Settings, SourceConfig

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
UN = DATA / "un"


def un_file(date: str) -> Path:
    return UN / f"consolidated-{date}.xml"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("LISTD_REDIS_URL")
    if configured:
        yield configured
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.start()
    server.stop()


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis(redis_url: str, prefix: str) -> AsyncIterator[Redis]:
    conn = client(redis_url)
    yield conn
    keys = [k async for k in conn.scan_iter(match=Keys(prefix).pattern(), count=1000)]
    if keys:
        await conn.delete(*keys)
    await conn.aclose()


@pytest.fixture
def settings(redis_url: str, prefix: str, tmp_path: Path) -> Settings:
    un = SourceConfig(name="un", kind="un", url="http://127.0.0.1:9/unused", min_entities=500)
    return Settings(
        redis_url=redis_url,
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
