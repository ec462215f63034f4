"""Settings of the notification dispatcher, with the `LISTD_WEBHOOK_*` overrides of
`listd.settings.WebhookSettings`."""

from __future__ import annotations

from dataclasses import dataclass, field

from listd.notifications.delivery import Policy
from listd.notifications.watchlist import MAX_BYTES, MAX_CUSTOMERS
from listd.settings import WebhookSettings

_POLICY = Policy()


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    # host:port / host:low-high entries exempt from the https and public-address rules
    # (a bare host covers ports 443 and 80 only)
    allow_hosts: tuple[str, ...] = ()
    delivery: Policy = field(default_factory=Policy)
    lease_ttl: float = 15.0  # seconds; a dead worker's partitions are taken within this
    partitions: int = 64  # LISTD_DISPATCH_PARTITIONS: the same on every instance
    # LISTD_DISPATCH_SLICE_CUSTOMERS: a subscription whose watchlist grows beyond this many
    # customers has them indexed in `slices` slices by other partitions (0: never).
    slice_customers: int = 0
    slices: int = 8  # LISTD_DISPATCH_SLICES (at most the number of partitions)
    # seconds between snapshots of a partition's customer index while its watchlists
    # change (one is written at once after a build from the records)
    snapshot_interval: float = 300.0
    poll_interval: float = 0.5  # seconds an idle dispatcher waits on the delta stream
    drain_chunk: int = 2000  # customers screened per step of a watchlist upload
    max_customers: int = MAX_CUSTOMERS
    max_watchlist_bytes: int = MAX_BYTES  # one PUT/PATCH body; 413 beyond, while streaming
    rotation_overlap: float = 24 * 3600.0  # seconds the previous secret keeps signing

    @classmethod
    def from_settings(cls, settings: WebhookSettings) -> WebhookConfig:
        """The dispatcher's configuration from the `LISTD_WEBHOOK_*` settings (read and
        validated by `listd.settings`); what they leave unset keeps the defaults here."""
        policy = Policy(
            timeout=_POLICY.timeout if settings.timeout is None else settings.timeout,
            concurrency=settings.concurrency or _POLICY.concurrency,
            retry_window=settings.retry_hours * 3600,
        )
        max_mb = settings.watchlist_max_mb or MAX_BYTES / 2**20
        return cls(
            allow_hosts=settings.allow_hosts,
            delivery=policy,
            max_watchlist_bytes=int(max_mb * 2**20),
            partitions=settings.partitions,
            slice_customers=settings.slice_customers,
            slices=settings.slices,
        )
