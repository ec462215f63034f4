"""The journal: every request and administrative action, append-only and hash-chained.

`Journal` appends single entries (administrative actions), reads them across the live
stream and the archive files, and hands archiving and verification to their modules;
request entries go through `JournalWriter` (group commit, spooled when Redis is down).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, cast

from redis.asyncio import Redis

from listd.audit.archive import archive as archive_journal
from listd.audit.archive import archive_files, outside, read_archive
from listd.audit.entries import GENESIS, Actor, Entry, entry_of, in_range, stamped
from listd.audit.verify import Verdict
from listd.audit.verify import verify as verify_journal
from listd.audit.writer import APPEND, Append
from listd.clock import SYSTEM_CLOCK, Clock
from listd.keyspace import Keys
from listd.seal import Seal

_READ_CHUNK = 1000


class Journal:
    """Append, read, archive and verify the journal. `directory` holds the archive files."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        directory: Path | None = None,
        seal: Seal | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock  # stamps entries (and this journal's writers' outage retries)
        self.redis = redis
        self.keys = keys
        self.directory = directory
        self.seal = seal  # the journal key: seals what this process writes, checks verify
        # The one append script, shared with this journal's `JournalWriter`s.
        self.script = redis.register_script(APPEND)

    async def append(self, fields: Mapping[str, Any]) -> int:
        """Write one entry (stamped with `at` unless given); return its sequence number."""
        call = Append(self)
        call.entry(stamped(fields, self.clock))
        _, (seq,) = await call.run()
        return int(seq)

    async def record(
        self,
        actor: Actor,
        action: str,
        target: str = "",
        target_org: str = "",
        **detail: Any,
    ) -> int:
        """Journal an administrative action."""
        fields: dict[str, Any] = {"kind": "admin", "action": action, **actor.fields()}
        fields.update(target=target, target_org=target_org)
        if detail:
            fields["detail"] = detail
        return await self.append(fields)

    async def head(self) -> tuple[int, str]:
        raw = cast(str | None, await self.redis.get(self.keys.journal_head()))
        if not raw:
            return 0, GENESIS
        seq, _, link = raw.partition(":")
        return int(seq), link

    async def length(self) -> int:
        return int(await self.redis.xlen(self.keys.journal()))

    async def floor(self) -> int:
        return int(await self.redis.get(self.keys.journal_floor()) or 0)

    async def read(self, after: int = 0, count: int = _READ_CHUNK) -> list[Entry]:
        """Live entries after `after`, in order."""
        rows = await self.redis.xrange(self.keys.journal(), min=f"({after}-0", count=count)
        return [entry_of(i, v) for i, v in cast(list[tuple[str, dict[str, str]]], rows)]

    async def live(self, after: int = 0) -> AsyncIterator[Entry]:
        """Every live entry after `after`, read in chunks."""
        while True:
            chunk = await self.read(after)
            for entry in chunk:
                yield entry
            if len(chunk) < _READ_CHUNK:
                return
            after = chunk[-1].seq

    async def archived(self) -> dict[str, dict[str, Any]]:
        """The trailers recorded as each archive file was written, by file name."""
        raw = cast(dict[str, str], await self.redis.hgetall(self.keys.journal_archives()))
        return {name: json.loads(t) for name, t in raw.items()}

    # --- reading across the archive -------------------------------------------------------
    async def entries(
        self, start: str | None = None, end: str | None = None, org: str | None = None
    ) -> AsyncIterator[Entry]:
        """Every entry in seq order, archive files first, filtered by time and org."""
        seen = 0
        registry = await self.archived()
        for path in archive_files(self.archive_dir()):
            trailer = registry.get(path.name)
            if trailer is not None and outside(trailer, start, end):
                seen = max(seen, int(trailer["last"]))
                continue
            found, _ = await asyncio.to_thread(read_archive, path)
            for entry in found:
                if entry.seq > seen and _wanted(entry, start, end, org):
                    yield entry
                seen = max(seen, entry.seq)
        async for entry in self.live(seen):
            if _wanted(entry, start, end, org):
                yield entry

    async def for_org(
        self,
        org: str,
        after: int = 0,
        limit: int = 100,
        start: str | None = None,
        end: str | None = None,
    ) -> tuple[list[Entry], int | None]:
        """Entries by or about `org` after seq `after`; the next cursor if more may follow."""
        out: list[Entry] = []
        floor = await self.floor()
        if after < floor:
            registry = await self.archived()
            for path in archive_files(self.archive_dir()):
                trailer = registry.get(path.name)
                if trailer is not None and (
                    int(trailer["last"]) <= after or outside(trailer, start, end)
                ):
                    continue
                found, _ = await asyncio.to_thread(read_archive, path)
                for entry in found:
                    if entry.seq > after and _wanted(entry, start, end, org):
                        out.append(entry)
                        after = entry.seq
                        if len(out) == limit:
                            return out, after
                after = max(after, found[-1].seq if found else after)
            after = max(after, floor)
        index = self.keys.journal_org(org)
        while len(out) < limit:
            seqs = cast(
                list[str],
                await self.redis.zrangebyscore(index, f"({after}", "+inf", start=0, num=200),
            )
            if not seqs:
                return out, None
            async with self.redis.pipeline(transaction=False) as pipe:
                for seq in seqs:
                    pipe.xrange(self.keys.journal(), min=f"{seq}-0", max=f"{seq}-0")
                rows = await pipe.execute()
            for seq, found in zip(seqs, rows, strict=True):
                after = int(seq)
                if not found:  # archived between the two reads
                    continue
                stream_id, values = cast(list[tuple[str, dict[str, str]]], found)[0]
                entry = entry_of(stream_id, values)
                if _wanted(entry, start, end, org):
                    out.append(entry)
                    if len(out) == limit:
                        return out, after
        return out, after

    # --- archiving and verification ---------------------------------------------------------
    def archive_dir(self) -> Path:
        """Where the archive files (and checkpoints) are; an error if none was given."""
        if self.directory is None:
            raise RuntimeError("this Journal was opened without an archive directory")
        return self.directory

    async def archive(self, threshold: int, everything: bool = False) -> list[Path]:
        """While more than `threshold` entries are live, move the oldest half of the
        threshold to one file; with `everything`, move every live entry. One process at
        a time (a lock with a TTL); returns the files written."""
        return await archive_journal(self, threshold, everything)

    async def verify(self) -> Verdict:
        """Check the chain end to end (`listd.audit.verify`)."""
        return await verify_journal(self)


def _wanted(entry: Entry, start: str | None, end: str | None, org: str | None) -> bool:
    return in_range(entry, start, end) and (org is None or entry.concerns(org))
