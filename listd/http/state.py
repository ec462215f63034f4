"""Typed keys for state kept on the aiohttp Application and Request (no module globals),
and the journal note a handler adds to its request's entry."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from listd import waits
from listd.access import KeyStore, Principal
from listd.basis import Basis
from listd.clock import Clock
from listd.pipeline.lease import Role
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.screening import ScreeningIndex
from listd.settings import Settings


class Bell:
    """Wakes every waiter when new deltas are announced (or on a timeout).

    Closed when the app shuts down: long-lived waiters (SSE streams) end then, instead of
    holding the HTTP drain until its timeout."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.closed = False

    def ring(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def close(self) -> None:
        self.closed = True
        self.ring()

    async def wait(self, seconds: float) -> bool:
        return await waits.wait(self._event, seconds)


SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", Redis)
STORE = web.AppKey("store", Store)
KEYSTORE = web.AppKey("keystore", KeyStore)
INDEX = web.AppKey("index", ScreeningIndex)
SYNCER = web.AppKey("syncer", Syncer)
BELL = web.AppKey("bell", Bell)  # rung when deltas are announced (SSE wake-up)
FRESHNESS = web.AppKey("freshness", dict)  # source -> last_success ISO time, refreshed each second
READY = web.AppKey("ready", asyncio.Event)  # set once the initial load from the store ends
ROLE = web.AppKey("role", Role)  # leader or follower; set by the daemon only
CLOCK: web.AppKey[Clock] = web.AppKey("clock")  # what expiry and rate windows read
PRINCIPAL = web.RequestKey("principal", Principal)  # who sent this request
NOTE = web.RequestKey("journal_note", dict)  # fields a handler adds to its journal entry


def principal(request: web.Request) -> Principal:
    """Who sent the request (its operation's roles were checked before the handler ran)."""
    return request[PRINCIPAL]


def note(request: web.Request, basis: Basis | None = None, **fields: Any) -> None:
    """Add to the request's journal entry: its basis, query, matches, list versions..."""
    entry: dict[str, Any] = request[NOTE]
    if basis is not None:
        entry.update(basis=basis.basis, case_ref=basis.case_ref)
    entry.update(fields)
