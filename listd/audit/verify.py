"""Verification: the chain end to end (archive files, the live stream, the head), each
entry's seal, the signed checkpoints written outside Redis, and each organisation's index.

Editing, deleting or reordering entries breaks a link that `verify` reports. The chain
alone has no secret: someone who can rewrite Redis *and* recompute every later link (and
the head) is not detected by it. So a key kept outside Redis (`listd.seal`) seals every
entry and signs checkpoints written outside Redis; `verify` checks both, and each
organisation's index against the chain.
"""

from __future__ import annotations

import asyncio
import bisect
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from listd.audit.archive import ARCHIVE, archive_files, read_archive
from listd.audit.entries import GENESIS, Entry, chain_link, content_hash, entry_orgs
from listd.seal import Checkpoint, Seal, read_checkpoints

if TYPE_CHECKING:
    from listd.audit.journal import Journal


@dataclass
class Verdict:
    """What `verify` found: the first broken link, or that the chain holds end to end."""

    ok: bool = True
    entries: int = 0
    first: int = 0
    last: int = 0
    archives: int = 0
    seq: int | None = None  # the first entry whose link is broken
    problem: str | None = None
    sealed: int = 0  # entries sealed with a journal key
    checkpoints: int = 0  # signed checkpoints checked against the chain
    newest_checkpoint: dict[str, Any] | None = None
    key: str = "present"  # present | missing (no key file)
    unchecked: set[str] = field(default_factory=set)  # ids of keys sealing what we cannot check

    def fail(self, seq: int | None, problem: str) -> None:
        if self.ok:
            self.ok, self.seq, self.problem = False, seq, problem

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first": self.first,
            "last": self.last,
            "archives": self.archives,
            "broken_at": self.seq,
            "problem": self.problem,
            "sealed": self.sealed,
            "checkpoints": self.checkpoints,
            "newest_checkpoint": self.newest_checkpoint,
            "key": self.key,
            "key_problem": self.key_problem,
        }

    @property
    def key_problem(self) -> str | None:
        """Why seals or checkpoints could not be checked (None: all were)."""
        if not self.unchecked:
            return None
        kids = ", ".join(sorted(self.unchecked))
        if self.key == "missing":
            return (
                f"the journal key is missing: entries or checkpoints sealed with key {kids} "
                "were checked for continuity only (not for edits, forgery or truncation)"
            )
        return (
            f"checkpoints signed with key {kids}, not the key here, were not checked "
            "(the key was replaced?)"
        )


@dataclass
class _Chain:
    verdict: Verdict
    seal: Seal | None = None
    expected: int | None = None
    prev: str = GENESIS
    # Links of the newest archive file: after a crash between writing a file and
    # trimming the stream, the same entries are also still live.
    archived: dict[int, str] = field(default_factory=dict)
    sealed_at: int | None = None  # the first sealed entry
    marks: dict[int, list[Checkpoint]] = field(default_factory=dict)  # checkpoints by seq
    by_org: dict[str, array[int]] = field(default_factory=dict)  # each org's seqs, in order

    def _digest(self, entry: Entry, kid: Any, source: str) -> str | None:
        """What the entry's link must be computed over; None if it cannot be checked
        here (sealed, and no key here); "" once the chain is found broken."""
        v = self.verdict
        if not kid:
            if self.sealed_at is not None:
                v.fail(
                    entry.seq,
                    f"entry {entry.seq} carries no seal, but entry {self.sealed_at} before it "
                    f"does: forged, or written by a process without the journal key ({source})",
                )
                return ""
            return content_hash(entry.raw)
        if self.sealed_at is None:
            self.sealed_at = entry.seq
        v.sealed += 1
        if self.seal is None:  # no key here: continuity only, and verify says so
            v.unchecked.add(str(kid))
            return None
        if kid != self.seal.kid:
            # One journal, one key: an entry naming another cannot be checked, and a
            # forger could name any; so it fails rather than pass unchecked.
            v.fail(
                entry.seq,
                f"entry {entry.seq} is sealed with key {kid}, not with this journal's key "
                f"{self.seal.kid}: forged, or written by an instance with another key file "
                f"({source})",
            )
            return ""
        return self.seal.digest(entry.raw)

    def check(self, entry: Entry, source: str, live: dict[str, set[int]] | None = None) -> bool:
        """Check one entry; False once the chain is broken. With `live`, note the
        organisations whose index must list it."""
        v = self.verdict
        if self.expected is not None and entry.seq < self.expected:
            if self.archived.get(entry.seq) != entry.link:
                v.fail(entry.seq, f"entry {entry.seq} in {source} differs from its archived copy")
                return False
            if live is not None:  # archived, not yet trimmed: still indexed
                for org in entry_orgs(entry.fields):
                    live.setdefault(org, set()).add(entry.seq)
            return True
        if self.expected is None:
            v.first = entry.seq
            if entry.seq != 1:
                v.fail(1, f"entries 1..{entry.seq - 1} are missing (the chain starts at 1)")
                return False
        elif entry.seq != self.expected:
            gap = f"{self.expected}" + (
                f"..{entry.seq - 1}" if entry.seq - 1 > self.expected else ""
            )
            v.fail(self.expected, f"entry {gap} is missing ({source})")
            return False
        if entry.prev != self.prev:
            v.fail(
                entry.seq,
                f"entry {entry.seq} does not follow entry {entry.seq - 1} "
                f"(deleted, inserted or reordered; {source})",
            )
            return False
        fields = entry.fields  # parsed once: verify reads every entry ever written
        digest = self._digest(entry, fields.get("seal"), source)
        if digest == "":
            return False
        if digest is not None and chain_link(self.prev, entry.seq, digest) != entry.link:
            if fields.get("seal"):
                v.fail(
                    entry.seq,
                    f"entry {entry.seq} does not match its seal: changed after it was "
                    f"written, or forged without the journal key ({source})",
                )
            else:
                v.fail(entry.seq, f"entry {entry.seq} was changed after it was written ({source})")
            return False
        for mark in self.marks.get(entry.seq, ()):
            if mark.link != entry.link:
                v.fail(
                    entry.seq,
                    f"entry {entry.seq} differs from {mark.where()}: the journal was "
                    f"rewritten at or before entry {entry.seq} ({source})",
                )
                return False
        for org in entry_orgs(fields):
            self.by_org.setdefault(org, array("q")).append(entry.seq)
            if live is not None:
                live.setdefault(org, set()).add(entry.seq)
        self.prev, self.expected = entry.link, entry.seq + 1
        v.entries += 1
        v.last = entry.seq
        return True

    def org_count(self, org: str, after: int, upto: int) -> int:
        """Entries by or about `org` in (after, upto]."""
        seqs = self.by_org.get(org)
        if seqs is None:
            return 0
        return bisect.bisect_right(seqs, upto) - bisect.bisect_right(seqs, after)


async def verify(journal: Journal) -> Verdict:
    """Check the chain end to end (archive files, the live stream, the head), each
    entry's seal, the signed checkpoints, and each organisation's index."""
    verdict = Verdict(key="present" if journal.seal is not None else "missing")
    marks = _checkpoints(journal, verdict)
    if not verdict.ok:
        return verdict
    chain = _Chain(verdict, seal=journal.seal)
    for mark in marks:
        chain.marks.setdefault(mark.seq, []).append(mark)
    registry = await journal.archived()
    files = archive_files(journal.archive_dir())
    names = {p.name for p in files}
    for name in sorted(registry):
        if name not in names:
            first = int(registry[name]["first"])
            verdict.fail(first, f"archive file {name} is missing")
    for path in files:
        verdict.archives += 1
        found, trailer = await asyncio.to_thread(read_archive, path)
        for entry in found:
            if not chain.check(entry, path.name):
                return verdict
        problem = _trailer_problem(found, trailer, registry.get(path.name))
        if problem:
            verdict.fail(found[-1].seq if found else None, f"{path.name}: {problem}")
            return verdict
        chain.archived = {e.seq: e.link for e in found}
    live: dict[str, set[int]] = {}
    async for entry in journal.live(0):
        if not chain.check(entry, "the live journal", live):
            return verdict
    seq, link = await journal.head()
    if (seq, link) != (verdict.last, chain.prev if verdict.last else GENESIS):
        verdict.fail(
            verdict.last + 1,
            f"the head says entry {seq} but the chain ends at entry {verdict.last} "
            "(entries at the end deleted, or the head was changed)",
        )
    if verdict.ok:
        await _check_floor(journal, verdict, marks)
    if verdict.ok and marks:
        _check_marks(chain, marks)
    if verdict.ok:
        await _check_indexes(journal, verdict, live)
    return verdict


def _checkpoints(journal: Journal, verdict: Verdict) -> list[Checkpoint]:
    """The checkpoints signed with our key, their signatures checked."""
    found, problems = read_checkpoints(journal.archive_dir())
    if problems:
        verdict.fail(None, problems[0])
        return []
    marks: list[Checkpoint] = []
    for mark in found:
        if mark.prefix != journal.keys.prefix:
            continue  # another deployment's journal on the same host
        if journal.seal is None or mark.kid != journal.seal.kid:
            verdict.unchecked.add(mark.kid)
            continue
        if not journal.seal.signed(mark.record):
            verdict.fail(
                mark.seq,
                f"{mark.where()} does not match its signature: the checkpoint was "
                "forged or altered",
            )
            return []
        marks.append(mark)
    verdict.checkpoints = len(marks)
    if marks:
        newest = max(marks, key=lambda m: (m.seq, m.at))
        verdict.newest_checkpoint = {"seq": newest.seq, "at": newest.at}
    return marks


async def _check_floor(journal: Journal, verdict: Verdict, marks: list[Checkpoint]) -> None:
    """The floor (where auditors' reads switch from archive files to the index) is
    not above the last archived entry: raised, it hides live entries from them."""
    floor = await journal.floor()
    # Read after the floor: a file archived while verify ran is counted too.
    names = [ARCHIVE.fullmatch(p.name) for p in archive_files(journal.archive_dir())]
    covered = max((int(m.group(2)) for m in names if m), default=0)
    for where, value in [("the archive floor in Redis", floor)] + [
        (mark.where(), mark.floor) for mark in marks
    ]:
        if value > covered:
            verdict.fail(
                covered + 1,
                f"{where} says entries up to {value} were archived, but the archive "
                f"files end at entry {covered}: entries {covered + 1}..{value} were "
                "hidden from auditors' reads",
            )
            return


async def _check_indexes(journal: Journal, verdict: Verdict, live: Mapping[str, set[int]]) -> None:
    """Every live entry by or about organisation X is in X's index, and nothing else."""
    prefix = journal.keys.journal_org("")
    orgs = {
        str(k)[len(prefix) :]
        async for k in journal.redis.scan_iter(match=journal.keys.journal_orgs(), count=1000)
    }
    indexed: dict[str, set[int]] = {}
    for org in sorted(orgs | set(live)):
        members = cast(
            list[str],
            await journal.redis.zrangebyscore(journal.keys.journal_org(org), "-inf", verdict.last),
        )
        indexed[org] = {int(m) for m in members}
    # Archiving may have run meanwhile: entries it moved left the index too.
    floor = await journal.floor()
    for org in sorted(indexed):
        want = {s for s in live.get(org, ()) if s > floor}
        have = {s for s in indexed[org] if s > floor}
        if want - have:
            lost = sorted(want - have)
            verdict.fail(
                lost[0],
                f"the journal index of organisation {org} lacks entries "
                f"{_seqs(lost)} (hidden from its auditors)",
            )
            return
        if have - want:
            extra = sorted(have - want)
            verdict.fail(
                extra[0],
                f"the journal index of organisation {org} lists entries {_seqs(extra)} "
                "that are not by or about it",
            )
            return


def _check_marks(chain: _Chain, marks: list[Checkpoint]) -> None:
    """Truncation below the newest checkpoint, and each checkpoint's index counts."""
    verdict = chain.verdict
    newest = max(marks, key=lambda m: m.seq)
    if newest.seq > verdict.last:
        verdict.fail(
            verdict.last + 1,
            f"entries {verdict.last + 1}..{newest.seq} are missing: {newest.where()} "
            f"records entry {newest.seq}, the journal ends at entry {verdict.last} "
            "(entries at the end were deleted and the head moved back)",
        )
        return
    for mark in sorted(marks, key=lambda m: m.seq):
        for org in sorted(set(mark.orgs) | set(chain.by_org)):
            want = chain.org_count(org, mark.floor, mark.seq)
            if mark.orgs.get(org, 0) != want:
                verdict.fail(
                    mark.seq,
                    f"{mark.where()} found {mark.orgs.get(org, 0)} live entries in the "
                    f"journal index of organisation {org}, but the chain has {want}: the "
                    "index was altered (entries hidden from its auditors)",
                )
                return


def _seqs(seqs: list[int]) -> str:
    shown = ", ".join(str(s) for s in seqs[:10])
    return shown + (f" and {len(seqs) - 10} more" if len(seqs) > 10 else "")


def _trailer_problem(
    found: list[Entry], trailer: Mapping[str, Any] | None, registered: Mapping[str, Any] | None
) -> str | None:
    if trailer is None:
        return "no trailer (the file was cut short)"
    if not found:
        return "no entries"
    facts = (len(found), found[0].seq, found[-1].seq, found[-1].link)
    if facts != (trailer["count"], trailer["first"], trailer["last"], trailer["head"]):
        return "its trailer does not match its entries"
    # Readers skip files by the recorded time range: a changed one would hide entries.
    recorded = ("first", "last", "count", "prev", "head", "first_at", "last_at")
    if registered is not None and any(registered.get(k) != trailer.get(k) for k in recorded):
        return "its trailer differs from the one recorded when it was archived"
    return None
