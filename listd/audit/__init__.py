"""The journal: every request and administrative action, append-only and hash-chained.

One room, four parts: `entries` (what an entry is, its seal and its chain link),
`writer` (the one append script; group commit and the spool for request entries),
`archive` (the oldest entries moved to files outside Redis) and `verify` (the chain, the
seals, the signed checkpoints and each organisation's index checked end to end);
`journal` ties them together. Everything is importable from `listd.audit`.
"""

from __future__ import annotations

from listd.audit.archive import archive_files, archive_name, read_archive, write_archive
from listd.audit.entries import (
    GENESIS,
    Actor,
    Entry,
    canonical,
    chain_link,
    content_hash,
    entry_orgs,
    now_ms,
    parse_epoch,
    parse_time,
    sealed,
)
from listd.audit.journal import Journal
from listd.audit.verify import Verdict
from listd.audit.writer import Confirm, JournalWriter, Unconfirmed, Written
from listd.basis import BASES, BASIS_FIELDS, Basis, basis_from
from listd.connection import StoreHealth

__all__ = [
    "BASES",
    "BASIS_FIELDS",
    "GENESIS",
    "Actor",
    "Basis",
    "Confirm",
    "Entry",
    "Journal",
    "JournalWriter",
    "StoreHealth",
    "Unconfirmed",
    "Verdict",
    "Written",
    "archive_files",
    "archive_name",
    "basis_from",
    "canonical",
    "chain_link",
    "content_hash",
    "entry_orgs",
    "now_ms",
    "parse_epoch",
    "parse_time",
    "read_archive",
    "sealed",
    "write_archive",
]
