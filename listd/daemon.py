"""`listd run`: the HTTP API plus an APScheduler job per enabled source, until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from listd.api import create_app
from listd.api.state import SYNCER
from listd.connection import open_redis
from listd.errors import ConfigError, ListdError
from listd.logs import get_logger
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


async def serve(settings: Settings, *, ready: asyncio.Event | None = None) -> None:
    host, port = parse_listen(settings.listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with open_redis(settings) as redis:
        app = create_app(settings, redis)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(f"cannot listen on {settings.listen}: {exc.strerror}") from exc
        scheduler = AsyncIOScheduler(timezone=dt.UTC)
        now = dt.datetime.now(dt.UTC)
        running: set[asyncio.Task[None]] = set()
        for name, cfg in sorted(settings.sources.items()):
            if not cfg.enabled:
                continue
            scheduler.add_job(
                scheduled_sync,
                trigger_for(cfg),
                args=[app[SYNCER], name, running],
                id=f"sync:{name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                next_run_time=now,  # check every source once at start-up
            )
        scheduler.start()
        log.info("listd running", listen=settings.listen, sources=sorted(settings.sources))
        if ready is not None:
            ready.set()
        try:
            await stop.wait()
        finally:
            log.info("listd stopping")
            scheduler.shutdown(wait=False)
            # Cancel in-flight syncs: they stop before the pointer flip, so the
            # store keeps the previous version.
            for task in list(running):
                task.cancel()
            if running:
                await asyncio.wait(list(running), timeout=30)
            await runner.cleanup()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)
    log.info("listd stopped")
