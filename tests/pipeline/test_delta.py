"""Deltas on the real UN version pairs, publication, the guard, and crash safety."""

from __future__ import annotations

import asyncio
import calendar
import dataclasses
import json
import os
import re
import signal
import sys
import time
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from redis.asyncio import Redis

from listd.errors import Gone, NotFound, ValidationFailed
from listd.model import Entity, canonical_json
from listd.pipeline import delta
from listd.pipeline.ingest import Parsed, process
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.scrapers import scraper
from listd.settings import Settings
from tests.conftest import UN, un_file
from tests.helpers import FakeClock

DATES = sorted(p.name[len("consolidated-") : -len(".xml")] for p in UN.glob("consolidated-*.xml"))


@cache
def parsed(date: str) -> Parsed:
    return process(scraper("un"), un_file(date).read_bytes(), "un")


def plan_between(a: str, b: str) -> delta.Plan:
    return delta.plan(parsed(a).hashes, parsed(b).hashes)


def refs(ids: list[str]) -> list[str]:
    return [i.removeprefix("un:") for i in ids]


def test_seventeen_files_in_date_order() -> None:
    assert len(DATES) == 17 and DATES[0] == "2017-06-20" and DATES[-1] == "2026-05-08"


# --- the version pairs of SOURCES.md 1.2 ---------------------------------------


def test_pure_additions() -> None:
    p = plan_between("2018-06-07", "2018-06-21")
    assert refs(p.added) == ["QDi.413", "QDi.414"]
    assert p.removed == [] and p.amended == []


def test_pure_removals() -> None:
    p = plan_between("2020-11-23", "2020-12-01")
    assert len(p.removed) == 12 and p.added == [] and p.amended == []
    assert sum(r.startswith("IQe.") for r in refs(p.removed)) == 11
    assert "IQi.035" in refs(p.removed)


def test_small_daily_delta() -> None:
    p = plan_between("2025-11-20", "2026-02-27")
    assert refs(p.added) == ["SDi.007", "SDi.008", "SDi.009", "SDi.010"]
    assert refs(p.removed) == ["IQi.074"]
    assert refs(p.amended) == ["HTi.006", "SOi.022"]


def test_no_op_pair_has_no_delta() -> None:
    p = plan_between("2025-11-15", "2025-11-20")
    assert p.empty
    assert parsed("2025-11-15").content_hash == parsed("2025-11-20").content_hash


def test_single_amendment_and_pure_removals_2017() -> None:
    assert refs(plan_between("2017-06-20", "2017-06-30").amended) == ["QDi.058"]
    p = plan_between("2017-06-30", "2017-07-03")
    assert refs(p.removed) == ["QDi.168", "QDi.169", "QDi.170"] and not p.added and not p.amended


def test_reissued_haiti_records_are_not_removed_and_added() -> None:
    # 2025: the UN re-issued HTi.002-007 under new DATAIDs. Identity is REFERENCE_NUMBER.
    p = plan_between("2025-04-19", "2025-08-02")
    assert refs(p.added) == ["HTe.001", "HTe.002", "QDi.436"]
    assert refs(p.removed) == ["QDi.328"]
    haiti = [f"HTi.00{n}" for n in range(2, 8)]
    assert not set(haiti) & set(refs(p.added) + refs(p.removed))
    old = {e.id: e for e in parsed("2025-04-19").entities}
    new = {e.id: e for e in parsed("2025-08-02").entities}
    assert old["un:HTi.002"].meta["dataid"] != new["un:HTi.002"].meta["dataid"]


@pytest.mark.parametrize(
    ("a", "b", "added", "removed"),
    [
        ("2018-06-21", "2018-08-24", 6, 8),
        ("2018-08-24", "2018-10-29", 3, 8),
        ("2020-03-20", "2020-11-23", 5, 1),
        ("2024-09-26", "2025-04-19", 4, 2),
        ("2025-08-02", "2025-11-15", 123, 2),
        ("2026-02-27", "2026-05-08", 7, 1),
    ],
)
def test_mixed_pairs_add_and_remove_as_the_table_says(
    a: str, b: str, added: int, removed: int
) -> None:
    p = plan_between(a, b)
    assert (len(p.added), len(p.removed)) == (added, removed)


def test_amendments_are_real_field_changes() -> None:
    # Every reported amendment names at least one field whose content changed.
    for a, b in zip(DATES, DATES[1:], strict=False):
        p = plan_between(a, b)
        old = {e.id: e for e in parsed(a).entities}
        new = {e.id: e for e in parsed(b).entities}
        for entity_id in p.amended:
            fields = delta.field_changes(old[entity_id].content(), new[entity_id].content())
            assert fields, (a, b, entity_id)


def test_amendment_examples_checked_by_hand() -> None:
    old = {e.id: e for e in parsed("2025-11-20").entities}
    new = {e.id: e for e in parsed("2026-02-27").entities}
    # SOi.022: checked by reading both files.
    fields = delta.field_changes(old["un:SOi.022"].content(), new["un:SOi.022"].content())
    assert fields, fields
    assert set(fields) <= {
        "names", "remarks", "updated_on", "birth_dates", "documents", "addresses",
        "nationalities", "positions", "titles", "birth_places", "listed_on",
    }  # fmt: skip
    assert "2026" in json.dumps(fields.get("updated_on", {})) or "remarks" in fields


# --- classification: identity changes vs details ---------------------------------


def classes_between(a: str, b: str) -> dict[str, tuple[str, frozenset[str]]]:
    """{entity id: (class, changed fields)} for every amendment between two files."""
    old = {e.id: e for e in parsed(a).entities}
    new = {e.id: e for e in parsed(b).entities}
    out = {}
    for entity_id in plan_between(a, b).amended:
        changed = delta.field_changes(old[entity_id].content(), new[entity_id].content())
        out[entity_id] = (delta.classify("amended", changed), frozenset(changed))
    return out


def test_the_class_table_decides_every_entity_field() -> None:
    # A new Entity field must get a deliberate class in delta.FIELD_CLASSES.
    assert set(delta.FIELD_CLASSES) == {f.name for f in dataclasses.fields(Entity)} - {"meta"}


def test_un_2026_interpol_links_and_comments_are_details() -> None:
    found = classes_between("2026-02-27", "2026-05-08")
    assert len(found) == 639
    # 501 amendments only add an INTERPOL link (HAS_INTERPOL_LINK/INTERPOL_LINK, new in
    # 2026); 108 more also re-word COMMENTS1, the rest of the details touch addresses
    # or amendment dates.
    assert sum(f == {"urls"} for _, f in found.values()) == 501
    details = {e for e, (c, _) in found.items() if c == "details"}
    assert len(details) == 613
    assert sum(found[e][1] == {"remarks", "urls"} for e in details) == 108
    for entity_id in details:
        assert found[entity_id][1] <= {"urls", "remarks", "updated_on", "addresses"}
    identity = {e for e, (c, _) in found.items() if c == "identity"}
    assert len(identity) == 26
    # TAi.068: only the Arabic original-script name was repaired, but a name is a name.
    assert found["un:TAi.068"] == ("identity", frozenset({"names", "urls"}))
    # KPi.043: a passport's expiry date moved from its note into its own field.
    assert found["un:KPi.043"] == ("identity", frozenset({"documents"}))
    assert found["un:TAi.150"][0] == "details"  # three addresses dropped, nothing else


def test_additions_and_removals_are_identity() -> None:
    assert delta.classify("added", {}) == "identity"
    assert delta.classify("removed", {}) == "identity"
    assert delta.classify("amended", {"remarks": {}, "gender": {}}) == "identity"
    assert delta.classify("amended", {"remarks": {}}) == "details"
    assert delta.classify("amended", {"a_field_listd_does_not_know": {}}) == "identity"
    # Deltas stored before the class existed get it when read; a stored one is kept.
    envelope = {"source": "un", "entity_id": "un:X", "at": "t", "version": "2"}
    envelope |= {"previous_version": "1", "entity": {"id": "un:X"}}
    old = envelope | {"op": "amended", "changes": {"urls": {"added": ["https://x"]}}}
    assert delta.Delta.from_json(3, json.dumps(old)).klass == "details"
    kept = envelope | {"op": "amended", "changes": {"urls": {}}, "class": "identity"}
    assert delta.Delta.from_json(3, json.dumps(kept)).klass == "identity"


def test_payloads_are_the_deltas_as_json_whatever_their_op() -> None:
    # Additions and removals splice the stored entity JSON into the envelope; amendments
    # are serialised whole. Read back, each is the delta `changes` describes, in id order.
    old, new = parsed("2026-02-27"), parsed("2026-05-08")
    p = delta.plan(old.hashes, new.hashes)
    assert p.added and p.amended and p.removed
    new_json = {i: new.encoded[i].decode() for i in (*p.added, *p.amended)}
    old_json = {i: old.encoded[i].decode() for i in (*p.amended, *p.removed)}
    got = delta.payloads("un", "7", "6", "2026-05-09T00:00:00Z", p, new_json, old_json)
    expected = [
        {
            "source": "un",
            "op": c.op,
            "entity_id": c.entity_id,
            "at": "2026-05-09T00:00:00Z",
            "version": "7",
            "previous_version": "6",
            "changes": c.changes,
            "class": c.klass,
            "entity": c.entity,
        }
        for c in delta.changes(p, new_json, old_json)
    ]
    assert [i for i, _ in got] == [d["entity_id"] for d in expected]
    assert [json.loads(text) for _, text in got] == expected
    first = delta.payloads(
        "un",
        "1",
        None,
        "t",
        delta.plan({}, new.hashes),
        new_json | {i: new.encoded[i].decode() for i in new.hashes},
        {},
    )
    assert json.loads(first[0][1])["previous_version"] is None


def _envelope_as_before(op: str, entity_id: str, entity: str, previous: str | None) -> str:
    """A delta's stream JSON as `payloads` wrote it before it made one envelope per op: the
    whole envelope through json.dumps for each delta, the entity JSON spliced in."""

    def dumps(data: object) -> str:
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    head = dumps({"at": "2026-05-09T00:00:00Z", "changes": {}, "class": "identity"})[:-1]
    after = {"entity_id": entity_id, "op": op, "previous_version": previous, "source": "un"}
    tail = dumps(after | {"version": "7"})[1:]
    return f'{head}, "entity": {entity}, {tail}'


def test_additions_and_removals_are_written_as_before() -> None:
    # The UN's 2026-02-27 -> 2026-05-08 deltas and a first load of 2026-05-08, with ids that
    # JSON must escape (removed, then added): byte for byte each delta's own dumps.
    old, new = parsed("2026-02-27"), parsed("2026-05-08")
    odd = dict.fromkeys(['un:"quoted\\"', "un:\u00e9\u0644\u2028\t"], "{}")
    old_json = {i: body.decode() for i, body in old.encoded.items()} | odd
    new_json = {i: body.decode() for i, body in new.encoded.items()} | odd
    hashed = dict.fromkeys(odd, "x")
    for p, previous in (
        (delta.plan(old.hashes | hashed, new.hashes), "6"),
        (delta.plan({}, new.hashes | hashed), None),
    ):
        at = "2026-05-09T00:00:00Z"
        got = dict(delta.payloads("un", "7", previous, at, p, new_json, old_json))
        assert set(odd) <= {*p.added, *p.removed}
        for op, ids, texts in (("added", p.added, new_json), ("removed", p.removed, old_json)):
            for i in ids:
                assert got[i] == _envelope_as_before(op, i, texts[i], previous), i


def test_the_record_reads_and_writes_the_published_json_byte_for_byte() -> None:
    # Every delta the UN's 2026-02-27 -> 2026-05-08 files publish: read into the record,
    # written back, the same stream text; shown with its seq, the same JSON the API and
    # the event stream sent when they spliced the seq into the parsed dict.
    old, new = parsed("2026-02-27"), parsed("2026-05-08")
    p = delta.plan(old.hashes, new.hashes)
    new_json = {i: new.encoded[i].decode() for i in (*p.added, *p.amended)}
    old_json = {i: old.encoded[i].decode() for i in (*p.amended, *p.removed)}
    published = delta.payloads("un", "7", "6", "2026-05-09T00:00:00Z", p, new_json, old_json)
    ops = set()
    for seq, (entity_id, text) in enumerate(published, start=41):
        record = delta.Delta.from_json(seq, text)
        ops.add(record.op)
        assert (record.seq, record.entity_id) == (seq, entity_id)
        assert record.to_json() == text
        shown = {"seq": seq, **json.loads(text)}
        assert json.dumps(record.to_dict()) == json.dumps(shown)
        assert record.klass == shown["class"] and record.programs == shown["entity"]["programs"]
    assert ops == {"added", "amended", "removed"}
    assert len(published) == len(p.added) + len(p.amended) + len(p.removed)


# --- publication ----------------------------------------------------------------


def without_meta(entity: dict[str, object]) -> object:
    """An entity's content as it travels in JSON (tuples become lists, no `meta`)."""
    return json.loads(canonical_json({k: v for k, v in entity.items() if k != "meta"}))


def store_for(redis: Redis, settings: Settings) -> Store:
    return Store(redis, settings.keys)


async def test_deltas_are_published_in_order_with_entities(
    redis: Redis, settings: Settings
) -> None:
    store = store_for(redis, settings)
    syncer = Syncer(settings, store)
    first = await syncer.sync("un", raw=un_file("2025-11-20").read_bytes())
    assert first.deltas == {"added": 1000, "amended": 0, "removed": 0}
    assert (first.first_seq, first.last_seq) == (1, 1000)
    second = await syncer.sync("un", raw=un_file("2026-02-27").read_bytes())
    assert second.deltas == {"added": 4, "amended": 2, "removed": 1}
    assert (second.first_seq, second.last_seq) == (1001, 1007)
    found, cursor = await store.read_deltas(1000, 100)
    assert cursor == 1007
    assert [d.seq for d in found] == list(range(1001, 1008))
    ops = {d.entity_id.removeprefix("un:"): d.op for d in found}
    assert ops == {
        "HTi.006": "amended", "IQi.074": "removed", "SDi.007": "added", "SDi.008": "added",
        "SDi.009": "added", "SDi.010": "added", "SOi.022": "amended",
    }  # fmt: skip
    # The records are the stream's entries, byte for byte.
    stream = await redis.xrange(store.keys.deltas(), "1001-0", "1007-0")
    assert [d.to_json() for d in found] == [fields["d"] for _, fields in stream]
    removed = next(d for d in found if d.op == "removed")
    assert removed.entity["reference"] == "IQi.074"  # the last listed state, for unfreezing
    added = next(d for d in found if d.entity_id == "un:SDi.007")
    assert added.programs == ["UN-1591"] and added.version == second.version
    assert (await store.state("un"))["seq"] == "1007"
    no_op = await syncer.sync("un", raw=un_file("2026-02-27").read_bytes())
    assert no_op.outcome == "unchanged" and await store.last_seq() == 1007


async def test_replay_all_files_reproduces_the_last_snapshot(
    redis: Redis, settings: Settings
) -> None:
    # max_removed_ratio 0.1: the 2024 file (172 of 1006 gone, 17%) is held and then
    # approved by an administrator, as in production; 2020's 102 of 1093 (9%) passes.
    cfg = replace(settings.sources["un"], max_removed_ratio=0.1)
    s = replace(settings, sources={"un": cfg})
    store = store_for(redis, s)
    # Each file is synced on its own date: the cumulative removal window (24 h) sees the
    # months between them, as production would.
    today = FakeClock(0.0)
    syncer = Syncer(s, store, clock=today)
    held = []
    for date in DATES:
        today.advance(calendar.timegm(time.strptime(date, "%Y-%m-%d")) - today.time())
        result = await syncer.sync("un", raw=un_file(date).read_bytes())
        if result.outcome == "held":
            held.append(date)
            await syncer.approve_held("un")
    assert held == ["2024-09-26"]
    everything, _ = await store.read_deltas(0, 1_000_000)
    assert [d.seq for d in everything] == list(range(1, len(everything) + 1))
    # Deltas carry designations, not bookkeeping (a new DATAID alone is no change),
    # so the replay reproduces every entity's content exactly.
    snapshot = {e.id: e.to_dict() for e in parsed(DATES[0]).entities}
    delta.apply(snapshot, everything[len(snapshot) :])
    final = {e.id: without_meta(e.to_dict()) for e in await store.entities("un")}
    assert {k: without_meta(v) for k, v in snapshot.items()} == final
    assert final == {e.id: without_meta(e.to_dict()) for e in parsed(DATES[-1]).entities}


async def test_retention_answers_410_for_trimmed_positions(
    redis: Redis, settings: Settings
) -> None:
    store = store_for(redis, settings)
    syncer = Syncer(replace(settings, delta_retention=5), store)
    await syncer.sync("un", raw=un_file("2025-11-20").read_bytes())
    assert await store.delta_floor() == 995
    with pytest.raises(Gone, match="snapshot"):
        await store.read_deltas(10, 10)
    kept, _ = await store.read_deltas(995, 10)
    assert [d.seq for d in kept] == [996, 997, 998, 999, 1000]


# --- the guard -----------------------------------------------------------------


def half_of(date: str) -> bytes:
    """A valid file with every second INDIVIDUAL removed (about a third of the list)."""
    text = un_file(date).read_text("utf-8")
    individuals = re.findall(r"<INDIVIDUAL>.*?</INDIVIDUAL>", text, flags=re.S)
    for doomed in individuals[::2]:
        text = text.replace(doomed, "", 1)
    return text.encode()


async def test_guard_holds_a_list_missing_half_its_records(
    redis: Redis, settings: Settings
) -> None:
    store = store_for(redis, settings)
    syncer = Syncer(settings, store)
    good = await syncer.sync("un", raw=un_file("2026-05-08").read_bytes())
    result = await syncer.sync("un", raw=half_of("2026-05-08"))
    assert result.outcome == "held" and "max_removed_ratio" in (result.held_reason or "")
    assert await store.current_version("un") == good.version
    assert len(await store.entities("un")) == 1009
    state = await store.state("un")
    assert state["status"] == "held" and "369 of 1009" in state["held_reason"]
    assert await store.last_seq() == 1009  # nothing published
    held = await store.held("un")
    assert held["would_removed"] == "369" and held["entities"] == "640"
    # The same broken file again changes nothing.
    again = await syncer.sync("un", raw=half_of("2026-05-08"))
    assert again.outcome == "held" and again.version == held["version"]
    # Rejecting it keeps the list; the next good file publishes normally.
    await syncer.reject_held("un")
    assert await store.held("un") == {}
    assert (await store.state("un"))["status"] == "ok"
    with pytest.raises(NotFound):
        await syncer.reject_held("un")
    assert not await redis.exists(*store.keys.snapshot_keys("un", held["version"]))


async def test_approving_a_held_list_publishes_its_removals(
    redis: Redis, settings: Settings
) -> None:
    store = store_for(redis, settings)
    syncer = Syncer(settings, store)
    await syncer.sync("un", raw=un_file("2026-05-08").read_bytes())
    await syncer.sync("un", raw=half_of("2026-05-08"))
    approved = await syncer.approve_held("un")
    assert approved.deltas == {"added": 0, "amended": 0, "removed": 369}
    assert len(await store.entities("un")) == 640
    assert (await store.state("un"))["status"] == "ok"
    assert await store.held("un") == {}


async def test_guard_min_entities_holds_even_the_first_list(
    redis: Redis, settings: Settings
) -> None:
    strict = replace(settings, sources={"un": replace(settings.sources["un"], min_entities=5000)})
    store = store_for(redis, strict)
    result = await Syncer(strict, store).sync("un", raw=un_file("2026-05-08").read_bytes())
    assert result.outcome == "held" and "min_entities=5000" in (result.held_reason or "")
    assert await store.current_version("un") is None


async def test_truncated_file_publishes_nothing(redis: Redis, settings: Settings) -> None:
    store = store_for(redis, settings)
    syncer = Syncer(settings, store)
    await syncer.sync("un", raw=un_file("2026-02-27").read_bytes())
    raw = un_file("2026-05-08").read_bytes()
    with pytest.raises(ValidationFailed):
        await syncer.sync("un", raw=raw[: len(raw) * 2 // 3])
    assert await store.last_seq() == 1003 and len(await store.entities("un")) == 1003


# --- crash safety: a real process killed with SIGKILL in the middle of a sync ---------


async def consistent(store: Store) -> tuple[str, int]:
    """Check that the serving snapshot and the delta stream agree; return (version, seq)."""
    state = await store.state("un")
    version = state["version"]
    assert await store.current_version("un") == version
    meta = await store.snapshot_meta("un", version)
    entities = await store.entities("un", version)
    assert len(entities) == int(meta["entities"]) == int(state["entities"])
    seq = await store.last_seq()
    assert int(state["seq"]) == seq
    replayed: dict[str, dict[str, object]] = {}
    delta.apply(replayed, (await store.read_deltas(0, 1_000_000))[0])
    expected = {e.id: without_meta(e.to_dict()) for e in entities}
    assert {k: without_meta(v) for k, v in replayed.items()} == expected
    return version, seq


async def test_sigkill_mid_sync_leaves_old_or_new_never_a_mix(
    redis: Redis, redis_url: str, settings: Settings, tmp_path: Path
) -> None:
    store = store_for(redis, settings)
    await Syncer(settings, store).sync("un", raw=un_file("2025-08-02").read_bytes())
    old_version, old_seq = await consistent(store)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTD_")}
    env |= {"LISTD_REDIS_URL": redis_url, "LISTD_KEY_PREFIX": settings.key_prefix}
    sources = tmp_path / "sources.toml"
    sources.write_text('[sources.un]\nkind = "un"\nurl = "http://127.0.0.1:9/x"\n')
    env["LISTD_SOURCES"] = str(sources)
    outcomes = set()
    for delay in (0.2, 0.6, 1.0, 1.4, 1.8, 2.2, 2.6, 3.0):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "listd", "sync", "un", "--file", str(un_file("2025-11-15")),
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await asyncio.sleep(delay)
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.wait()
        version, seq = await consistent(store)
        if version == old_version:
            assert seq == old_seq
            outcomes.add("old")
        else:
            assert seq == old_seq + 123 + 2 + 10
            outcomes.add("new")
            break
    # At least one kill must have landed before the flip for the test to mean anything.
    assert "old" in outcomes
    # The lock of a killed sync does not block the next one, and it completes.
    final = await Syncer(settings, store).sync("un", raw=un_file("2025-11-15").read_bytes())
    assert final.outcome in {"updated", "unchanged"}
    version, seq = await consistent(store)
    assert seq == old_seq + 135
