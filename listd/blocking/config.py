"""Settings of the notification dispatcher, with `LISTD_WEBHOOK_*` environment overrides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from listd.blocking.delivery import Policy
from listd.blocking.egress import parse_entry
from listd.blocking.watchlist import MAX_BYTES, MAX_CUSTOMERS
from listd.errors import ConfigError

_POLICY = Policy()


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    # host:port / host:low-high entries exempt from the https and public-address rules
    # (a bare host covers ports 443 and 80 only)
    allow_hosts: tuple[str, ...] = ()
    delivery: Policy = field(default_factory=Policy)
    lease_ttl: float = 15.0  # seconds; a dead dispatcher is replaced within this
    poll_interval: float = 0.5  # seconds an idle dispatcher waits on the delta stream
    drain_chunk: int = 2000  # customers screened per step of a watchlist upload
    max_customers: int = MAX_CUSTOMERS
    max_watchlist_bytes: int = MAX_BYTES  # one PUT/PATCH body; 413 beyond, while streaming
    rotation_overlap: float = 24 * 3600.0  # seconds the previous secret keeps signing

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookConfig:
        """LISTD_WEBHOOK_ALLOW_HOSTS (comma-separated host:port entries), LISTD_WEBHOOK_TIMEOUT (s),
        LISTD_WEBHOOK_CONCURRENCY, LISTD_WEBHOOK_RETRY_HOURS, LISTD_WATCHLIST_MAX_MB."""
        hosts = tuple(h.strip() for h in env.get("LISTD_WEBHOOK_ALLOW_HOSTS", "").split(","))
        for entry in hosts:
            if entry:
                try:
                    parse_entry(entry)
                except ValueError as exc:
                    raise ConfigError(str(exc), key="LISTD_WEBHOOK_ALLOW_HOSTS") from None
        policy = Policy(
            timeout=_number(env, "LISTD_WEBHOOK_TIMEOUT", _POLICY.timeout),
            concurrency=int(_number(env, "LISTD_WEBHOOK_CONCURRENCY", _POLICY.concurrency)),
            retry_window=_number(env, "LISTD_WEBHOOK_RETRY_HOURS", 24.0) * 3600,
        )
        if policy.retry_window < 24 * 3600:
            raise ConfigError(
                "LISTD_WEBHOOK_RETRY_HOURS must be at least 24", key="LISTD_WEBHOOK_RETRY_HOURS"
            )
        max_mb = _number(env, "LISTD_WATCHLIST_MAX_MB", MAX_BYTES / 2**20)
        return cls(
            allow_hosts=tuple(h for h in hosts if h),
            delivery=policy,
            max_watchlist_bytes=int(max_mb * 2**20),
        )


def _number(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a number, got {raw!r}", key=key) from None
    if value <= 0:
        raise ConfigError(f"{key} must be positive", key=key)
    return value
