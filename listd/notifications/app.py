"""Wiring: `setup` adds the routes (and, in the daemon, the dispatcher) to the API app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from listd.clock import SYSTEM_CLOCK
from listd.errors import NotFound
from listd.http.state import CLOCK, INDEX
from listd.logs import get_logger
from listd.notifications.config import WebhookConfig
from listd.notifications.dispatcher import Dispatcher
from listd.notifications.egress import AllowList, GuardedResolver
from listd.notifications.outbox import Outbox
from listd.notifications.partitions import PartitionCheck
from listd.notifications.routes import BLOCKING, Blocking, routes
from listd.notifications.subscriptions import SubscriptionStore
from listd.notifications.watchlist import WatchlistStore
from listd.pipeline.lease import Lease
from listd.screening import ScreeningIndex
from listd.settings import DEFAULT_PORTS, Settings, parse_entry

log = get_logger(__name__)

__all__ = ["cli_redeliver", "setup", "webhook_session"]


def webhook_session(config: WebhookConfig) -> aiohttp.ClientSession:
    """The client webhooks go out through: guarded resolver, no proxies from the
    environment, a connection cap a little above the delivery concurrency."""
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(AllowList(config.allow_hosts)),
        limit=config.delivery.concurrency + 8,
    )
    return aiohttp.ClientSession(connector=connector, trust_env=False)


def setup(
    app: web.Application,
    settings: Settings,
    redis: Redis,
    *,
    dispatch: bool,
    config: WebhookConfig | None = None,
    lists: ScreeningIndex | None = None,
    leader: Lease | None = None,
) -> None:
    """Add subscription, watchlist and delivery routes; with `dispatch`, run the
    dispatcher (it campaigns for the lease, so every instance may run one). With
    `leader` as well, the dispatcher is only built: the daemon runs `Dispatcher.lead`
    while it holds that lease, together with the scheduler.

    `lists` is the screening index customers are screened against on upload; by default
    the app's own (`INDEX`, set by `create_app`), else one the dispatcher keeps itself.
    """
    config = config or WebhookConfig()
    for entry in config.allow_hosts:
        host, ports = parse_entry(entry)
        if ports == DEFAULT_PORTS:
            # Before ports could be named a bare host opened every port: say what it means now.
            log.warning("webhook allow-list entry names no port: 443 and 80 only", host=host)
    keys = settings.keys
    blocking = Blocking(
        config=config,
        subs=SubscriptionStore(redis, keys),
        watchlists=WatchlistStore(redis, keys),
        outbox=Outbox(redis, keys),
        allow=AllowList(config.allow_hosts),
        partitions=PartitionCheck(redis, keys),
    )
    app[BLOCKING] = blocking
    routes.add_to(app)

    async def run(app: web.Application) -> AsyncIterator[None]:
        session = webhook_session(config)
        blocking.session = session
        stop = asyncio.Event()
        task: asyncio.Task[Any] | None = None
        # Checked once Redis answers (it may be down at start-up); `serve` exits if refused.
        checking = asyncio.create_task(blocking.partitions.run(stop), name="listd-partitions")
        if dispatch:
            index = lists if lists is not None else app.get(INDEX) or ScreeningIndex()
            dispatcher = Dispatcher(
                redis,
                keys,
                index,
                sorted(settings.sources),
                session,
                config,
                leader,
                app.get(CLOCK, SYSTEM_CLOCK),
            )
            blocking.dispatcher = dispatcher
            if leader is None:
                task = asyncio.create_task(dispatcher.run(stop), name="listd-dispatcher")
        yield
        stop.set()
        checking.cancel()
        await asyncio.wait({checking}, timeout=2.0)
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=15.0)
            if not done:
                # Not awaited further: a task stuck in redis-py must not hang shutdown.
                task.cancel()
                await asyncio.wait({task}, timeout=2.0)
                log.warning("dispatcher did not stop in time; cancelled")
        blocking.dispatcher = None
        blocking.session = None
        await session.close()

    app.cleanup_ctx.append(run)


async def cli_redeliver(
    settings: Settings, redis: Redis, subscription_id: str, event_id: str
) -> dict[str, Any]:
    """Queue an event again (the running dispatcher picks it up within a second)."""
    keys = settings.keys
    if await SubscriptionStore(redis, keys).get(subscription_id) is None:
        raise NotFound(f"no subscription {subscription_id!r}")
    return await Outbox(redis, keys).redeliver(subscription_id, event_id)
