"""Someone with write access to Redis, but not to the host, against `listd audit verify`.

The attacks rewrite Redis exactly as such a person would (raw commands, links recomputed
with the public formula); the verdict comes from the real `listd audit verify` command.
Before the journal key and checkpoints, every attack here passed verification.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from listd.access import wire
from listd.api import create_app
from listd.api.state import KEYSTORE
from listd.audit import Actor, Entry, Journal, JournalWriter, canonical, chain_link, content_hash
from listd.cli import main
from listd.errors import ConfigError
from listd.keyspace import Keys
from listd.seal import CHECKPOINTS, Checkpointer, Seal, ensure_seal
from listd.settings import Settings

OPERATOR = Actor(name="cli:root", via="cli")


@dataclass
class Verified:
    code: int
    verdict: dict[str, Any]
    err: str


@dataclass
class Deployment:
    """One listd process's journal: the writer the API uses, admin records, checkpoints."""

    redis: Redis
    keys: Keys
    journal: Journal
    writer: JournalWriter
    checkpoints: Checkpointer
    seal: Seal
    state: Path

    async def requests(self, n: int, org: str = "bank-a") -> None:
        for i in range(n):
            await self.writer.write(
                {"kind": "request", "org": org, "route": "/v1/screen", "status": 200, "n": i}
            )

    async def admin(self, action: str, target_org: str) -> int:
        return await self.journal.record(OPERATOR, action, "u-1", target_org)

    async def entries(self) -> list[Entry]:
        return await self.journal.read(0, 100_000)


@pytest.fixture
async def deployment(redis: Redis, settings: Settings) -> AsyncIterator[Deployment]:
    keys = Keys(settings.key_prefix)
    seal = ensure_seal(settings.journal_key_path)
    journal = wire(settings, redis, seal).journal
    writer = JournalWriter(journal, settings.state_dir / "journal" / "spool")
    checkpoints = Checkpointer(redis, keys, seal, settings.state_dir / "journal", "w-test")
    yield Deployment(redis, keys, journal, writer, checkpoints, seal, settings.state_dir)
    await writer.close()


@pytest.fixture
def verify(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Iterator[Any]:
    """Run `listd audit verify` as an operator would, against the test's Redis and state."""
    for name in [n for n in os.environ if n.startswith("LISTD_")]:
        monkeypatch.delenv(name)
    assert settings.redis_url is not None
    monkeypatch.setenv("LISTD_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("LISTD_KEY_PREFIX", settings.key_prefix)
    monkeypatch.setenv("LISTD_STATE_DIR", str(settings.state_dir))
    monkeypatch.setenv("LISTD_LOG_FORMAT", "console")
    saved = structlog.get_config()

    async def run() -> Verified:
        capsys.readouterr()
        code = await asyncio.to_thread(main, ["audit", "verify"])
        out, err = capsys.readouterr()
        return Verified(code, json.loads(out), err)

    yield run
    structlog.configure(**saved)


# --- the attacker's tools: Redis commands only ---
async def move_head(d: Deployment, entry: Entry | None) -> None:
    await d.redis.set(d.keys.journal_head(), f"{entry.seq}:{entry.link}" if entry else "")


def orgs_of(entry: Entry) -> list[str]:
    f = entry.fields
    return sorted({str(o) for o in (f.get("org"), f.get("target_org")) if o})


async def rebuild(d: Deployment, entries: list[Entry]) -> None:
    """Replace the live stream with `entries` and point the head at the last."""
    key = d.keys.journal()
    await d.redis.delete(key)
    for e in entries:
        await d.redis.xadd(key, {"e": e.raw, "p": e.prev, "h": e.link}, id=f"{e.seq}-0")
    await move_head(d, entries[-1] if entries else None)


async def cut_end(d: Deployment, count: int) -> list[Entry]:
    """Delete the newest `count` entries, their index members, and move the head back."""
    entries = await d.entries()
    gone, kept = entries[-count:], entries[:-count]
    for e in gone:
        for org in orgs_of(e):
            await d.redis.zrem(d.keys.journal_org(org), str(e.seq))
    await rebuild(d, kept)
    return gone


Digest = Callable[[str], str]


async def relink_from(
    d: Deployment,
    seq: int,
    digest: Digest = content_hash,
    change: Callable[[str], str] | None = None,
) -> None:
    """Rewrite entry `seq` (by default its status becomes 403) and recompute every later
    link and the head, so the chain is whole again."""
    change = change or (lambda raw: raw.replace('"status":200', '"status":403'))
    entries = await d.entries()
    prev = entries[seq - 2].link if seq > 1 else "0" * 40
    rebuilt = entries[: seq - 1]
    for e in entries[seq - 1 :]:
        raw = change(e.raw) if e.seq == seq else e.raw
        link = chain_link(prev, e.seq, digest(raw))
        rebuilt.append(Entry(e.seq, prev, link, raw))
        prev = link
    await rebuild(d, rebuilt)


async def forge(d: Deployment, fields: dict[str, Any], digest: Digest = content_hash) -> int:
    """Append a well-linked entry and move the head, as the append script would."""
    seq, prev = await d.journal.head()
    raw = canonical(fields)
    link = chain_link(prev, seq + 1, digest(raw))
    await d.redis.execute_command(
        "XADD", d.keys.journal(), f"{seq + 1}-0", "e", raw, "p", prev, "h", link
    )
    await d.redis.set(d.keys.journal_head(), f"{seq + 1}:{link}")
    for org in sorted({str(o) for o in (fields.get("org"), fields.get("target_org")) if o}):
        await d.redis.zadd(d.keys.journal_org(org), {str(seq + 1): seq + 1})
    return seq + 1


def unseal(raw: str) -> str:
    return canonical({k: v for k, v in json.loads(raw).items() if k != "seal"})


# --- an untampered journal ---
async def test_the_api_seals_and_checkpoints_and_an_untouched_journal_verifies(
    redis: Redis, settings: Settings, verify: Any
) -> None:
    app = create_app(settings, redis)
    async with TestClient(TestServer(app)) as client:
        key = settings.journal_key_path
        assert stat.S_IMODE(key.stat().st_mode) == 0o600  # created on the first start
        secret = await app[KEYSTORE].create("desk", "screener", org="bank-a")
        for _ in range(3):
            resp = await client.get("/v1/agreement", headers={"Authorization": f"Bearer {secret}"})
            assert resp.status == 200
    # Closing the app wrote the shutdown checkpoint.
    (line,) = (settings.state_dir / "journal" / CHECKPOINTS).read_text().splitlines()
    checkpoint = json.loads(line)
    written = await Journal(redis, Keys(settings.key_prefix)).read(0, 100)
    n = len(written)  # the user and key created, then the three reads
    assert [e.fields.get("action") or e.fields["route"] for e in written] == [
        "user.create", "key.create", "/v1/agreement", "/v1/agreement", "/v1/agreement",
    ]  # fmt: skip
    assert (checkpoint["reason"], checkpoint["seq"], checkpoint["link"]) == (
        "shutdown", n, written[-1].link,
    )  # fmt: skip
    assert checkpoint["orgs"] == {"bank-a": n} and checkpoint["floor"] == 0
    assert checkpoint["prefix"] == settings.key_prefix

    done = await verify()
    assert done.code == 0, done.err
    assert done.verdict | {"newest_checkpoint": None} == {
        "ok": True, "entries": n, "first": 1, "last": n, "archives": 0, "broken_at": None,
        "problem": None, "sealed": n, "checkpoints": 1, "newest_checkpoint": None,
        "key": "present", "key_problem": None,
    }  # fmt: skip
    assert done.verdict["newest_checkpoint"]["seq"] == n


async def test_checkpoints_survive_archiving(deployment: Deployment, verify: Any) -> None:
    d = deployment
    await d.requests(6)
    await d.admin("user.block", "bank-b")
    assert await d.checkpoints.write() is not None
    assert await d.checkpoints.write() is None  # the head has not moved since
    assert await d.journal.archive(1, everything=True)
    await d.requests(3, org="bank-b")
    await d.checkpoints.write()
    done = await verify()
    assert done.code == 0, done.err
    assert (done.verdict["archives"], done.verdict["checkpoints"], done.verdict["last"]) == (
        1, 2, 10,
    )  # fmt: skip
    await cut_end(d, 2)
    done = await verify()
    assert done.code == 1 and done.verdict["broken_at"] == 9
    assert "entries 9..10 are missing" in done.verdict["problem"]


# --- 1. deleting the last entries and moving the head back ---
async def test_truncation_below_the_newest_checkpoint_is_found(
    deployment: Deployment, verify: Any
) -> None:
    d = deployment
    await d.requests(8)
    await d.checkpoints.write()
    await cut_end(d, 3)
    done = await verify()
    assert done.code == 1
    assert done.verdict["broken_at"] == 6
    assert done.verdict["problem"].startswith("entries 6..8 are missing: the checkpoint of ")
    assert "(entries at the end were deleted and the head moved back)" in done.verdict["problem"]
    assert "listd: journal broken at entry 6" in done.err


# --- 2. rewriting every entry after a point, links recomputed ---
async def test_a_rewrite_with_recomputed_links_is_found(
    deployment: Deployment, verify: Any
) -> None:
    d = deployment
    await d.requests(8)
    await d.checkpoints.write()
    await d.requests(2)  # after the newest checkpoint: the seals still cover these
    await relink_from(d, 5)
    done = await verify()
    assert (done.code, done.verdict["broken_at"]) == (1, 5)
    assert done.verdict["problem"] == (
        "entry 5 does not match its seal: changed after it was written, "
        "or forged without the journal key (the live journal)"
    )


async def test_a_rewrite_that_drops_the_seals_is_found(deployment: Deployment, verify: Any) -> None:
    d = deployment
    await d.requests(8)
    # Entry 5 rewritten without its seal, so that plain sha256 links are accepted for it.
    await relink_from(d, 5, change=lambda raw: unseal(raw).replace('"status":200', '"status":403'))
    done = await verify()
    assert (done.code, done.verdict["broken_at"]) == (1, 5)
    assert done.verdict["problem"].startswith(
        "entry 5 carries no seal, but entry 1 before it does: forged"
    )


async def test_a_rewrite_with_the_stolen_key_before_a_checkpoint_is_found(
    deployment: Deployment, verify: Any
) -> None:
    d = deployment
    await d.requests(8)
    await d.checkpoints.write()
    await relink_from(d, 5, d.seal.digest)  # seals recomputed with the key itself
    done = await verify()
    assert (done.code, done.verdict["broken_at"]) == (1, 8)
    assert done.verdict["problem"].startswith("entry 8 differs from the checkpoint of ")
    assert "the journal was rewritten at or before entry 8" in done.verdict["problem"]


# --- 3. appending a forged, well-linked entry ---
async def test_a_forged_entry_at_the_end_is_found(deployment: Deployment, verify: Any) -> None:
    d = deployment
    await d.requests(5)
    await d.checkpoints.write()
    fields = {
        "kind": "admin",
        "action": "user.unblock",
        "org": "bank-a",
        "at": "2026-12-06T10:00:00.000Z",
    }
    # Naming the key, as genuine entries do, without holding it:
    seq = await forge(d, fields | {"seal": d.seal.kid})
    done = await verify()
    assert (done.code, done.verdict["broken_at"]) == (1, seq)
    assert done.verdict["problem"].startswith(f"entry {seq} does not match its seal")
    # Or naming a key that does not exist:
    await cut_end(d, 1)
    seq = await forge(d, fields | {"seal": "f" * 12})
    done = await verify()
    assert (done.code, done.verdict["broken_at"]) == (1, seq)
    assert done.verdict["problem"].startswith(f"entry {seq} is sealed with key ffffffffffff")
    # Or without a seal at all:
    await cut_end(d, 1)
    seq = await forge(d, fields)
    done = await verify()
    assert (done.code, done.verdict["broken_at"]) == (1, seq)
    assert f"entry {seq} carries no seal, but entry 1 before it does" in done.verdict["problem"]


# --- 4. removing a member of an organisation's index ---
async def test_an_entry_hidden_from_its_organisations_auditor_is_found(
    deployment: Deployment, verify: Any
) -> None:
    d = deployment
    await d.requests(3, org="bank-a")
    hidden = await d.admin("key.block", "bank-b")  # an operator's action on bank-b's key
    await d.requests(2, org="bank-b")
    await d.redis.zrem(d.keys.journal_org("bank-b"), str(hidden))
    done = await verify()
    assert (done.code, done.verdict["broken_at"]) == (1, hidden)
    assert done.verdict["problem"] == (
        f"the journal index of organisation bank-b lacks entries {hidden} "
        "(hidden from its auditors)"
    )
    # Slipping another organisation's entry into the index is found too.
    await d.redis.zadd(d.keys.journal_org("bank-b"), {str(hidden): hidden, "1": 1})
    done = await verify()
    assert done.verdict["problem"] == (
        "the journal index of organisation bank-b lists entries 1 that are not by or about it"
    )


async def test_a_hidden_entry_stays_found_after_archiving(
    deployment: Deployment, verify: Any
) -> None:
    """Archiving trims the index, erasing the evidence from Redis; the checkpoint taken
    while the entry was hidden still shows it."""
    d = deployment
    await d.requests(2, org="bank-a")
    hidden = await d.admin("key.block", "bank-b")
    await d.redis.zrem(d.keys.journal_org("bank-b"), str(hidden))
    await d.checkpoints.write()  # the index, as it was while the entry was hidden
    await d.journal.archive(1, everything=True)
    assert not await d.redis.exists(d.keys.journal_org("bank-b"))
    done = await verify()
    assert (done.code, done.verdict["broken_at"]) == (1, hidden)
    assert (
        "found 0 live entries in the journal index of organisation bank-b, but the chain has 1"
        in (done.verdict["problem"])
    )


# --- what verify says without the key, and what it cannot see ---
async def test_without_the_key_verify_says_so(
    deployment: Deployment, settings: Settings, verify: Any
) -> None:
    d = deployment
    await d.requests(4)
    await d.checkpoints.write()
    settings.journal_key_path.unlink()
    done = await verify()
    assert done.code == 3
    assert done.verdict["ok"] is True and done.verdict["key"] == "missing"
    assert done.verdict["key_problem"].startswith(
        f"the journal key is missing: entries or checkpoints sealed with key {d.seal.kid}"
    )
    assert f"(key file: {settings.journal_key_path})" in done.err
    # Continuity is still checked without it.
    await d.redis.xdel(d.keys.journal(), "2-0")
    assert (await verify()).code == 1


async def test_the_limits_after_the_newest_checkpoint(deployment: Deployment, verify: Any) -> None:
    """What stays undetectable, stated as tests: entries written after the newest
    checkpoint can be cut off the end without the key, and rewritten or forged with it."""
    d = deployment
    await d.requests(6)
    await d.checkpoints.write()
    await d.requests(3)
    # Without the key: the three entries after the checkpoint vanish unnoticed.
    await cut_end(d, 3)
    done = await verify()
    assert (done.code, done.verdict["last"], done.verdict["newest_checkpoint"]["seq"]) == (0, 6, 6)
    # With the stolen key: a forged entry after the checkpoint passes, seal and all.
    fields = {
        "kind": "admin",
        "action": "user.unblock",
        "org": "bank-a",
        "at": "2026-12-06T10:00:00.000Z",
    }
    await forge(d, fields | {"seal": d.seal.kid}, d.seal.digest)
    done = await verify()
    assert (done.code, done.verdict["last"]) == (0, 7)


# --- the key and the cadence ---
async def test_a_key_file_named_by_the_operator(
    redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "secrets" / "listd-journal.key"
    path.parent.mkdir()
    path.write_text("ab" * 32 + "\n")
    path.chmod(0o600)
    env = {
        "LISTD_STATE_DIR": str(settings.state_dir),
        "LISTD_JOURNAL_KEY_FILE": str(path),
        "LISTD_JOURNAL_CHECKPOINT_SECONDS": "30",
        "LISTD_JOURNAL_CHECKPOINT_ENTRIES": "500",
    }
    named = Settings.from_env(env)
    assert named.journal_key_path == path
    assert (named.journal_checkpoint_seconds, named.journal_checkpoint_entries) == (30.0, 500)
    assert Settings.from_env({}).journal_checkpoint_seconds == 60.0
    with pytest.raises(ConfigError, match="LISTD_JOURNAL_CHECKPOINT_SECONDS must be"):
        Settings.from_env(env | {"LISTD_JOURNAL_CHECKPOINT_SECONDS": "0"})
    # The API seals with that key and creates none in the state directory.
    app = create_app(replace(settings, journal_key_file=path), redis)
    async with TestClient(TestServer(app)):
        await app[KEYSTORE].create("desk", "screener", org="bank-a")
    (first, *_) = await Journal(redis, Keys(settings.key_prefix)).read(0, 10)
    assert first.fields["seal"] == Seal(bytes.fromhex("ab" * 32)).kid
    assert not (settings.state_dir / "journal.key").exists()
    # A named file that does not exist is refused, not invented.
    with pytest.raises(ConfigError, match="named by LISTD_JOURNAL_KEY_FILE does not exist"):
        create_app(replace(settings, journal_key_file=tmp_path / "typo.key"), redis)
    assert not (tmp_path / "typo.key").exists()
    # A key too short to be one is refused at start, naming the variable.
    path.write_text("abcd\n")
    with pytest.raises(ConfigError, match="must hold at least 64 hex digits") as refused:
        create_app(replace(settings, journal_key_file=path), redis)
    assert refused.value.detail == {"key": "LISTD_JOURNAL_KEY_FILE"}


async def test_a_checkpoint_after_so_many_entries(deployment: Deployment) -> None:
    d = deployment
    d.checkpoints.entries = 5
    d.writer.on_written = d.checkpoints.note
    loop = asyncio.create_task(d.checkpoints.run(every=3600))  # the clock never fires
    try:
        await d.requests(4)
        await asyncio.sleep(0.05)
        assert not (d.state / "journal" / CHECKPOINTS).exists()
        await d.requests(1)
        for _ in range(200):  # the loop wakes on the fifth entry
            if (d.state / "journal" / CHECKPOINTS).exists():
                break
            await asyncio.sleep(0.01)
        (line,) = (d.state / "journal" / CHECKPOINTS).read_text().splitlines()
        assert json.loads(line)["seq"] == 5
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop


async def test_an_instance_with_another_key_is_named(
    deployment: Deployment, redis: Redis, tmp_path: Path, verify: Any
) -> None:
    """Two hosts that each made their own key: the other's entries cannot be checked, and
    a forger could name any key, so verify fails; the instances warn at start."""
    d = deployment
    await d.requests(2)
    other = Seal(bytes(range(32)))
    journal = Journal(redis, d.keys, tmp_path / "elsewhere", other)
    seq = await journal.append({"kind": "request", "org": "bank-a", "n": 99})
    elsewhere = Checkpointer(redis, d.keys, other, tmp_path / "elsewhere", "w-other")
    assert await elsewhere.check_key() is None  # the newest entry is its own
    assert await d.checkpoints.check_key() == other.kid
    done = await verify()
    assert (done.code, done.verdict["broken_at"]) == (1, seq)
    assert done.verdict["problem"] == (
        f"entry {seq} is sealed with key {other.kid}, not with this journal's key "
        f"{d.seal.kid}: forged, or written by an instance with another key file "
        "(the live journal)"
    )


async def test_a_raised_archive_floor_is_found(deployment: Deployment, verify: Any) -> None:
    """Auditors read entries up to the floor from archive files and the rest through the
    index: raising the floor hides live entries from them without touching the index."""
    d = deployment
    await d.requests(4, org="bank-b")
    await d.redis.set(d.keys.journal_floor(), 4)
    page, _ = await d.journal.for_org("bank-b")
    assert page == []  # the attack works: bank-b's auditor sees nothing
    done = await verify()
    assert (done.code, done.verdict["broken_at"]) == (1, 1)
    assert done.verdict["problem"] == (
        "the archive floor in Redis says entries up to 4 were archived, but the archive files "
        "end at entry 0: entries 1..4 were hidden from auditors' reads"
    )
    # Put back after a checkpoint recorded it: the checkpoint still tells.
    await d.checkpoints.write()
    await d.redis.set(d.keys.journal_floor(), 0)
    done = await verify()
    assert done.verdict["problem"].startswith("the checkpoint of ")
    assert "says entries up to 4 were archived" in done.verdict["problem"]


async def test_a_checkpoint_line_not_signed_with_the_key_is_found(
    deployment: Deployment, verify: Any
) -> None:
    d = deployment
    await d.requests(3)
    record = await d.checkpoints.write()
    assert record is not None
    path = d.state / "journal" / CHECKPOINTS
    forged = record | {"seq": 2, "link": (await d.entries())[1].link, "at": "2026-12-06T00:00:00Z"}
    with path.open("a") as fh:
        fh.write(json.dumps(forged) + "\n")
    done = await verify()
    assert done.code == 1
    assert done.verdict["problem"] == (
        "the checkpoint of 2026-12-06T00:00:00Z (line 2, entry 2) does not match its "
        "signature: the checkpoint was forged or altered"
    )
    path.write_text(path.read_text().splitlines()[0] + "\nnot json\n")
    done = await verify()
    assert done.verdict["problem"] == "checkpoints.jsonl line 2 is not a checkpoint"
    # A line cut short by a crash while it was written is left out.
    path.write_text(path.read_text().splitlines()[0] + '\n{"seq": 3, "li')
    assert (await verify()).code == 0


async def test_a_changed_time_range_of_an_archive_file_is_found(
    deployment: Deployment, verify: Any
) -> None:
    """Readers skip archive files by the time range recorded in Redis: moving it hides the
    file's entries from an auditor's dated query."""
    d = deployment
    await d.requests(3, org="bank-b")
    (path,) = await d.journal.archive(1, everything=True)
    registry = d.keys.journal_archives()
    trailer = json.loads(await d.redis.hget(registry, path.name))
    start = trailer["first_at"]
    await d.redis.hset(registry, path.name, json.dumps(trailer | {"last_at": "2000-01-01"}))
    page, _ = await d.journal.for_org("bank-b", start=start)
    assert page == []  # the attack works: the file is skipped
    done = await verify()
    assert (done.code, done.verdict["broken_at"]) == (1, 3)
    assert done.verdict["problem"] == (
        f"{path.name}: its trailer differs from the one recorded when it was archived"
    )


async def test_a_checkpoint_at_each_interval(deployment: Deployment) -> None:
    d = deployment
    await d.requests(2)
    loop = asyncio.create_task(d.checkpoints.run(every=0.02))
    path = d.state / "journal" / CHECKPOINTS
    try:
        for _ in range(500):  # the first interval ends
            if path.exists():
                break
            await asyncio.sleep(0.01)
        await d.requests(1)
        for _ in range(500):  # the head moved: the next interval writes again
            if len(path.read_text().splitlines()) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    seqs = [json.loads(line)["seq"] for line in path.read_text().splitlines()]
    assert seqs[:2] == [2, 3]  # and none while the head stood still
