"""The HTTP API: `create_app(settings, redis)` builds it; nothing is global."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from listd import console, waits
from listd.access import KeyStore
from listd.api import eds_routes, openapi, operator, routes
from listd.api.metrics import Metrics
from listd.api.middleware import authenticate, errors
from listd.api.state import METRICS
from listd.clock import SYSTEM_CLOCK, Clock
from listd.http.state import (
    BELL,
    CLOCK,
    FRESHNESS,
    INDEX,
    KEYSTORE,
    READY,
    REDIS,
    SETTINGS,
    STORE,
    SYNCER,
    Bell,
)
from listd.logs import get_logger
from listd.notifications import app as notifications
from listd.notifications.config import WebhookConfig
from listd.pipeline.child import ChildSyncer
from listd.pipeline.lease import Lease
from listd.pipeline.store import Store
from listd.pipeline.sync import Syncer
from listd.screening import ScreeningIndex
from listd.screening.follow import follow
from listd.settings import Settings

log = get_logger(__name__)

__all__ = ["create_app"]


def create_app(
    settings: Settings,
    redis: Redis,
    *,
    refresh_seconds: float = 1.0,
    http: aiohttp.ClientSession | None = None,
    dispatch: bool = False,
    webhooks: WebhookConfig | None = None,
    leader: Lease | None = None,
    clock: Clock = SYSTEM_CLOCK,
    sync_url: str | None = None,
) -> web.Application:
    """Build the API on an open Redis client. The index follows the store's versions.

    With `dispatch`, this process also campaigns for the webhook dispatcher's lease
    (tests start the dispatcher where they need it); with `leader` too, the dispatcher
    is left to the daemon, which runs it while it holds that lease. `clock` is what key
    expiry, rate limits, maintenance windows, registrations and EDS sign-in read. With
    `sync_url` (the Redis URL `redis` was opened on), syncs and approvals run in child
    processes (listd.pipeline.child), not on this event loop."""
    app = web.Application(
        middlewares=[errors, authenticate], client_max_size=settings.max_body_bytes
    )
    store = Store(redis, settings.keys)
    index = ScreeningIndex()
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[REDIS] = redis
    app[STORE] = store
    app[KEYSTORE] = KeyStore(redis, store.keys)
    app[INDEX] = index
    app[READY] = asyncio.Event()
    app[METRICS] = Metrics()
    freshness: dict[str, str | None] = {}
    app[FRESHNESS] = freshness
    bell = app[BELL] = Bell()

    async def end_streams(app: web.Application) -> None:
        # Runs before the drain waits for handlers: SSE streams end now, not at its timeout.
        app[BELL].close()

    app.on_shutdown.append(end_streams)
    sources = sorted(settings.sources)

    async def on_update(source: str, version: str) -> None:
        await follow(store, index, [source])
        bell.ring()

    async def http_session(app: web.Application) -> AsyncIterator[None]:
        session = http or aiohttp.ClientSession()
        syncer = app[SYNCER] = (
            Syncer(settings, store, session, on_update=on_update, clock=clock)
            if sync_url is None
            else ChildSyncer(settings, store, sync_url, session, on_update=on_update)
        )
        yield
        if isinstance(syncer, ChildSyncer):
            await syncer.close()
        if http is None:
            await session.close()

    async def follow_store(app: web.Application) -> AsyncIterator[None]:
        # Two ways to learn of a new version: the announcement on pub/sub (at once)
        # and a cheap poll of the version pointers (a safety net for lost messages).
        stopping = asyncio.Event()

        async def poll() -> None:
            while not stopping.is_set():
                try:
                    if (await follow(store, index, sources)).changed:
                        bell.ring()
                    freshness.update(await store.last_successes(sources))
                    app[READY].set()
                except (RedisError, OSError) as exc:
                    # Keep answering from memory; the next round retries.
                    log.warning("index refresh failed", error=str(exc))
                await waits.sleep(refresh_seconds)

        async def listen() -> None:
            # `stopping` as well as cancellation: redis-py can swallow a cancel that
            # lands while it reconnects.
            while not stopping.is_set():
                pubsub = redis.pubsub(ignore_subscribe_messages=True)
                try:
                    await pubsub.subscribe(store.keys.announcements())
                    while not stopping.is_set():
                        message = await pubsub.get_message(timeout=1.0)
                        if message is not None:
                            bell.ring()
                            await follow(store, index, sources)
                except (RedisError, OSError) as exc:
                    log.warning("announcement listener lost redis", error=str(exc))
                    await waits.sleep(1.0)
                finally:
                    # Bounded: redis-py's PubSub.aclose can hang on a dead connection.
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(pubsub.aclose(), 2.0)

        tasks = [
            asyncio.create_task(poll(), name="listd-index-poll"),
            asyncio.create_task(listen(), name="listd-announcements"),
        ]
        yield
        for task in tasks:
            task.cancel()
        stopping.set()
        _, pending = await asyncio.wait(tasks, timeout=5.0)
        if pending:
            log.warning("background tasks did not stop", tasks=[t.get_name() for t in pending])

    app.cleanup_ctx.append(http_session)
    app.cleanup_ctx.append(follow_store)
    routes.routes.add_to(app)
    openapi.routes.add_to(app)
    operator.setup(app)
    eds_routes.setup(app)  # after operator: uses its Access
    notifications.setup(
        app, settings, redis, dispatch=dispatch, config=webhooks, lists=index, leader=leader
    )
    console.setup(app)
    return app
