"""Signed-in sessions, bound certificates and signed agreements, kept in Redis.

A user is bound to an NCA certificate by the pair (BIN, IIN) its subject carries: the
person (IIN) acting for the organisation (BIN). A sign-in gives an ordinary API key of
that user with a short lifetime, so every guard of the gate applies unchanged. The
terms are signed once per text: the signature, the exact text and the signer are
journaled (the evidence `listd eds verify` re-checks), and each session key of the user
counts as having accepted them while the text is unchanged.

Session keys do not pile up: each record expires from Redis a day after the key does (the
day in which it still lists as `expired` and is refused as such), and the user's next
sign-in drops the expired records' entries from the key indexes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from typing import Any, cast

from redis.asyncio import Redis

from listd.access.keys import SYSTEM, IssuedKey, KeyStore, User, hash_key
from listd.access.terms import Terms
from listd.audit import Actor
from listd.eds.trust import Verified
from listd.errors import BadRequest, Conflict
from listd.keyspace import Keys
from listd.pipeline.store import now_iso

_DIGITS12 = re.compile(r"\d{12}")
CHALLENGE_PREFIX = "listd sign-in "
SESSION_KEPT_SECONDS = 86400  # a session key's record outlives its expiry by this much


def check_iin(value: Any, field: str = "iin") -> str:
    if not isinstance(value, str) or not _DIGITS12.fullmatch(value):
        raise BadRequest(f"{field} must be 12 digits", field=field)
    return value


def evidence(verified: Verified, cms: str, document: str, **fields: Any) -> dict[str, Any]:
    """What a journal entry keeps of a signature: enough to verify it again later."""
    return {
        "cms": cms,
        "document": document,
        "document_sha256": hashlib.sha256(document.encode()).hexdigest(),
        "signer": verified.to_json(),
        **fields,
    }


class EdsAccounts:
    def __init__(self, redis: Redis, keys: Keys, store: KeyStore) -> None:
        self.redis = redis
        self.keys = keys
        self.store = store

    # --- binding ----------------------------------------------------------------------------
    async def bind(self, user_id: str, iin: str, bin_: str | None, actor: Actor = SYSTEM) -> User:
        """Let the NCA certificate of person `iin` for organisation `bin_` (default: the
        user's organisation, when it is a BIN) sign in as the user."""
        user = await self.store.user(user_id)
        iin = check_iin(iin)
        bin_ = check_iin(bin_ if bin_ is not None else user.org, "bin")
        slot = json.dumps([bin_, iin])
        found = await self.redis.hget(self.keys.eds_users(), slot)
        owner = str(found) if found else ""
        if owner and owner != user.id:
            raise Conflict(f"IIN {iin} of BIN {bin_} is bound to user {owner}", field="iin")
        await self.redis.hset(self.keys.eds_users(), slot, user.id)
        await self.store.journal.record(actor, "eds.bind", user.id, user.org, iin=iin, bin=bin_)
        return user

    async def user_for(self, verified: Verified) -> User | None:
        subject = verified.subject
        found = await self.redis.hget(self.keys.eds_users(), json.dumps([subject.bin, subject.iin]))
        return await self.store.user(str(found)) if found else None

    # --- challenges -------------------------------------------------------------------------
    async def challenge(self, seconds: int) -> tuple[str, str, float]:
        """A new single-use challenge: (nonce, the text to sign, expiry)."""
        nonce = secrets.token_urlsafe(24)
        text = f"{CHALLENGE_PREFIX}{nonce}"
        await self.redis.set(self.keys.eds_challenge(nonce), text, ex=seconds)
        return nonce, text, self.store.clock.time() + seconds

    async def take_challenge(self, nonce: str) -> str | None:
        """The challenge's text, consumed: a second sign-in with it finds nothing."""
        if not isinstance(nonce, str) or not 10 <= len(nonce) <= 64:
            return None
        found = await self.redis.getdel(self.keys.eds_challenge(nonce))
        return str(found) if found else None

    # --- sessions ---------------------------------------------------------------------------
    async def session(self, user: User, minutes: int, terms: Terms, serial: str) -> IssuedKey:
        """A short-lived key of the user; it has accepted the terms if the user signed
        the current text."""
        issued = await self.store.issue(
            user.id,
            ttl_days=minutes / 1440,
            actor=Actor(user.name, user.org, user.role, user.id, via="eds"),
        )
        fields: dict[Any, Any] = {"session": "eds", "cert_serial": serial}
        signed = await self.agreement(user.id)
        if signed.get("version") == terms.version:
            fields |= {"agreed": terms.version, "agreed_at": signed.get("at", now_iso())}
        record = self.keys.api_key(hash_key(issued.secret))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(record, mapping=fields)
            pipe.expireat(record, int(issued.expires) + SESSION_KEPT_SECONDS)
            await pipe.execute()
        await self.prune(user.id)
        return issued

    async def prune(self, user_id: str) -> int:
        """Drop from the key indexes the user's keys whose record Redis has expired (only
        session keys have a TTL); returns how many."""
        digests = sorted(cast(set[str], await self.redis.smembers(self.keys.user_keys(user_id))))
        if not digests:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for digest in digests:
                pipe.exists(self.keys.api_key(digest))
            alive = await pipe.execute()
        gone = [d for d, found in zip(digests, alive, strict=True) if not found]
        for digest in gone:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.srem(self.keys.user_keys(user_id), digest)
                pipe.srem(self.keys.api_keys(), digest)
                await pipe.execute()
            # The short id may (in theory) name a newer key: drop it only if it is this one.
            if await self.redis.hget(self.keys.api_key_ids(), digest[:12]) == digest:
                await self.redis.hdel(self.keys.api_key_ids(), digest[:12])
        return len(gone)

    # --- agreements -------------------------------------------------------------------------
    async def agreement(self, user_id: str) -> dict[str, str]:
        return cast(dict[str, str], await self.redis.hgetall(self.keys.eds_agreement(user_id)))

    async def sign_agreement(
        self,
        user: User,
        key_id: str,
        terms: Terms,
        verified: Verified,
        cms: str,
        actor: Actor,
    ) -> tuple[str, int]:
        """Journal the signed terms as evidence; the calling key has accepted them."""
        at = now_iso()
        seq = await self.store.journal.record(
            actor,
            "agreement.sign",
            user.id,
            user.org,
            **evidence(verified, cms, terms.text, terms=terms.version),
        )
        await self.redis.hset(
            self.keys.eds_agreement(user.id),
            mapping={"version": terms.version, "at": at, "seq": str(seq)},
        )
        digest = await self.redis.hget(self.keys.api_key_ids(), key_id)
        if digest:
            await self.redis.hset(
                self.keys.api_key(str(digest)), mapping={"agreed": terms.version, "agreed_at": at}
            )
        return at, seq


def b64(text: str) -> str:
    """What NCALayer's createCMSSignatureFromBase64 takes: the UTF-8 bytes in base64."""
    return base64.b64encode(text.encode()).decode()
