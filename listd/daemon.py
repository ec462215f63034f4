"""`listd run`: the HTTP API on every instance; the scrapers and the webhook dispatcher on
the elected leader only. Runs until SIGTERM/SIGINT, which drain (see `serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
from typing import cast

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from listd import waits
from listd.access import tls_context
from listd.api import create_app
from listd.api.metrics import Metrics
from listd.api.state import METRICS, READY, ROLE, SYNCER
from listd.clock import SYSTEM_CLOCK, Clock
from listd.connection import open_server
from listd.embedded import EmbeddedRedis, Supervision, supervise
from listd.errors import ConfigError, ListdError
from listd.logs import get_logger
from listd.notifications.config import WebhookConfig
from listd.notifications.dispatcher import Dispatcher
from listd.notifications.partitions import PartitionCheck
from listd.notifications.routes import BLOCKING
from listd.pipeline.lease import LEADER, Lease, Role
from listd.pipeline.store import Fence
from listd.pipeline.sync import Syncer
from listd.sdnotify import Notifier
from listd.settings import Settings, SourceConfig, parse_listen

log = get_logger(__name__)

HTTP_DRAIN_S = 20.0  # requests in flight at SIGTERM get this long to finish
SYNC_ABANDON_S = 15.0  # a cancelled sync records its failure and releases its lock


def trigger_for(cfg: SourceConfig) -> CronTrigger | IntervalTrigger:
    if cfg.cron:
        try:
            return CronTrigger.from_crontab(cfg.cron, timezone=dt.UTC)
        except ValueError as exc:
            raise ConfigError(
                f"sources.{cfg.name}.cron: {exc}", key=f"sources.{cfg.name}.cron"
            ) from exc
    return IntervalTrigger(minutes=cfg.interval_minutes, timezone=dt.UTC)


async def scheduled_sync(
    syncer: Syncer, name: str, running: set[asyncio.Task[None]], fence: Fence | None = None
) -> None:
    """One scheduled run; failures are recorded and logged, never raised into the scheduler."""
    task = asyncio.current_task()
    if task is not None:
        running.add(task)
    try:
        await syncer.sync(name, fence=fence)
    except ListdError as exc:
        log.warning("scheduled sync did not complete", source=name, error=exc.message)
    except (RedisError, OSError) as exc:
        # The store is as it was (nothing is visible before the flip); the next run retries.
        log.warning("scheduled sync interrupted: redis unreachable", source=name, error=str(exc))
    except asyncio.CancelledError:
        # Stepping down or shutting down cancelled it (before its pointer flip). This is
        # the job's outermost frame: ending quietly keeps a traceback out of the journal.
        log.info("scheduled sync abandoned", source=name)
    finally:
        if task is not None:
            running.discard(task)


def schedule(
    scheduler: AsyncIOScheduler,
    settings: Settings,
    syncer: Syncer,
    running: set[asyncio.Task[None]],
    fence: Fence | None = None,
) -> None:
    """(Re)create one job per enabled source; the first run is due at once."""
    now = dt.datetime.now(dt.UTC)  # the scheduler's own clock is the wall clock
    for job in scheduler.get_jobs():
        if job.id.startswith("sync:"):
            job.remove()
    for name, cfg in sorted(settings.sources.items()):
        if not cfg.enabled:
            continue
        scheduler.add_job(
            scheduled_sync,
            trigger_for(cfg),
            args=[syncer, name, running, fence],
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


class Leadership:
    """The leader's work: the scheduler (one job per source) and the webhook dispatcher.

    Runs as `Lease.run`'s work, so it starts when this instance wins the leader lease
    and stops when it loses it or shuts down. On stopping, syncs in flight are
    cancelled (they stop before the pointer flip, so the previous version keeps
    serving) and the dispatcher's lanes finish the POST they are in.
    """

    def __init__(
        self,
        settings: Settings,
        syncer: Syncer,
        lease: Lease,
        dispatcher: Dispatcher | None,
        role: Role,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.syncer = syncer
        self.lease = lease
        self.dispatcher = dispatcher
        self.role = role
        self.metrics = metrics
        self.scheduler: AsyncIOScheduler | None = None
        self.running: set[asyncio.Task[None]] = set()
        self.fence: Fence | None = None

    def reschedule(self) -> None:
        """SIGHUP: the leader picks up the reloaded sources (a follower has nothing to do)."""
        if self.scheduler is not None:
            schedule(self.scheduler, self.settings, self.syncer, self.running, self.fence)

    async def lead(self, halt: asyncio.Event) -> None:
        self.fence = Fence(self.lease.key, self.lease.token)
        self.role.change(True, self.lease.fence)
        self.metrics.leader.set(1)
        log.info(
            "leader: running the scrapers and the webhook dispatcher",
            fence=self.lease.fence,
            instance=self.lease.token,
        )
        scheduler = self.scheduler = AsyncIOScheduler(timezone=dt.UTC)
        dispatching: asyncio.Task[None] | None = None
        try:
            schedule(scheduler, self.settings, self.syncer, self.running, self.fence)
            scheduler.start()
            halted = asyncio.create_task(halt.wait())
            waiting: set[asyncio.Task[None] | asyncio.Task[bool]] = {halted}
            if self.dispatcher is not None:
                dispatching = asyncio.create_task(self.dispatcher.lead(halt), name="dispatcher")
                waiting.add(dispatching)
            try:
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            finally:
                halted.cancel()
            if dispatching is not None and dispatching.done() and not halt.is_set():
                # The dispatcher failed (Redis down): end the tenure; Lease.run retries.
                dispatching.result()
                raise RedisError("the dispatcher stopped while leading")
        finally:
            self.scheduler = None
            self.fence = None
            scheduler.shutdown(wait=False)
            await self._abandon_syncs()
            if dispatching is not None and not dispatching.done():
                await asyncio.wait({dispatching}, timeout=SYNC_ABANDON_S)
            self.role.change(False)
            self.metrics.leader.set(0)
            log.info("follower: scrapers and dispatcher stopped", fence=self.lease.fence)

    async def _abandon_syncs(self) -> None:
        # Cancelled syncs stop before the pointer flip: the store keeps the previous
        # version, the half-written snapshot is collected by the next sync.
        tasks = list(self.running)
        for task in tasks:
            task.cancel()
        if tasks:
            log.info("syncs in flight abandoned", count=len(tasks))
            await asyncio.wait(tasks, timeout=SYNC_ABANDON_S)


async def serve(
    settings: Settings, *, ready: asyncio.Event | None = None, clock: Clock = SYSTEM_CLOCK
) -> None:
    """Serve until SIGTERM/SIGINT, then drain in this order: stop accepting connections;
    step down as leader (abandon a sync in flight, let deliveries in flight finish,
    release the lease so another instance takes over at once) while requests in flight
    finish; close the app; exit. Well within the unit's TimeoutStopSec (90 s)."""
    host, port = parse_listen(settings.listen)
    notifier = Notifier()
    stop = asyncio.Event()
    hup = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, hup.set)
    webhooks = WebhookConfig.from_settings(settings.webhooks)
    ttl = settings.leader_ttl
    lost: asyncio.Task[None] | None = None
    partitions: PartitionCheck | None = None
    async with open_server(settings) as (redis, embedded):
        lost = _supervisor(embedded, stop)
        keys = settings.keys
        lease = Lease(redis, keys.lease(LEADER), keys.fence(LEADER), ttl)
        # LISTD_DISPATCH_ON=every: this instance runs a dispatcher worker of its own,
        # sharing the partitions with the other instances', leader or not.
        every = settings.webhooks.dispatch_on == "every"
        app = create_app(
            settings,
            redis,
            dispatch=True,
            webhooks=webhooks,
            leader=None if every else lease,
            clock=clock,
            # Syncs in child processes: this event loop serves screening undisturbed.
            sync_url=server_url(settings, embedded)
            if settings.sync_isolation == "process"
            else None,
        )
        # An API whose partition count is not the workers' would file uploads where no
        # worker reads them: it stops as on SIGTERM, and `serve` raises the refusal.
        partitions = app[BLOCKING].partitions
        refusal = asyncio.create_task(_stop_when(partitions.refused, stop))
        role = app[ROLE] = Role(instance=lease.token)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=HTTP_DRAIN_S)
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
            refusal.cancel()
            if lost is not None:
                lost.cancel()
            raise ConfigError(f"cannot listen on {settings.listen}: {exc.strerror}") from exc
        leadership = Leadership(
            settings,
            app[SYNCER],
            lease,
            None if every else app[BLOCKING].dispatcher,
            role,
            app[METRICS],
        )
        campaign: asyncio.Task[None] | None = None
        watchdog: asyncio.Task[None] | None = None
        try:
            # Ready (for systemd) once every stored list is loaded into the screening index.
            loaded = asyncio.create_task(app[READY].wait())
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait([loaded, stopped], return_when=asyncio.FIRST_COMPLETED)
            loaded.cancel()
            stopped.cancel()
            if not stop.is_set():
                # Lanes finish the POST they are in (bounded by the webhook timeout).
                grace = webhooks.delivery.timeout + 5.0
                campaign = asyncio.create_task(
                    lease.run(leadership.lead, stop, grace=grace), name="listd-leader"
                )
                log.info(
                    "listd running",
                    listen=settings.listen,
                    sources=sorted(settings.sources),
                    leader_ttl=ttl,
                    instance=lease.token,
                )
                notifier.ready(f"serving on {settings.listen}")
                if ready is not None:
                    ready.set()
                watchdog = asyncio.create_task(
                    _watchdog(notifier, redis, stop), name="listd-watchdog"
                )
            while not stop.is_set():
                waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(hup.wait())]
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
                if hup.is_set() and not stop.is_set():
                    hup.clear()
                    notifier.reloading()
                    names = reload_sources(settings)
                    leadership.reschedule()
                    log.info("sources reloaded", sources=names)
                    notifier.ready(f"serving on {settings.listen}; sources reloaded")
        finally:
            stop.set()
            log.info("listd stopping")
            notifier.stopping()
            if watchdog is not None:
                watchdog.cancel()
            # 1. No new connections (a load balancer's health check now fails over).
            await site.stop()
            # 2. Step down; requests in flight go on meanwhile.
            if campaign is not None:
                await asyncio.wait({campaign}, timeout=2 * (webhooks.delivery.timeout + 5.0) + 5)
                if not campaign.done():
                    campaign.cancel()
                    log.warning("leader work did not stop in time; cancelled")
            # 3. Requests still in flight get HTTP_DRAIN_S, then the app closes.
            await runner.cleanup()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)
            refusal.cancel()
            # Before the embedded server is stopped: its exit is no crash to restart from.
            if lost is not None and not lost.done():
                lost.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lost
    if lost is not None and not lost.cancelled() and lost.exception() is not None:
        # Exit non-zero: the service manager restarts listd (and with it the server).
        log.error("listd stopped: the embedded redis is lost", error=str(lost.exception()))
        raise cast(BaseException, lost.exception())
    if partitions is not None and partitions.error is not None:
        raise partitions.error
    log.info("listd stopped")


async def _stop_when(event: asyncio.Event, stop: asyncio.Event) -> None:
    await event.wait()
    stop.set()


def server_url(settings: Settings, embedded: EmbeddedRedis | None) -> str:
    """The URL this process reached Redis at (the embedded server's socket, if it runs one)."""
    if embedded is not None:
        return embedded.url
    assert settings.redis_url is not None
    return settings.redis_url


def _supervisor(embedded: EmbeddedRedis | None, stop: asyncio.Event) -> asyncio.Task[None] | None:
    """Supervise the embedded server this process owns; when it is lost, stop (drain) as
    on SIGTERM, and `serve` raises its error afterwards."""
    if embedded is None or not embedded.owner:
        return None
    task = asyncio.create_task(supervise(embedded, Supervision()), name="listd-embedded-redis")
    task.add_done_callback(lambda t: None if t.cancelled() else stop.set())
    return task


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
        await waits.sleep(notifier.watchdog_s / 2)
