"""Issue 8: with Redis gone, screening keeps answering from memory with a warning, only
for keys seen admitted lately; the journal entries wait in a local spool and reach the
chain, in order and once, when Redis returns."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from listd.access import wire
from listd.api import create_app
from listd.api.middleware import ACCESS
from listd.connection import client
from listd.embedded import EmbeddedRedis
from listd.keyspace import Keys
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings, SourceConfig
from tests.conftest import SCREEN, Client


async def test_screening_survives_a_redis_outage(
    tmp_path: Path, small_un: bytes, aiohttp_client: Callable[..., Awaitable[Client]]
) -> None:
    # Our own server, not the session's: this test stops it.
    server = EmbeddedRedis(tmp_path / "valkey")
    url = server.start()
    redis = client(url)
    try:
        un = SourceConfig(name="un", kind="un", url="http://127.0.0.1:9/unused", min_entities=0)
        settings = Settings(
            redis_url=url,
            state_dir=tmp_path / "state",
            key_prefix="outage",
            sources={"un": un},
            log_format="console",
        )
        keys = Keys(settings.key_prefix)
        await Syncer(settings, Store(redis, keys)).sync("un", raw=small_un)
        http = await aiohttp_client(create_app(settings, redis, refresh_seconds=0.05))
        for _ in range(200):
            if (await http.get("/readyz")).status == 200:
                break
            await asyncio.sleep(0.02)
        access = http.app[ACCESS]
        seen = await access.store.create("bank-a screener", "screener", org="bank-a")
        unseen = await access.store.create("bank-b screener", "screener", org="bank-b")
        for secret in (seen, unseen):
            await access.store.accept_agreement(secret)

        async def screen(secret: str) -> tuple[int, dict[str, str], dict[str, object]]:
            resp = await http.post(
                "/v1/screen", json=SCREEN, headers={"Authorization": f"Bearer {secret}"}
            )
            return resp.status, dict(resp.headers), await resp.json()

        status, headers, body = await screen(seen)
        assert status == 200 and "X-Journal-Seq" in headers and "warnings" not in body
        before = int(headers["X-Journal-Seq"])

        server.stop()
        answers = [await screen(seen) for _ in range(3)]
        for status, headers, body in answers:
            assert status == 200, body
            assert headers["X-Journal-Spooled"] == "1" and "X-Journal-Seq" not in headers
            assert any("unreachable" in str(w) for w in body["warnings"])  # type: ignore[attr-defined]
            assert any(m["id"] == "un:QDi.312" for m in body["matches"])  # type: ignore[attr-defined]
        # A key not seen admitted before the outage is not let in blind.
        status, _, body = await screen(unseen)
        assert (status, body["error"]) == (503, "store_unavailable")
        spool = settings.state_dir / "journal" / "spool"
        lines = [line for f in spool.glob("spool-*.jsonl") for line in f.read_text().splitlines()]
        assert len(lines) == 4  # three answers and one refusal, fsynced before answering

        server = EmbeddedRedis(tmp_path / "valkey")
        assert server.start() == url
        journal = wire(settings, redis).journal
        for _ in range(200):  # the writer retries every second
            if not list(spool.glob("spool-*.jsonl")):
                break
            await asyncio.sleep(0.05)
        entries = await journal.read(before - 1, 1000)
        spooled = [e.fields for e in entries if e.fields.get("spooled")]
        assert [(f["status"], f.get("key") is not None) for f in spooled] == [
            (200, True), (200, True), (200, True), (503, True),
        ]  # fmt: skip
        assert [e.seq for e in entries] == list(range(before, before + 5))
        verdict = await journal.verify()
        assert verdict.ok, verdict.to_json()
        assert verdict.last == before + 4

        status, headers, body = await screen(seen)
        assert status == 200 and "warnings" not in body
        assert int(headers["X-Journal-Seq"]) == before + 5
        assert (await screen(unseen))[0] == 200
    finally:
        await redis.aclose()
        server.stop()
