"""`listd run`: the HTTP API plus an APScheduler job per enabled source, until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from listd.access import tls_context
from listd.api import create_app
from listd.api.state import READY, SYNCER
from listd.blocking.config import WebhookConfig
from listd.connection import open_redis
from listd.errors import ConfigError, ListdError
from listd.logs import get_logger
from listd.sdnotify import Notifier
from listd.settings import Settings, SourceConfig, parse_listen
from listd.sync import Syncer

log = get_logger(__name__)


def trigger_for(cfg: SourceConfig) -> CronTrigger | IntervalTrigger:
    if cfg.cron:
        try:
            return CronTrigger.from_crontab(cfg.cron, timezone=dt.UTC)
        except ValueError as exc:
            raise ConfigError(
                f"sources.{cfg.name}.cron: {exc}", key=f"sources.{cfg.name}.cron"
            ) from exc
    return IntervalTrigger(minutes=cfg.interval_minutes, timezone=dt.UTC)


async def scheduled_sync(syncer: Syncer, name: str, running: set[asyncio.Task[None]]) -> None:
    """One scheduled run; failures are recorded and logged, never raised into the scheduler."""
    task = asyncio.current_task()
    if task is not None:
        running.add(task)
    try:
        await syncer.sync(name)
    except ListdError as exc:
        log.warning("scheduled sync did not complete", source=name, error=exc.message)
    finally:
        if task is not None:
            running.discard(task)


def schedule(
    scheduler: AsyncIOScheduler,
    settings: Settings,
    syncer: Syncer,
    running: set[asyncio.Task[None]],
) -> None:
    """(Re)create one job per enabled source; the first run is due at once."""
    now = dt.datetime.now(dt.UTC)
    for job in scheduler.get_jobs():
        if job.id.startswith("sync:"):
            job.remove()
    for name, cfg in sorted(settings.sources.items()):
        if not cfg.enabled:
            continue
        scheduler.add_job(
            scheduled_sync,
            trigger_for(cfg),
            args=[syncer, name, running],
            id=f"sync:{name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=now,  # check every source once at start-up (and after a reload)
        )


def reload_sources(settings: Settings) -> list[str]:
    """SIGHUP: re-read the sources file into the running settings; keep them on error."""
    try:
        fresh = Settings.from_env()
    except ConfigError as exc:
        log.error("reload refused; keeping the running configuration", error=exc.message)
        return []
    # Settings is shared by the API, the syncer and the scheduler; its sources dict is
    # updated in place so every holder sees the new configuration at once.
    settings.sources.clear()
    settings.sources.update(fresh.sources)
    return sorted(settings.sources)


async def serve(settings: Settings, *, ready: asyncio.Event | None = None) -> None:
    host, port = parse_listen(settings.listen)
    notifier = Notifier()
    stop = asyncio.Event()
    hup = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, hup.set)
    async with open_redis(settings) as redis:
        app = create_app(
            settings, redis, dispatch=True, webhooks=WebhookConfig.from_env(dict(os.environ))
        )
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=20.0)
        await runner.setup()
        ssl_context = (
            tls_context(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
            if settings.tls_cert and settings.tls_key
            else None
        )
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(f"cannot listen on {settings.listen}: {exc.strerror}") from exc
        scheduler = AsyncIOScheduler(timezone=dt.UTC)
        running: set[asyncio.Task[None]] = set()
        syncer = app[SYNCER]
        # Ready (for systemd) once every stored list is loaded into the screening index.
        loaded = asyncio.create_task(app[READY].wait())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait([loaded, stopped], return_when=asyncio.FIRST_COMPLETED)
        loaded.cancel()
        stopped.cancel()
        schedule(scheduler, settings, syncer, running)
        scheduler.start()
        log.info("listd running", listen=settings.listen, sources=sorted(settings.sources))
        notifier.ready(f"serving on {settings.listen}")
        if ready is not None:
            ready.set()
        watchdog = asyncio.create_task(_watchdog(notifier, redis, stop), name="listd-watchdog")
        try:
            while not stop.is_set():
                waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(hup.wait())]
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
                if hup.is_set() and not stop.is_set():
                    hup.clear()
                    notifier.reloading()
                    names = reload_sources(settings)
                    schedule(scheduler, settings, syncer, running)
                    log.info("sources reloaded", sources=names)
                    notifier.ready(f"serving on {settings.listen}; sources reloaded")
        finally:
            log.info("listd stopping")
            notifier.stopping()
            watchdog.cancel()
            scheduler.shutdown(wait=False)
            # Cancel in-flight syncs: they stop before the pointer flip, so the
            # store keeps the previous version.
            for task in list(running):
                task.cancel()
            if running:
                await asyncio.wait(list(running), timeout=30)
            # Stops accepting, then lets requests in flight finish (shutdown_timeout).
            await runner.cleanup()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)
    log.info("listd stopped")


async def _watchdog(notifier: Notifier, redis: Redis, stop: asyncio.Event) -> None:
    """Ping systemd's watchdog while Redis answers; a hung daemon gets restarted."""
    if notifier.watchdog_s is None:
        return
    while not stop.is_set():
        try:
            await asyncio.wait_for(redis.ping(), notifier.watchdog_s / 4)
            notifier.watchdog()
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("watchdog skipped: redis unreachable", error=str(exc))
        await asyncio.sleep(notifier.watchdog_s / 2)
