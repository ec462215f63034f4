"""A customer index snapshot: the index's arrays as they lie in memory, with a checked header.

Taking a partition over must not cost a Python object per customer, nor trust what Redis
holds: a party able to write there must not make the loading worker run anything, nor
crash it later with an index that points outside its arrays. So a snapshot is

    zlib( MAGIC | header length (4 bytes, big-endian) | header (JSON) | body )

where the header gives the subscription ids, the length of each array of `SCHEMA` (names
and types are fixed here, never read from the snapshot), the length of the token list
and the CRC-32 of the body; the body is the arrays (the sorted ones as differences of
neighbours), each padded to 8 bytes, then the tokens as JSON lists of their fields (no
pickle: a token is strings, tuples of strings and a flag, each field type-checked).
`read` refuses anything else with ValueError. What the arrays say about each other
(slots, token ids, ranges) is checked by the index (`CustomerIndex.load`), vectorised.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
import zlib
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from listd.screening.tokens import WEIGHTS, Token

# 4: tokens carry `chinese` and `joined`. A snapshot of an older version is refused, so the
# partition is built from its records once: its tokens lack what the rules now read.
MAGIC = b"LISTDCI4"
VERSION = 4
# name -> element type, in body order. Per slot (a customer or another reading of its
# name): subscription code, record check, band, flags, readings that follow it, where its
# token ids and reference start and how long they are. Then the token ids, the reference
# bytes, the postings ((vocabulary id * bands + band) << 32 | slot, sorted), the reference
# hashes (sorted) with their slots, and the document key hashes (sorted) with theirs.
SCHEMA: dict[str, str] = {
    "code": "<i4",
    "check": "<u4",
    "band": "u1",
    "flags": "u1",
    "shadows": "u1",
    "tstart": "<u4",
    "tlen": "<u2",
    "rstart": "<u4",
    "rlen": "<u4",
    "tokens": "<u4",
    "refs": "u1",
    "pairs": "<u8",
    "rkeys": "<i8",
    "rslots": "<u4",
    "dkeys": "<i8",
    "dslots": "<u4",
}
# Sorted arrays are stored as the differences of neighbours (small numbers: a snapshot
# half the size) and summed up again on reading.
_SORTED = ("pairs", "rkeys", "dkeys")
# The code a snapshot's tokens and arrays are a function of: how a name is cut, read and
# filed. A snapshot written by other code (an upgrade that changed a rule) is refused, and
# its partition built from the records once, or a customer would keep a reading the
# lookups no longer make and go unfound.
_PACKAGE = Path(__file__).resolve().parents[1]
RULE_FILES = (
    "normalize/*.py",
    "screening/*.py",
    "notifications/customers.py",
    "notifications/snapshot.py",
)
_HEADER_MAX = 64 * 2**20  # subscription ids of a partition: far below this
_OPTIONAL = (
    "arabic",
    "group",
    "label",
    "stem",
    "skels",
    "stems",
    "cores",
    "chars",
    "chinese",
    "joined",
)


@dataclass(slots=True)
class Arrays:
    """What a snapshot holds: the subscriptions (by code), the arrays of `SCHEMA` and
    the tokens the `tokens` array numbers."""

    subs: list[str]
    arrays: dict[str, npt.NDArray[Any]]
    tokens: list[Token]


@cache
def rules() -> str:
    """A digest of the `RULE_FILES` this process runs, with the Unicode tables and the
    romanisation package they read (the package version where their source is not at
    hand): two processes agree when they read names alike."""
    digest = hashlib.sha256(f"{unicodedata.unidata_version} {_version('anyascii')}".encode())
    try:
        for path in sorted(p for pattern in RULE_FILES for p in _PACKAGE.glob(pattern)):
            digest.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    except OSError:
        digest.update(_version("listd").encode())
    return digest.hexdigest()[:16]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def write(data: Arrays) -> bytes:
    """The snapshot of `data` (compressed: zlib lets go of the GIL)."""
    words = json.dumps([_token_fields(t) for t in data.tokens], ensure_ascii=False).encode()
    parts: list[bytes] = []
    for name, dtype in SCHEMA.items():
        values = np.ascontiguousarray(data.arrays[name], dtype=dtype)
        if name in _SORTED and len(values):
            values = np.diff(values, prepend=values.dtype.type(0))
        raw = values.tobytes()
        parts += [raw, b"\0" * (-len(raw) % 8)]
    body = b"".join([*parts, words])
    header = json.dumps(
        {
            "version": VERSION,
            "rules": rules(),
            "subs": data.subs,
            "lengths": {name: len(data.arrays[name]) for name in SCHEMA},
            "tokens": len(data.tokens),
            "words": len(words),
            "crc": zlib.crc32(body),
        }
    ).encode()
    return zlib.compress(MAGIC + len(header).to_bytes(4, "big") + header + body, 1)


def read(blob: bytes) -> Arrays:
    """The arrays of a snapshot (copies, writable); ValueError if it is not a whole one."""
    try:
        raw = zlib.decompress(blob)
    except zlib.error as exc:
        raise ValueError(f"not a customer index snapshot: {exc}") from None
    if raw[: len(MAGIC)] != MAGIC:
        raise ValueError("not a customer index snapshot of this version")
    at = len(MAGIC) + 4
    size = int.from_bytes(raw[len(MAGIC) : at], "big")
    if size > min(_HEADER_MAX, len(raw) - at):
        raise ValueError("a customer index snapshot cut short")
    try:
        header = json.loads(raw[at : at + size])
    except ValueError as exc:
        raise ValueError(f"a customer index snapshot's header is unreadable: {exc}") from None
    body = memoryview(raw)[at + size :]
    try:
        if header["version"] != VERSION:
            raise ValueError("not a customer index snapshot of this version")
        if header.get("rules") != rules():
            raise ValueError("a customer index snapshot made by other name rules (an upgrade)")
        subs, lengths = header["subs"], header["lengths"]
        count, words = header["tokens"], header["words"]
        crc = header["crc"]
        if not (isinstance(subs, list) and all(isinstance(s, str) for s in subs)):
            raise ValueError("a customer index snapshot's subscriptions are not ids")
        if not isinstance(lengths, dict) or set(lengths) != set(SCHEMA):
            raise ValueError("a customer index snapshot's arrays are not this version's")
        for value in (count, words, crc, *lengths.values()):
            if type(value) is not int or value < 0:
                raise ValueError("a customer index snapshot's header has a bad length")
    except (KeyError, TypeError) as exc:
        raise ValueError(f"a customer index snapshot's header is incomplete: {exc}") from None
    arrays: dict[str, npt.NDArray[Any]] = {}
    offset = 0
    for name, dtype in SCHEMA.items():
        nbytes = lengths[name] * np.dtype(dtype).itemsize
        if offset + nbytes + words > len(body):
            raise ValueError("a customer index snapshot cut short")
        values = np.frombuffer(body, dtype, lengths[name], offset)
        arrays[name] = np.cumsum(values, dtype=dtype) if name in _SORTED else values.copy()
        offset += nbytes + (-nbytes % 8)
    if offset + words != len(body):
        raise ValueError("a customer index snapshot of the wrong length")
    if zlib.crc32(body) != crc:
        raise ValueError("a customer index snapshot fails its check")
    try:
        fields = json.loads(bytes(body[offset:]))
    except ValueError as exc:
        raise ValueError(f"a customer index snapshot's tokens are unreadable: {exc}") from None
    if not isinstance(fields, list) or len(fields) != count:
        raise ValueError("a customer index snapshot's tokens are not a list of tokens")
    return Arrays(subs, arrays, [_token(f) for f in fields])


def _token_fields(token: Token) -> list[Any]:
    return [token.text, token.kind, list(token.pfs)] + [
        list(v) if isinstance(v, tuple) else v for v in (getattr(token, f) for f in _OPTIONAL)
    ]


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValueError("a customer index snapshot's token is malformed")
    return tuple(value)


def _text(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError("a customer index snapshot's token is malformed")
    return value


def _token(fields: Any) -> Token:
    """A token from `_token_fields`, every field checked (its weight is looked up later)."""
    if not isinstance(fields, list) or len(fields) != 3 + len(_OPTIONAL):
        raise ValueError("a customer index snapshot's token is malformed")
    text, kind, pfs, arabic, group, label, stem, skels, stems, cores, chars, chinese, joined = (
        fields
    )
    if not all(
        isinstance(v, t) for v, t in ((text, str), (kind, str), (arabic, bool), (joined, bool))
    ):
        raise ValueError("a customer index snapshot's token is malformed")
    if kind not in WEIGHTS:
        raise ValueError("a customer index snapshot's token is malformed")
    return Token(
        text,
        kind,
        _strings(pfs),
        arabic,
        _text(group),
        _text(label),
        _text(stem),
        _strings(skels),
        _strings(stems),
        _strings(cores),
        _text(chars),
        _strings(chinese),
        joined,
    )
