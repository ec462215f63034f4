"""How the access and journal objects are built and connected: the one place that does it.

The API (`listd.api.operator.setup`), the command line and the tests all call `wire`, so a
new object, or a new argument of one, is added here once.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from listd.access.gate import Gate
from listd.access.keys import KeyStore
from listd.access.maintenance import MaintenanceWindows
from listd.access.registrations import Registrations
from listd.access.terms import Terms
from listd.audit.journal import Journal
from listd.audit.writer import JournalWriter
from listd.clock import SYSTEM_CLOCK, Clock
from listd.connection import StoreHealth
from listd.keyspace import Keys
from listd.seal import Checkpointer, Seal
from listd.settings import Settings


@dataclass(frozen=True, slots=True)
class Serving:
    """What an API process adds: the gate, the request journal writer, its checkpoints."""

    terms: Terms
    health: StoreHealth  # shared by the gate and the writer: one view of Redis's reachability
    gate: Gate
    writer: JournalWriter
    checkpointer: Checkpointer


@dataclass(frozen=True, slots=True)
class Wiring:
    """The journal and what records into it: users and keys, maintenance, registrations."""

    settings: Settings
    keys: Keys
    journal: Journal
    store: KeyStore
    maintenance: MaintenanceWindows
    registrations: Registrations
    clock: Clock

    def serving(self) -> Serving:
        """The objects only an API process needs, connected to these."""
        settings, redis, seal = self.settings, self.journal.redis, self.journal.seal
        if seal is None:
            raise RuntimeError("an API process seals its journal: wire it with the journal key")
        terms = Terms.load(settings.terms_file)
        health = StoreHealth()
        gate = Gate(
            redis,
            self.keys,
            terms,
            settings.rate_limit,
            cache_seconds=settings.admission_cache_seconds,
            grace_seconds=settings.outage_grace_seconds,
            health=health,
            clock=self.clock,
        )
        writer = JournalWriter(
            self.journal, settings.state_dir / "journal" / "spool", health, gate.learn_epoch
        )
        # Every process signs its own checkpoints (not only the leader: leadership is
        # decided in Redis, which is what the checkpoints must not trust); see
        # docs/security.md.
        checkpointer = Checkpointer(
            redis,
            self.keys,
            seal,
            settings.state_dir / "journal",
            instance=writer.writer,
            entries=settings.journal_checkpoint_entries,
            clock=self.clock.time,
        )
        writer.on_written = checkpointer.note
        return Serving(terms, health, gate, writer, checkpointer)


def wire(
    settings: Settings, redis: Redis, seal: Seal | None = None, clock: Clock = SYSTEM_CLOCK
) -> Wiring:
    """The access and journal objects of one deployment on `redis`; `seal` is the
    journal key (None: entries are chained, not sealed); `clock` is what expiry, rate
    limits, maintenance windows and registrations read."""
    keys = settings.keys
    journal = Journal(redis, keys, settings.state_dir / "journal", seal, clock)
    store = KeyStore(redis, keys, ttl_days=settings.key_ttl_days, journal=journal, clock=clock)
    return Wiring(
        settings=settings,
        keys=keys,
        journal=journal,
        store=store,
        maintenance=MaintenanceWindows(redis, keys, journal, clock),
        registrations=Registrations(redis, keys, store, settings.registration_sla_hours, clock),
        clock=clock,
    )
