"""Customer-index snapshots as they are kept in Redis: a partition's (`Keys.partition_snapshot`)
and its slices' (`Keys.slice_snapshot`) alike.

A snapshot is one hash: the index (`listd.notifications.snapshot`, base64, as the connection
decodes replies as text) in fields `<generation>:<n>` of at most CHUNK bytes, and `meta`,
which names the generation. A writer stores a new generation's chunks first, then points
`meta` at it and deletes the old ones in one script under its lease, so a reader finds a
whole snapshot or a missing chunk (a writer that died between), never a mixed one.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, cast

from redis.asyncio import Redis

from listd.notifications.customers import CustomerIndex, CustomerVocabulary, encode
from listd.notifications.outbox import Batch
from listd.notifications.snapshot import Arrays
from listd.screening.postings import no_cyclic_gc

CHUNK = 32 * 2**20  # bytes per field of a snapshot


async def read(redis: Redis, key: str) -> tuple[dict[str, Any], list[str] | None] | None:
    """The snapshot at `key`: its meta and its chunks (None when one is missing); None
    when there is no snapshot."""
    meta_raw = await redis.hget(key, "meta")
    while meta_raw:
        meta: dict[str, Any] = json.loads(meta_raw)
        fields = [f"{meta['generation']}:{n}" for n in range(int(meta["chunks"]))]
        chunks = cast(list[str | None], await redis.hmget(key, fields))
        if all(c is not None for c in chunks):
            return meta, [c for c in chunks if c is not None]
        # Written again between the two reads (the new meta, the old chunks deleted): read
        # that one. The same meta with a chunk missing is a broken snapshot.
        again = await redis.hget(key, "meta")
        if again == meta_raw:
            return meta, None
        meta_raw = again
    return None


async def write(
    redis: Redis, key: str, blob: str, generation: str, meta: dict[str, Any], batch: Batch
) -> None:
    """Store `blob` at `key` as `generation`; `batch`, which the caller runs under its
    lease, then points `meta` (given, with the generation and chunk count added) at it and
    deletes the previous generation's chunks."""
    old = await redis.hget(key, "meta")
    chunks = [blob[i : i + CHUNK] for i in range(0, len(blob), CHUNK)]
    for n, chunk in enumerate(chunks):
        await redis.hset(key, f"{generation}:{n}", chunk)
    batch.hset(key, "meta", json.dumps({"generation": generation, "chunks": len(chunks)} | meta))
    if old:
        before = json.loads(old)
        for n in range(int(before["chunks"])):
            batch.hdel(key, f"{before['generation']}:{n}")


def encode_index(exported: Arrays) -> str:
    """`CustomerIndex.export`'s arrays as a snapshot, in base64 (a third larger, decoded
    at 1 GB/s)."""
    return base64.b64encode(encode(exported)).decode()


def load_index(chunks: list[str], vocab: CustomerVocabulary) -> CustomerIndex:
    """A customer index from a snapshot's base64 chunks (ValueError if unreadable)."""
    try:
        blob = base64.b64decode("".join(chunks), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not base64: {exc}") from None
    with no_cyclic_gc():
        return CustomerIndex.load(blob, vocab)
