"""Hostile list files: zip bombs by any compression method, oversized local files, and failures
that must be recorded in the source's status and history whatever raised them."""

from __future__ import annotations

import contextlib
import io
import json
import struct
import tracemalloc
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from redis.asyncio import Redis

from listd.errors import SourceError, ValidationFailed
from listd.keyspace import Keys
from listd.pipeline import sync as sync_module
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.scrapers import ofac
from listd.settings import Settings, SourceConfig
from tests.cli.test_cli import listd
from tests.conftest import un_file

OFAC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ofac"
CONS = OFAC / "ofac-consolidated-nonsdn-2025-06-30.xml"
INFLATED = 64 << 20  # what each bomb below really inflates to


def forged_zip(body: bytes, method: int, declared: int | None = None) -> bytes:
    """A one-member zip of `body`; with `declared`, both headers claim that unpacked size."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as archive:
        archive.writestr("SDN.XML", body)
    data = bytearray(buf.getvalue())
    if declared is not None:
        local = data.index(b"PK\x03\x04")
        central = data.index(b"PK\x01\x02")
        struct.pack_into("<I", data, local + 22, declared)
        struct.pack_into("<I", data, central + 24, declared)
    return bytes(data)


def bomb(method: int) -> bytes:
    """The attack: a member that inflates to 64 MiB while its headers declare a 90:1 ratio."""
    honest = forged_zip(b"<" + b" " * (INFLATED - 2) + b">", method)
    compressed = zipfile.ZipFile(io.BytesIO(honest)).infolist()[0].compress_size
    return forged_zip(b"<" + b" " * (INFLATED - 2) + b">", method, declared=90 * compressed)


def peak_while(call: Callable[[], object]) -> int:
    """Peak Python memory (bytes) allocated while `call()` runs."""
    tracemalloc.start()
    try:
        with contextlib.suppress(ValidationFailed):
            call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_bzip2_and_lzma_members_are_refused_before_inflating(method: int) -> None:
    data = bomb(method)
    assert len(data) < 20_000
    # Today's main inflated the whole member in one call (64 MiB here, 8 GiB in the report).
    assert peak_while(lambda: ofac.validate(data)) < 8 << 20
    with pytest.raises(ValidationFailed, match="compression method .* only stored and deflate"):
        ofac.validate(data)


def test_deflate_member_lying_about_its_size_is_inflated_in_bounded_steps() -> None:
    # Today's main read the member whole: one decompress call over all compressed input,
    # 141 MiB at peak for this 64 KB zip, before cutting it to the declared size.
    data = bomb(zipfile.ZIP_DEFLATED)  # header claims 90:1, well under MAX_XML_BYTES
    assert len(data) < 100_000
    assert peak_while(lambda: ofac.validate(data)) < 16 << 20
    with pytest.raises(ValidationFailed, match="zip"):
        ofac.validate(data)


def test_deflate_member_over_the_cap_with_an_honest_header_is_refused_by_the_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The header check is skipped here (limit raised for it), so only the running count stops it.
    xml = CONS.read_bytes()
    data = forged_zip(xml, zipfile.ZIP_DEFLATED)
    monkeypatch.setattr(ofac, "MAX_XML_BYTES", len(xml) - 1)
    monkeypatch.setattr(ofac, "_xml_member", lambda archive: archive.infolist()[0])
    with pytest.raises(ValidationFailed, match=f"inflates past {len(xml) - 1} bytes"):
        ofac.validate(data)


def test_the_real_stored_and_deflated_lists_still_load() -> None:
    xml = CONS.read_bytes()
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        assert len(list(ofac.parse(forged_zip(xml, method)))) == 443


def ofac_settings(settings: Settings, **changes: object) -> Settings:
    cfg = SourceConfig(name="ofac", kind="ofac", url="http://127.0.0.1:9/unused", min_entities=1)
    return replace(settings, sources={**settings.sources, "ofac": replace(cfg, **changes)})


async def test_bzip2_bomb_sync_fails_and_is_recorded(redis: Redis, settings: Settings) -> None:
    settings = ofac_settings(settings)
    store = Store(redis, Keys(settings.key_prefix))
    good = await Syncer(settings, store).sync("ofac", raw=CONS.read_bytes())
    with pytest.raises(ValidationFailed, match="bzip2"):
        await Syncer(settings, store).sync("ofac", raw=bomb(zipfile.ZIP_BZIP2))
    assert await store.current_version("ofac") == good.version
    state = await store.state("ofac")
    assert state["status"] == "error" and "bzip2" in state["last_error"]
    history = await store.history("ofac")
    assert history[0]["outcome"] == "failed" and "bzip2" in history[0]["error"]


async def test_unexpected_failures_are_recorded_in_status_and_history(
    redis: Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(redis, Keys(settings.key_prefix))
    syncer = Syncer(settings, store)
    good = await syncer.sync("un", raw=un_file("2026-02-27").read_bytes())

    def exhausted(*_args: object) -> None:
        raise MemoryError

    def broken(*_args: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(sync_module, "process", exhausted)
    with pytest.raises(SourceError, match="out of memory"):
        await syncer.sync("un", raw=un_file("2026-05-08").read_bytes())
    state = await store.state("un")
    assert state["status"] == "error" and "out of memory" in state["last_error"]
    assert "out of memory" in (await store.history("un"))[0]["error"]

    monkeypatch.setattr(sync_module, "process", broken)
    with pytest.raises(KeyError):
        await syncer.sync("un", raw=un_file("2026-05-08").read_bytes())
    state = await store.state("un")
    assert state["last_error"] == "internal error: KeyError: 'surprise'"
    assert [h["outcome"] for h in await store.history("un")] == ["failed", "failed", "updated"]
    assert await store.current_version("un") == good.version


async def test_a_document_over_max_bytes_is_refused(redis: Redis, settings: Settings) -> None:
    settings = replace(
        settings, sources={"un": replace(settings.sources["un"], max_bytes=1_000_000)}
    )
    store = Store(redis, Keys(settings.key_prefix))
    with pytest.raises(ValidationFailed, match="over the 1000000 byte limit"):
        await Syncer(settings, store).sync("un", raw=un_file("2026-05-08").read_bytes())
    assert "max_bytes" in (await store.state("un"))["last_error"]


def test_cli_file_over_max_bytes_is_refused_and_recorded(tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text(
        '[sources.ofac]\nkind = "ofac"\nurl = "https://x.invalid/sdn.xml"\n'
        "min_entities = 1\nmax_bytes = 100000\n"
    )
    state = tmp_path / "state"
    done = listd(state, "sync", "ofac", "--file", str(CONS), LISTD_SOURCES=str(sources))
    assert done.returncode == 1
    assert "over the 100000 byte limit" in done.stderr
    shown = listd(state, "sources", "--json", LISTD_SOURCES=str(sources))
    row = {r["name"]: r for r in json.loads(shown.stdout)}["ofac"]
    assert row["status"] == "error" and "over the 100000 byte limit" in row["last_error"]
