"""The sync path on the real UN files: local ingestion, the HTTP source, atomic swap."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import pathlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from listd.errors import FetchError, SourceRefused, SyncInProgress, ValidationFailed
from listd.model import Entity
from listd.pipeline.ingest import PARSE_APART_BYTES, process
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.scrapers import check, encode, scraper, xsd
from listd.settings import Settings
from tests.conftest import SourceServer, un_file, with_url

NEWEST = un_file("2026-05-08")


def store_for(redis: Redis, settings: Settings) -> Store:
    return Store(redis, settings.keys)


async def test_file_ingest_stores_every_entity(redis: Redis, settings: Settings) -> None:
    store = store_for(redis, settings)
    result = await Syncer(settings, store).sync("un", raw=NEWEST.read_bytes())
    assert result.outcome == "updated"
    assert result.entities == 737 + 272
    assert result.published == "2026-05-08T23:00:06.922Z"
    entities = await store.entities("un")
    assert len(entities) == 1009
    assert sum(e.schema == "person" for e in entities) == 737
    person = await store.entity("un:QDi.312")
    assert person is not None and person.primary_name == "AAMIR ALI CHAUDHRY"
    state = await store.state("un")
    assert state["status"] == "ok" and state["version"] == result.version


async def test_same_file_twice_is_unchanged_and_keeps_version(
    redis: Redis, settings: Settings
) -> None:
    syncer = Syncer(settings, store_for(redis, settings))
    first = await syncer.sync("un", raw=NEWEST.read_bytes())
    second = await syncer.sync("un", raw=NEWEST.read_bytes())
    assert second.outcome == "unchanged" and second.version == first.version


async def test_same_content_new_date_is_unchanged(redis: Redis, settings: Settings) -> None:
    # 2025-11-15 and 2025-11-20 differ only in dateGenerated.
    syncer = Syncer(settings, store_for(redis, settings))
    first = await syncer.sync("un", raw=un_file("2025-11-15").read_bytes())
    second = await syncer.sync("un", raw=un_file("2025-11-20").read_bytes())
    assert first.outcome == "updated"
    assert second.outcome == "unchanged" and second.version == first.version


async def test_truncated_file_is_rejected_and_old_list_serves(
    redis: Redis, settings: Settings
) -> None:
    store = store_for(redis, settings)
    syncer = Syncer(settings, store)
    good = await syncer.sync("un", raw=un_file("2026-02-27").read_bytes())
    raw = NEWEST.read_bytes()
    with pytest.raises(ValidationFailed, match="well-formed|truncated|XML"):
        await syncer.sync("un", raw=raw[: len(raw) // 2])
    assert await store.current_version("un") == good.version
    assert len(await store.entities("un")) == 730 + 273
    state = await store.state("un")
    assert state["status"] == "error" and state["last_error"]
    history = await store.history("un")
    assert [h["outcome"] for h in history] == ["failed", "updated"]


async def test_failure_half_way_through_storing_leaves_old_version(
    redis: Redis, settings: Settings
) -> None:
    store = store_for(redis, settings)
    old = await Syncer(settings, store).sync("un", raw=un_file("2025-08-02").read_bytes())
    parsed = process(scraper("un"), NEWEST.read_bytes())

    def breaks_half_way() -> Iterator[Entity]:
        for n, entity in enumerate(parsed.entities):
            if n == 600:
                raise OSError("connection lost while writing")
            yield entity

    with pytest.raises(OSError):
        await store.write_snapshot("un", breaks_half_way())
    assert await store.current_version("un") == old.version
    assert len(await store.entities("un")) == 684 + 195
    assert (await store.entity("un:QDi.312")) is not None
    # The orphaned half-written version is collected by the next sync.
    orphan_versions = await redis.zrange(store.keys.versions("un"), 0, -1)
    assert len(orphan_versions) == 2
    new = await Syncer(settings, store).sync("un", raw=NEWEST.read_bytes())
    assert new.outcome == "updated"
    remaining = await redis.zrange(store.keys.versions("un"), 0, -1)
    assert set(remaining) == {old.version, new.version}
    assert not await redis.exists(*store.keys.snapshot_keys("un", orphan_versions[1]))


async def test_old_versions_are_collected(redis: Redis, settings: Settings) -> None:
    store = store_for(redis, settings)
    syncer = Syncer(settings, store)
    versions = []
    for date in ("2025-04-19", "2025-08-02", "2025-11-15", "2026-02-27"):
        versions.append((await syncer.sync("un", raw=un_file(date).read_bytes())).version)
    kept = await redis.zrange(store.keys.versions("un"), 0, -1)
    assert kept == versions[-2:]
    for gone in versions[:2]:
        assert not await redis.exists(*store.keys.snapshot_keys("un", gone))


# --- the HTTP source path -----------------------------------------------------


async def test_http_etag_then_304(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    source_server.put("/consolidated.xml", NEWEST.read_bytes())
    s = with_url(settings, "un", source_server.url("/consolidated.xml"))
    async with aiohttp.ClientSession() as session:
        syncer = Syncer(s, store_for(redis, s), session)
        first = await syncer.sync("un")
        second = await syncer.sync("un")
    assert (first.outcome, first.http_status) == ("updated", 200)
    assert (second.outcome, second.http_status) == ("not_modified", 304)
    assert source_server.statuses == [200, 304]
    state = await store_for(redis, s).state("un")
    assert "If-None-Match" not in source_server.requests[0].headers
    assert source_server.requests[1].headers["If-None-Match"] == state["etag"]
    assert state["etag"].startswith('"') and state["last_success"]


async def test_http_same_bytes_without_etag_support_costs_no_parse(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    source_server.put("/consolidated.xml", NEWEST.read_bytes())
    s = with_url(settings, "un", source_server.url("/consolidated.xml"))
    async with aiohttp.ClientSession() as session:
        syncer = Syncer(s, store_for(redis, s), session)
        await syncer.sync("un")
        await store_for(redis, s).set_state("un", etag="")  # as if the server sent none
        second = await syncer.sync("un")
    assert second.outcome == "unchanged" and second.http_status == 200


async def test_http_500_then_success(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    source_server.put("/consolidated.xml", NEWEST.read_bytes())
    source_server.fail_next = 2
    s = with_url(settings, "un", source_server.url("/consolidated.xml"))
    async with aiohttp.ClientSession() as session:
        result = await Syncer(s, store_for(redis, s), session).sync("un")
    assert result.outcome == "updated"
    assert source_server.statuses == [500, 500, 200]


async def test_http_persistent_500_fails_and_keeps_list(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    source_server.put("/consolidated.xml", NEWEST.read_bytes())
    s = with_url(settings, "un", source_server.url("/consolidated.xml"))
    store = store_for(redis, s)
    async with aiohttp.ClientSession() as session:
        syncer = Syncer(s, store, session)
        good = await syncer.sync("un")
        source_server.put("/consolidated.xml", un_file("2026-02-27").read_bytes())
        source_server.fail_next = 10
        with pytest.raises(FetchError, match="HTTP 500"):
            await syncer.sync("un")
    assert source_server.statuses[1:] == [500, 500, 500]  # 1 try + 2 retries
    assert await store.current_version("un") == good.version
    assert (await store.state("un"))["status"] == "error"


async def test_http_truncated_body_is_retried(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    source_server.put("/consolidated.xml", NEWEST.read_bytes())
    source_server.truncate_next = 1
    s = with_url(settings, "un", source_server.url("/consolidated.xml"))
    async with aiohttp.ClientSession() as session:
        result = await Syncer(s, store_for(redis, s), session).sync("un")
    assert result.outcome == "updated" and result.entities == 1009
    assert len(source_server.requests) == 2


async def test_http_truncated_every_time_never_replaces_list(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    source_server.put("/consolidated.xml", NEWEST.read_bytes())
    s = with_url(settings, "un", source_server.url("/consolidated.xml"))
    store = store_for(redis, s)
    async with aiohttp.ClientSession() as session:
        syncer = Syncer(s, store, session)
        await syncer.sync("un", raw=un_file("2026-02-27").read_bytes())
        source_server.truncate_next = 10
        with pytest.raises(FetchError, match="truncated|Payload"):
            await syncer.sync("un")
    assert len(await store.entities("un")) == 1003


async def test_http_redirect_to_signed_url(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    source_server.put("/blob/consolidatedLegacyByPRN.xml", NEWEST.read_bytes())
    s = with_url(settings, "un", source_server.url("/redirect/blob/consolidatedLegacyByPRN.xml"))
    async with aiohttp.ClientSession() as session:
        result = await Syncer(s, store_for(redis, s), session).sync("un")
    assert result.outcome == "updated"
    assert source_server.statuses == [302, 200]
    assert source_server.requests[1].query_string == "sig=abc"


async def test_http_404_fails_without_retry(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    s = with_url(settings, "un", source_server.url("/missing.xml"))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(FetchError, match="HTTP 404"):
            await Syncer(s, store_for(redis, s), session).sync("un")
    assert source_server.statuses == [404]


async def test_http_error_page_instead_of_xml_is_rejected(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    # Labelled application/xml: the body, not the label, shows it is an HTML page.
    source_server.put("/consolidated.xml", b"<html><body>Service Unavailable</body></html>")
    s = with_url(settings, "un", source_server.url("/consolidated.xml"))
    store = store_for(redis, s)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(SourceRefused, match="answered an HTML page: an error page"):
            await Syncer(s, store, session).sync("un")
    assert await store.current_version("un") is None
    # No validators kept for a rejected body: the next try downloads it again.
    assert not (await store.state("un")).get("etag")


async def test_http_oversized_body_is_refused(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    source_server.put("/consolidated.xml", NEWEST.read_bytes())
    s = with_url(settings, "un", source_server.url("/consolidated.xml"), max_bytes=1_000_000)
    store = store_for(redis, s)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(FetchError, match="over the 1000000"):
            await Syncer(s, store, session).sync("un")
    assert source_server.statuses == [200]  # a size refusal is not retried
    assert await store.current_version("un") is None


async def test_http_slow_server_times_out_and_keeps_list(
    redis: Redis, settings: Settings, source_server: SourceServer
) -> None:
    source_server.put("/consolidated.xml", NEWEST.read_bytes())
    s = with_url(settings, "un", source_server.url("/consolidated.xml"), timeout=0.3)
    store = store_for(redis, s)
    async with aiohttp.ClientSession() as session:
        syncer = Syncer(s, store, session)
        await syncer.sync("un", raw=un_file("2026-02-27").read_bytes())
        source_server.delay = 1.0
        with pytest.raises(FetchError, match="TimeoutError|Timeout"):
            await syncer.sync("un")
    assert len(source_server.requests) == 3  # one try and two retries
    assert len(await store.entities("un")) == 1003


async def test_hostile_xml_is_refused_before_expansion(redis: Redis, settings: Settings) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        b"<CONSOLIDATED_LIST>&lol3;</CONSOLIDATED_LIST>"
    )
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<CONSOLIDATED_LIST>&e;</CONSOLIDATED_LIST>"
    )
    deep = b"<CONSOLIDATED_LIST>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</CONSOLIDATED_LIST>"
    huge_attr = b'<CONSOLIDATED_LIST dateGenerated="' + b"x" * 20_000_000 + b'"/>'
    store = store_for(redis, settings)
    for body in (bomb, xxe, deep, huge_attr):
        with pytest.raises(ValidationFailed):
            await Syncer(settings, store).sync("un", raw=body)
    assert await store.current_version("un") is None


async def test_a_lock_whose_set_landed_before_a_dropped_reply_is_ours(
    redis: Redis, settings: Settings
) -> None:
    """redis-py retries a command after a dropped connection. When the first SET NX had
    landed, the retry finds this very lock's token: the sync goes on, and nothing is left
    behind to block the source until the lock's TTL runs out."""
    store = Store(redis, settings.keys)
    lock = store.lock("un")
    await redis.set(lock.key, lock.token, px=60_000)  # the first try's effect
    await lock.acquire()
    with pytest.raises(SyncInProgress):
        await store.lock("un").acquire()
    await lock.release()
    assert await redis.get(lock.key) is None
    result = await Syncer(settings, store).sync("un", raw=un_file("2018-06-07").read_bytes())
    assert result.outcome == "updated"


async def test_a_new_date_alone_is_recognised_without_parsing(
    redis: Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2025-11-15 and 2025-11-20 differ only in the value of dateGenerated.
    store = store_for(redis, settings)
    syncer = Syncer(settings, store)
    first = await syncer.sync("un", raw=un_file("2025-11-15").read_bytes())
    steps = {"validate", "parse", "normalise", "store", "publish"}
    assert set(first.phases) == steps | {"validate_cpu", "parse_cpu"}

    def never(*_: object) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr("listd.pipeline.ingest.process", never)
    second = await syncer.sync("un", raw=un_file("2025-11-20").read_bytes())
    assert (second.outcome, second.version) == ("unchanged", first.version)
    assert second.published == "2025-11-20T23:00:09.067Z"
    assert (await store.state("un"))["published"] == "2025-11-20T23:00:09.067Z"
    # Any other byte changed: validated and parsed as usual (here: refused, as it must be).
    raw = un_file("2025-11-20").read_bytes().replace(b"<DATAID>", b"<DATAID> ", 1)
    with pytest.raises(AssertionError, match="parsed again"):
        await syncer.sync("un", raw=raw)


@pytest.mark.parametrize("parts", [1, 3])
async def test_a_large_document_is_checked_in_a_child_process(
    monkeypatch: pytest.MonkeyPatch, parts: int
) -> None:
    monkeypatch.setattr("listd.pipeline.ingest.ISOLATE_BYTES", 0)
    monkeypatch.setattr("listd.pipeline.ingest.PARSE_PROCESSES", parts)
    un = scraper("un")
    parsed = process(un, NEWEST.read_bytes(), "un")
    assert parsed.count == 1009 and parsed.phases["validate"] > 0
    # Parsed in a child too: no Entity built here, and the very records the store would
    # get from a parse in this process, in the same order.
    assert parsed.local == [] and parsed.phases["parse"] > 0
    # The children's CPU seconds, which the machine's load hardly moves (wall seconds do).
    assert parsed.phases["validate_cpu"] > 0 and parsed.phases["parse_cpu"] > 0
    monkeypatch.setattr("listd.pipeline.ingest.ISOLATE_BYTES", 1 << 40)
    monkeypatch.setattr("listd.pipeline.ingest.PARSE_APART_BYTES", 1 << 40)
    here = process(un, NEWEST.read_bytes(), "un")
    assert len(here.local) == 1009 and here.entities == parsed.entities
    assert list(parsed.encoded.items()) == list(here.encoded.items())
    assert parsed.hashes == here.hashes
    assert (parsed.content_hash, parsed.published) == (here.content_hash, here.published)
    monkeypatch.setattr("listd.pipeline.ingest.ISOLATE_BYTES", 0)
    bad = NEWEST.read_bytes().replace(b"<LISTED_ON>2012-10-18<", b"<LISTED_ON>18 Oct 2012<", 1)
    with pytest.raises(ValidationFailed) as caught:
        process(un, bad, "un")
    # xmlschema's explanation, from the child, with its details intact.
    assert "(record QDi.312)" in caught.value.message and "LISTED_ON" in caught.value.message
    assert caught.value.detail["record"] == "QDi.312" and caught.value.detail["line"] > 0
    with pytest.raises(ValidationFailed, match="not well-formed"):
        process(un, NEWEST.read_bytes()[:100_000], "un")


def test_the_check_answers_through_a_buffered_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    # The checking child leaves without the interpreter's teardown (os._exit): its answer
    # must be flushed first, also where its stdout is block-buffered (no PYTHONUNBUFFERED).
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)
    monkeypatch.setattr("listd.pipeline.ingest.ISOLATE_BYTES", 0)
    parsed = process(scraper("un"), NEWEST.read_bytes(), "un")
    assert parsed.count == 1009 and parsed.phases["validate_cpu"] > 0


def test_a_mid_size_document_is_checked_while_the_children_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The UN's 2.2 MB: checked in a thread of this process while the children parse it,
    # not before they start. The check here waits for the parse to have started.
    monkeypatch.setattr("listd.pipeline.ingest.ISOLATE_BYTES", 1 << 40)
    parsing = threading.Event()
    overlapped: list[bool] = []
    check, apart = xsd.check, encode.apart

    def waiting_check(*args: Any) -> None:
        overlapped.append(parsing.wait(10))
        check(*args)

    def flagged_apart(*args: Any) -> encode.Encoded:
        parsing.set()
        return apart(*args)

    monkeypatch.setattr("listd.scrapers.xsd.check", waiting_check)
    monkeypatch.setattr("listd.scrapers.encode.apart", flagged_apart)
    parsed = process(scraper("un"), NEWEST.read_bytes(), "un")
    assert overlapped == [True] and parsed.count == 1009 and parsed.phases["validate"] > 0


async def test_an_invalid_document_the_parse_accepts_stores_nothing(
    redis: Redis, settings: Settings
) -> None:
    # An element the XSD does not allow, which the parse passes over with a warning: the
    # children's records must not be stored, and the refusal names path and line.
    raw = NEWEST.read_bytes()
    at = raw.index(b"<SECOND_NAME>")
    bad = raw[:at] + b"<NICKNAME>Abu</NICKNAME>" + raw[at:]
    assert len(bad) >= PARSE_APART_BYTES
    assert len(encode.in_process(scraper("un"), bad, "un").hashes) == 1009  # parses
    store = store_for(redis, settings)
    with pytest.raises(ValidationFailed) as caught:
        await Syncer(settings, store).sync("un", raw=bad)
    assert caught.value.detail["path"] == "/CONSOLIDATED_LIST/INDIVIDUALS/INDIVIDUAL[1]"
    assert caught.value.detail["line"] == 4 and "NICKNAME" in caught.value.message
    assert await store.current_version("un") is None
    assert await redis.get(store.keys.version_counter("un")) is None
    assert await redis.zcard(store.keys.versions("un")) == 0
    assert await store.last_seq() == 0
    assert (await store.state("un"))["status"] == "error"


@pytest.mark.parametrize("parts", [1, 2])
async def test_a_record_the_parsing_child_refuses_is_refused_with_its_reason(
    monkeypatch: pytest.MonkeyPatch, parts: int
) -> None:
    # Valid against the XSD (which has no uniqueness rule), refused by the parse, which
    # runs in the child (with 2, the two copies go to different children): its reason
    # must cross the process boundary intact.
    monkeypatch.setattr("listd.pipeline.ingest.ISOLATE_BYTES", 0)
    monkeypatch.setattr("listd.pipeline.ingest.PARSE_PROCESSES", parts)
    raw = NEWEST.read_bytes()
    start = raw.index(b"<INDIVIDUAL>")
    record = raw[start : raw.index(b"</INDIVIDUAL>", start) + len(b"</INDIVIDUAL>")]
    twice = raw[:start] + record + record + raw[start + len(record) :]
    with pytest.raises(ValidationFailed, match="occurs twice in the document"):
        process(scraper("un"), twice, "un")


OFAC_DATA = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ofac"
IRGC = "ofac-enhanced-IRGC-2024-08-28.xml"


@pytest.mark.parametrize("name", [IRGC, "ofac-consolidated-nonsdn-2025-03-28.xml"])
async def test_children_parsing_runs_of_an_ofac_list_give_the_records_in_order(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # Each of 3 children parses one contiguous run of the records (record_cuts): together,
    # the very records a parse in this process gives, in the same order; a record found in
    # two runs is refused as in one process.
    monkeypatch.setattr("listd.pipeline.ingest.ISOLATE_BYTES", 0)
    monkeypatch.setattr("listd.pipeline.ingest.PARSE_APART_BYTES", 0)
    monkeypatch.setattr("listd.pipeline.ingest.PARSE_PROCESSES", 3)
    ofac = scraper("ofac")
    document = (OFAC_DATA / name).read_bytes()
    assert ofac.record_cuts is not None and ofac.record_cuts(document, 3) is not None
    parsed = process(ofac, document, "ofac")
    assert parsed.local == [] and parsed.count > 200
    monkeypatch.setattr("listd.pipeline.ingest.ISOLATE_BYTES", 1 << 40)
    monkeypatch.setattr("listd.pipeline.ingest.PARSE_APART_BYTES", 1 << 40)
    here = process(ofac, document, "ofac")
    assert list(parsed.encoded.items()) == list(here.encoded.items())
    assert (parsed.hashes, parsed.warnings) == (here.hashes, here.warnings)
    monkeypatch.setattr("listd.pipeline.ingest.PARSE_APART_BYTES", 0)
    opening, closing = (
        (b"<entity ", b"</entity>") if IRGC in name else (b"<sdnEntry>", b"</sdnEntry>")
    )
    start = document.index(opening)
    record = document[start : document.index(closing, start) + len(closing)]
    last = document.rindex(closing) + len(closing)
    twice = document[:last] + record + document[last:]  # the first record again, at the end
    count = parsed.count
    twice = twice.replace(b"<Record_Count>%d<" % count, b"<Record_Count>%d<" % (count + 1), 1)
    assert ofac.record_cuts(twice, 3) is not None
    with pytest.raises(ValidationFailed, match="occurs twice in the document"):
        process(ofac, twice, "ofac")


async def test_parsing_children_are_started_ahead_for_the_next_sync(
    redis: Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A sync that parsed in 2 children leaves 2 started for the next one (their start, a
    # Python and the listd imports, then costs no sync its time); each serves one document.
    monkeypatch.setattr("listd.pipeline.ingest.PARSE_PROCESSES", 2)
    encode.stop_waiting()
    syncer = Syncer(settings, store_for(redis, settings))
    try:
        await syncer.sync("un", raw=un_file("2026-02-27").read_bytes())
        waiting = list(encode._waiting)
        assert len(waiting) == 2 and all(proc.poll() is None for proc in waiting)
        waiting[0].kill()  # one that died meanwhile is passed over
        waiting[0].wait()
        here = process(scraper("un"), NEWEST.read_bytes(), "un")
        assert waiting[1].returncode == 0  # it did the work, and exited
        assert encode._waiting == []
        alone = encode.in_process(scraper("un"), NEWEST.read_bytes(), "un")
        assert list(here.encoded.items()) == list(alone.encoded.items())
        result = await syncer.sync("un", raw=NEWEST.read_bytes())
        assert result.outcome == "updated" and len(encode._waiting) == 2
    finally:
        encode.stop_waiting()


async def test_many_deltas_are_staged_and_published_in_order(
    redis: Redis, settings: Settings
) -> None:
    store = store_for(redis, settings)
    # The UN's first load: 1,009 added entities, over the staging threshold.
    result = await Syncer(settings, store).sync("un", raw=NEWEST.read_bytes())
    assert (result.first_seq, result.last_seq) == (1, 1009)
    deltas, _ = await store.read_deltas(0, 2000)
    assert [d.seq for d in deltas] == list(range(1, 1010))
    assert [d.entity_id for d in deltas] == sorted(d.entity_id for d in deltas)
    assert not [k async for k in redis.scan_iter(match=f"*{settings.key_prefix}*staged*")]


async def test_the_deltas_are_staged_while_the_snapshot_is_written(
    redis: Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A first load's deltas are built and staged beside the snapshot's write, not after
    # it; neither is visible before the publication script flips to the version.
    store = store_for(redis, settings)
    staged = asyncio.Event()
    stage, write = store._stage, store.write_encoded
    seen: list[tuple[bool, str | None]] = []

    async def staging(key: str, lines: Any) -> None:
        await stage(key, lines)
        staged.set()

    async def writing(*args: Any, **kwargs: Any) -> Any:
        snapshot = await write(*args, **kwargs)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(staged.wait(), 10)
        seen.append((staged.is_set(), await store.current_version("un")))
        return snapshot

    monkeypatch.setattr(store, "_stage", staging)
    monkeypatch.setattr(store, "write_encoded", writing)
    result = await Syncer(settings, store).sync("un", raw=NEWEST.read_bytes())
    assert seen == [(True, None)]
    assert (result.outcome, result.first_seq, result.last_seq) == ("updated", 1, 1009)
    assert [d.seq for d in (await store.read_deltas(0, 2000))[0]] == list(range(1, 1010))


async def test_an_approved_hold_recognises_its_next_new_date_without_parsing(
    redis: Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Held for too few entities, then approved: the approved list keeps what tells a
    # re-dated copy of it apart, like a list published straight away.
    un = replace(settings.sources["un"], min_entities=5000)
    held_settings = replace(settings, sources={"un": un})
    store = store_for(redis, held_settings)
    syncer = Syncer(held_settings, store)
    assert (await syncer.sync("un", raw=un_file("2025-11-15").read_bytes())).outcome == "held"
    approved = await syncer.approve_held("un")

    def never(*_: object) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr("listd.pipeline.ingest.process", never)
    again = await syncer.sync("un", raw=un_file("2025-11-20").read_bytes())
    assert (again.outcome, again.version) == ("unchanged", approved.version)


async def test_a_version_read_whole_is_never_partial(redis: Redis, settings: Settings) -> None:
    # Entities are read in pages (one HGETALL of a full-size list stalls the event loop):
    # a version losing entities meanwhile (collected) must read as gone, not as a part.
    store = store_for(redis, settings)
    result = await Syncer(settings, store).sync("un", raw=NEWEST.read_bytes())
    assert result.version is not None
    assert len(await store.entities("un", result.version)) == 1009
    await redis.hdel(store.keys.snap_entities("un", result.version), "un:QDi.312")
    assert await store.entities("un", result.version) == []
    await redis.delete(*store.keys.snapshot_keys("un", result.version))
    assert await store.entities("un", result.version) == []


def test_a_child_that_fails_or_hangs_refuses_the_document(tmp_path: pathlib.Path) -> None:
    # Whatever goes wrong in a checking or parsing child, the document is refused with
    # what the child was doing, never stored half-read.
    document = tmp_path / "list.xml"
    document.write_bytes(NEWEST.read_bytes()[:1000])
    with pytest.raises(ValidationFailed, match=r"^the validation process failed: .*no-such"):
        encode.run_child(["listd.scrapers.check", "no-such"], str(document), "validation", 60)
    with pytest.raises(ValidationFailed, match=r"^parsing took longer than 0\.5 s"):
        sleeper = ["timeit", "-n", "1", "-r", "1", "import time; time.sleep(30)"]
        encode.run_child(sleeper, str(document), "parsing", 0.5)


def test_the_children_yield_the_cpu_to_the_daemon() -> None:
    # The checking and parsing children of a large document run NICENESS below their
    # parent, so a screening request the daemon answers meanwhile gets a core at once; those
    # of a small one, done in a fraction of a second, keep its priority.
    code = (
        "import os, sys; from listd.scrapers.encode import lower_priority; "
        "before = os.nice(0); lower_priority(int(sys.argv[1])); print(before, os.nice(0))"
    )
    for size, lower in ((encode.NICE_FROM_BYTES, encode.NICENESS), (2_000_000, 0)):
        args = [sys.executable, "-c", code, str(size)]
        out = subprocess.run(args, capture_output=True, check=True)
        before, after = map(int, out.stdout.split())
        assert after == min(before + lower, 19)
    for function in (encode.run, check.main):  # encode.run: a child's work, however started
        assert "lower_priority(len(raw))" in inspect.getsource(function)
