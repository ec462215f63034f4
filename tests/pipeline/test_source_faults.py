"""Faults of a list's publisher, and hostile documents, over real HTTP.

What tests/pipeline/test_sync.py does not already cover: connection resets, bodies without a
Content-Length that grow past the limit, a mislabelled Content-Type, an HTML page with
200, and hostile XML (entity bombs, external entities in UTF-8 and UTF-16, deep nesting,
huge attributes, XInclude) arriving by HTTP after a good sync. Every failure leaves the
serving list as it was and is visible: the source's status and last error, its sync
history, and the failure counter /metrics exports."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from prometheus_client import generate_latest
from redis.asyncio import Redis

from listd.api.metrics import Metrics
from listd.errors import FetchError, SourceError, SourceRefused, ValidationFailed
from listd.keyspace import Keys
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.settings import Settings
from tests.conftest import SourceServer, un_file, with_url

NEWEST = un_file("2026-05-08")
OLDER = un_file("2026-02-27")
PATH = "/consolidated.xml"


async def metric(store: Store, name: str) -> str:
    metrics = Metrics()
    await metrics.refresh(store, {"un": 360.0}, 0)
    lines = generate_latest(metrics.registry).decode().splitlines()
    return next(line for line in lines if line.startswith(f'{name}{{source="un"}}'))


async def good_then(
    redis: Redis, settings: Settings, server: SourceServer, **changes: object
) -> tuple[Syncer, Store, str]:
    """A sync that publishes the older list, leaving the server with the newest one."""
    server.put(PATH, OLDER.read_bytes())
    s = with_url(settings, "un", server.url(PATH), **changes)
    store = Store(redis, Keys(s.key_prefix))
    session = aiohttp.ClientSession()
    syncer = Syncer(s, store, session)
    good = await syncer.sync("un")
    assert good.outcome == "updated" and good.version is not None
    server.put(PATH, NEWEST.read_bytes())
    return syncer, store, good.version


async def assert_untouched_and_visible(store: Store, version: str, error: str) -> None:
    assert await store.current_version("un") == version
    assert len(await store.entities("un")) == 1003
    state = await store.state("un")
    assert state["status"] == "error"
    assert error in state["last_error"]
    latest = (await store.history("un"))[0]
    assert latest["outcome"] == "failed" and error in latest["error"]
    assert await metric(store, "listd_source_sync_failures") == (
        'listd_source_sync_failures{source="un"} 1.0'
    )
    assert await metric(store, "listd_source_up") == 'listd_source_up{source="un"} 0.0'


async def test_connection_reset_is_retried(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    syncer, store, _ = await good_then(redis, settings, source_server)
    source_server.reset_next = 1
    try:
        result = await syncer.sync("un")
    finally:
        assert syncer.session is not None
        await syncer.session.close()
    assert result.outcome == "updated" and result.entities == 1009
    assert len(source_server.requests) == 3  # the good sync, the reset, the retry


async def test_connection_reset_every_time_keeps_the_list(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    syncer, store, version = await good_then(redis, settings, source_server)
    source_server.reset_next = 10
    try:
        with pytest.raises(FetchError, match="after 3 attempts") as caught:
            await syncer.sync("un")
    finally:
        assert syncer.session is not None
        await syncer.session.close()
    assert "Connection" in caught.value.message or "reset" in caught.value.message
    await assert_untouched_and_visible(store, version, "after 3 attempts")


async def test_body_without_length_cut_off_at_the_limit(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    syncer, store, version = await good_then(
        redis, settings, source_server, max_bytes=OLDER.stat().st_size + 1000
    )
    source_server.chunked = True  # the newest list is bigger than the limit
    try:
        with pytest.raises(FetchError, match="over the"):
            await syncer.sync("un")
    finally:
        assert syncer.session is not None
        await syncer.session.close()
    assert source_server.statuses[-1] == 200 and len(source_server.requests) == 2  # no retry
    await assert_untouched_and_visible(store, version, "byte limit")


async def test_a_list_with_the_wrong_content_type_is_judged_by_its_content(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    syncer, store, _ = await good_then(redis, settings, source_server)
    source_server.content_type = "application/octet-stream"
    try:
        result = await syncer.sync("un")
    finally:
        assert syncer.session is not None
        await syncer.session.close()
    assert result.outcome == "updated" and result.entities == 1009


async def test_an_html_page_with_200_is_named_as_such(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    syncer, store, version = await good_then(redis, settings, source_server)
    source_server.put(PATH, b"<html><body><h1>Scheduled maintenance</h1></body></html>")
    source_server.content_type = "text/html; charset=utf-8"
    try:
        with pytest.raises(SourceRefused, match="answered text/html: an error page") as caught:
            await syncer.sync("un")
    finally:
        assert syncer.session is not None
        await syncer.session.close()
    assert "see the User-Agent setting" in caught.value.message
    await assert_untouched_and_visible(store, version, "text/html")


SECRET = "listd-test-secret-3f9a"


def hostile(secret_file: Path) -> dict[str, bytes]:
    entities = b'<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    bomb = b"<?xml version='1.0'?><!DOCTYPE CONSOLIDATED_LIST [" + entities + b"]>"
    bomb += b"<CONSOLIDATED_LIST>&lol9;</CONSOLIDATED_LIST>"
    url = secret_file.as_uri()
    xxe = (
        f"<!DOCTYPE CONSOLIDATED_LIST [<!ENTITY e SYSTEM '{url}'>]>"
        "<CONSOLIDATED_LIST>&e;</CONSOLIDATED_LIST>"
    )
    param = f"<!DOCTYPE CONSOLIDATED_LIST [<!ENTITY % p SYSTEM '{url}'> %p;]><CONSOLIDATED_LIST/>"
    utf16 = "<?xml version='1.0' encoding='UTF-16'?>"
    return {
        "billion laughs": bomb,
        "billion laughs in UTF-16": (utf16 + bomb.decode()[21:]).encode("utf-16"),
        "external entity": xxe.encode(),
        "external entity in UTF-16": (utf16 + xxe).encode("utf-16"),
        "parameter entity in UTF-16": (utf16 + param).encode("utf-16"),
        "deep nesting": b"<CONSOLIDATED_LIST>"
        + b"<a>" * 5000
        + b"</a>" * 5000
        + b"</CONSOLIDATED_LIST>",
        "huge attribute": b'<CONSOLIDATED_LIST dateGenerated="' + b"x" * 12_000_000 + b'"/>',
        "xinclude": (
            "<CONSOLIDATED_LIST xmlns:xi='http://www.w3.org/2001/XInclude'>"
            f"<xi:include href='{url}' parse='text'/></CONSOLIDATED_LIST>"
        ).encode(),
        "schema location hint": (
            "<CONSOLIDATED_LIST xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' "
            f"xsi:noNamespaceSchemaLocation='{url}'><INDIVIDUALS/><ENTITIES/></CONSOLIDATED_LIST>"
        ).encode(),
    }


@pytest.mark.parametrize("kind", sorted(hostile(Path("/x"))))
async def test_hostile_xml_is_refused_and_the_list_kept(
    redis: Redis, settings: Settings, source_server: SourceServer, tmp_path: Path, kind: str
) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)
    syncer, store, version = await good_then(redis, settings, source_server)
    source_server.put(PATH, hostile(secret_file)[kind])
    try:
        with pytest.raises(SourceError) as caught:
            await syncer.sync("un")
    finally:
        assert syncer.session is not None
        await syncer.session.close()
    assert isinstance(caught.value, ValidationFailed)
    assert SECRET not in caught.value.message
    error = caught.value.message[:40]
    await assert_untouched_and_visible(store, version, error)
    history = await store.history("un")
    assert SECRET not in str(history) and SECRET not in str(await store.state("un"))
