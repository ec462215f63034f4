"""Typed settings: `LISTD_*` environment variables plus a TOML file of sources.

This module is the only reader of `LISTD_*` variables: each is parsed and validated
here (a bad value is a `ConfigError` naming it), and the rooms receive typed objects.
Nothing reads the environment at import time; `Settings.from_env()` is called once by
the CLI and the result is passed down.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from listd.eds.config import DEFAULT_NCALAYER, EdsSettings
from listd.errors import ConfigError
from listd.keyspace import Keys
from listd.scrapers import KINDS

DEFAULT_TTL = 10.0  # seconds: the leader lease, unless LISTD_LEADER_TTL says otherwise

DEFAULT_LISTEN = "127.0.0.1:8080"
# Browser-like prefix: OFAC's firewall (July 2026) answered 403 unless the User-Agent began with
# "Mozilla/<digit>" and was at least 40 characters; "listd" keeps the client identifiable.
USER_AGENT = (
    "Mozilla/5.0 (compatible; listd/0.1; +sanctions list synchronisation; "
    "contact: your-compliance-team)"
)

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One source as declared in the sources file."""

    name: str
    kind: str  # scraper module in listd.scrapers
    url: str | None = None
    page_url: str | None = None  # HTML page to read for the file link (BeautifulSoup)
    link_pattern: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    user_agent: str | None = None  # None: Settings.user_agent; a User-Agent header wins over both
    interval_minutes: float = 15.0
    cron: str | None = None
    timeout: float = 120.0
    retries: int = 3
    retry_backoff: float = 2.0  # seconds before the first retry; doubles each time, jittered
    min_entities: int = 0
    max_removed_ratio: float = 0.2
    # Removals published within the last `removal_window_hours`, against the list as it was
    # before the first of them; above this share the sync is held. None: max_removed_ratio.
    max_removed_ratio_window: float | None = None
    removal_window_hours: float = 24.0  # 0: no cumulative bound
    max_bytes: int = 200 * 1024 * 1024
    enabled: bool = True
    enabled_if_env: str | None = None  # on exactly when this environment variable is set
    stale_after_minutes: float = 360.0  # no successful sync for longer: shown as stale

    def request_headers(self, default_user_agent: str) -> dict[str, str]:
        """Headers for every request to this source: its User-Agent, then its own headers."""
        return {"User-Agent": self.user_agent or default_user_agent, **self.headers}


_SOURCE_KEYS = {f for f in SourceConfig.__dataclass_fields__ if f != "name"}


def _expand(value: str, env: dict[str, str], where: str) -> str:
    def sub(match: re.Match[str]) -> str:
        var = match.group(1)
        if var not in env or env[var] == "":
            raise ConfigError(
                f"{where} refers to ${{{var}}} but the environment variable {var} is not set",
                key=where,
            )
        return env[var]

    return _ENV_REF.sub(sub, value)


def parse_sources(
    data: dict[str, Any], env: dict[str, str], origin: str
) -> dict[str, SourceConfig]:
    """Validate the `[sources.<name>]` tables of a sources file."""
    tables = data.get("sources")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{origin}: no [sources.<name>] tables found", key="sources")
    out: dict[str, SourceConfig] = {}
    for name, table in tables.items():
        where = f"sources.{name}"
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
            raise ConfigError(f"{origin}: bad source name {name!r}", key=where)
        if not isinstance(table, dict):
            raise ConfigError(f"{origin}: {where} must be a table", key=where)
        unknown = set(table) - _SOURCE_KEYS
        if unknown:
            bad = sorted(unknown)[0]
            raise ConfigError(f"{origin}: unknown key {where}.{bad}", key=f"{where}.{bad}")
        if "kind" not in table:
            raise ConfigError(f"{origin}: {where}.kind is required", key=f"{where}.kind")
        kwargs: dict[str, Any] = {}
        for key, value in table.items():
            kwargs[key] = _check_type(key, value, f"{origin}: {where}.{key}")
        cfg = SourceConfig(name=name, **kwargs)
        if cfg.enabled_if_env is not None:
            if "enabled" in table:
                raise ConfigError(
                    f"{origin}: {where} sets both enabled and enabled_if_env",
                    key=f"{where}.enabled_if_env",
                )
            cfg = replace(cfg, enabled=bool(env.get(cfg.enabled_if_env)))
        if cfg.enabled:
            headers = {k: _expand(v, env, f"{where}.headers.{k}") for k, v in cfg.headers.items()}
            cfg = replace(cfg, headers=headers)
        if cfg.enabled and not (cfg.url or cfg.page_url):
            raise ConfigError(f"{origin}: {where} needs url or page_url", key=f"{where}.url")
        if cfg.page_url and not cfg.link_pattern:
            raise ConfigError(
                f"{origin}: {where}.page_url needs link_pattern", key=f"{where}.link_pattern"
            )
        if cfg.link_pattern:
            try:
                re.compile(cfg.link_pattern)
            except re.error as exc:
                raise ConfigError(
                    f"{origin}: {where}.link_pattern is not a valid regex: {exc}",
                    key=f"{where}.link_pattern",
                ) from exc
        if cfg.kind not in KINDS:
            known = ", ".join(sorted(KINDS))
            raise ConfigError(
                f"{origin}: {where}.kind {cfg.kind!r} is unknown (known: {known})",
                key=f"{where}.kind",
            )
        for ratio in ("max_removed_ratio", "max_removed_ratio_window"):
            value = getattr(cfg, ratio)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ConfigError(
                    f"{origin}: {where}.{ratio} must be within 0..1", key=f"{where}.{ratio}"
                )
        if cfg.removal_window_hours < 0:
            raise ConfigError(
                f"{origin}: {where}.removal_window_hours must not be negative",
                key=f"{where}.removal_window_hours",
            )
        out[name] = cfg
    return out


def _check_type(key: str, value: Any, where: str) -> Any:
    expected: dict[str, tuple[type, ...]] = {
        "kind": (str,),
        "url": (str,),
        "page_url": (str,),
        "link_pattern": (str,),
        "headers": (dict,),
        "user_agent": (str,),
        "interval_minutes": (int, float),
        "cron": (str,),
        "timeout": (int, float),
        "retries": (int,),
        "retry_backoff": (int, float),
        "min_entities": (int,),
        "max_removed_ratio": (int, float),
        "max_removed_ratio_window": (int, float),
        "removal_window_hours": (int, float),
        "max_bytes": (int,),
        "enabled": (bool,),
        "enabled_if_env": (str,),
        "stale_after_minutes": (int, float),
    }
    types = expected[key]
    if isinstance(value, bool) and bool not in types:
        raise ConfigError(f"{where} has the wrong type", key=where.split(": ", 1)[-1])
    if not isinstance(value, types):
        names = " or ".join(t.__name__ for t in types)
        raise ConfigError(f"{where} must be {names}", key=where.split(": ", 1)[-1])
    return _check_value(key, value, where)


def _check_value(key: str, value: Any, where: str) -> Any:
    if key == "headers" and not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"{where} values must be strings", key=where.split(": ", 1)[-1])
    if key == "user_agent" and not value.strip():
        raise ConfigError(f"{where} must not be empty", key=where.split(": ", 1)[-1])
    if key in {"interval_minutes", "timeout", "stale_after_minutes"} and value <= 0:
        raise ConfigError(f"{where} must be positive", key=where.split(": ", 1)[-1])
    floats = {
        "interval_minutes", "timeout", "max_removed_ratio", "retry_backoff", "stale_after_minutes",
        "max_removed_ratio_window", "removal_window_hours",
    }  # fmt: skip
    return float(value) if key in floats else value


def load_sources(path: Path | None, env: dict[str, str]) -> dict[str, SourceConfig]:
    """Read the sources file, or the default one shipped in the package."""
    if path is None:
        text = resources.files("listd").joinpath("sources.toml").read_text("utf-8")
        origin = "default sources.toml"
    else:
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read sources file {path}: {exc.strerror}") from exc
        origin = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from exc
    return parse_sources(data, env, origin)


def default_state_dir(env: dict[str, str]) -> Path:
    # systemd's StateDirectory= sets STATE_DIRECTORY; otherwise follow XDG.
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    base = env.get("XDG_STATE_HOME") or str(home / ".local" / "state")
    return Path(base) / "listd"


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"LISTD_LISTEN must be HOST:PORT, got {value!r}", key="LISTD_LISTEN")
    return host.strip("[]") or "127.0.0.1", int(port)


def _positive_int(env: dict[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{key} must be a positive integer, got {raw!r}", key=key)
    return int(raw)


# A host-only allow-list entry (the form before ports could be named) covers only these.
DEFAULT_PORTS = (range(443, 444), range(80, 81))


def parse_entry(entry: str) -> tuple[str, tuple[range, ...]]:
    """One webhook allow-list entry as (host, port ranges); ValueError naming what is wrong."""
    text = entry.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and (not rest.startswith(":") or rest == ":"):
            raise ValueError(f"allow-list entry {entry!r}: expected [address]:port")
        spec = rest[1:]
    elif text.count(":") == 1:
        host, _, spec = text.partition(":")
        if not spec:
            raise ValueError(f"allow-list entry {entry!r}: port missing after ':'")
    else:  # a host name, an IPv4 address or a bare IPv6 address: no port given
        host, spec = text, ""
    host = host_key(host)
    if not host or any(c.isspace() or c in "/@?#[]" for c in host):
        raise ValueError(f"allow-list entry {entry!r}: not a host")
    if not spec:
        return host, DEFAULT_PORTS
    low, dash, high = spec.partition("-")
    try:
        first, last = int(low), int(high) if dash else int(low)
    except ValueError:
        raise ValueError(f"allow-list entry {entry!r}: port must be N or N-M") from None
    if not 1 <= first <= last <= 65535:
        raise ValueError(f"allow-list entry {entry!r}: ports must be within 1-65535, low first")
    return host, (range(first, last + 1),)


def host_key(host: str) -> str:
    """A host as allow-list entries and URLs are compared: lower case, no brackets."""
    return host.strip().lower().strip("[]")


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """`LISTD_WEBHOOK_*` and `LISTD_WATCHLIST_MAX_MB`; None: the dispatcher's own default
    (`listd.notifications.config.WebhookConfig`, which is built from these)."""

    allow_hosts: tuple[str, ...] = ()  # host:port / host:low-high entries, each valid
    timeout: float | None = None  # seconds for one delivery
    concurrency: int | None = None  # deliveries in flight
    retry_hours: float = 24.0  # retries go on at least this long (at least 24)
    watchlist_max_mb: float | None = None  # one watchlist upload
    # LISTD_DISPATCH_PARTITIONS: subscriptions are spread over this many partitions, each
    # served by one dispatcher worker at a time; the same on every instance.
    partitions: int = 64
    # LISTD_DISPATCH_ON: "leader" (the elected leader runs the one dispatcher worker, which
    # serves every partition) or "every" (every instance runs a worker; they share them).
    dispatch_on: str = "leader"
    # LISTD_DISPATCH_SLICE_CUSTOMERS / LISTD_DISPATCH_SLICES: a subscription whose watchlist
    # grows beyond that many customers is indexed in that many slices (0: never sliced).
    slice_customers: int = 0
    slices: int = 8


@dataclass(frozen=True, slots=True)
class Settings:
    redis_url: str | None = None  # None: start the embedded server under state_dir
    redis_cluster: bool = False  # redis_url names a node of a Redis Cluster
    state_dir: Path = Path("state")
    listen: str = DEFAULT_LISTEN
    key_prefix: str = "listd"
    sources_file: Path | None = None
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    log_format: str = "auto"  # auto | json | console
    user_agent: str = USER_AGENT
    max_body_bytes: int = 64 * 1024 * 1024  # hard cap; each route sets its own lower limit
    history_length: int = 200
    delta_retention: int = 1_000_000  # deltas kept in the stream; older ones: resync
    # --- access control and the journal (listd.access, listd.audit) ---
    key_ttl_days: float = 30.0  # lifetime of a new API key
    rate_limit: int = 600  # requests per key per minute; 0: no limit
    journal_archive_at: int = 100_000  # live entries; beyond, the oldest half is archived
    registration_sla_hours: float = 24.0  # an undecided application is overdue after this
    terms_file: Path | None = None  # terms of use; None: the packaged text
    tls_cert: Path | None = None  # with tls_key: serve HTTPS
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # accept client certificates issued by this CA
    # A read-only request may reuse a key's admission for this long (0: never); the
    # journal append confirms it, so blocks still land on the next request.
    admission_cache_seconds: float = 1.0
    # With Redis unreachable, a key seen admitted this recently is still served.
    outage_grace_seconds: float = 300.0
    # The journal key (seals entries, signs checkpoints); None: <state_dir>/journal.key.
    journal_key_file: Path | None = None
    journal_checkpoint_seconds: float = 60.0  # a signed checkpoint at least this often
    journal_checkpoint_entries: int = 10_000  # or after this many entries, if sooner
    eds: EdsSettings = field(default_factory=EdsSettings)  # LISTD_EDS_*: digital signatures
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    # LISTD_LEADER_TTL: a dead leader is replaced within about this long (at once when it
    # died on the same host).
    leader_ttl: float = DEFAULT_TTL
    # LISTD_SYNC_ISOLATION: where `listd run` runs a sync: "process" (a child process of
    # its own, so the API's event loop never waits on it) or "inline" (in the API's).
    sync_isolation: str = "process"
    # LISTD_SYNC_PRIORITY: that process's CPU priority, and of everything it starts: a
    # niceness this much below the API's, or None ("idle", SCHED_IDLE: only the CPU time
    # nothing else on the host wants; a busy host would starve the syncs, so not the default).
    sync_niceness: int | None = 5

    @property
    def keys(self) -> Keys:
        """The key names of this deployment (tagged per group on a cluster)."""
        return Keys(
            self.key_prefix, cluster=self.redis_cluster, partitions=self.webhooks.partitions
        )

    @property
    def journal_key_path(self) -> Path:
        """Outside the archive directory, so copying the archive never copies the key."""
        return self.journal_key_file or self.state_dir / "journal.key"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        sources_file = Path(env["LISTD_SOURCES"]) if env.get("LISTD_SOURCES") else None
        listen = env.get("LISTD_LISTEN", DEFAULT_LISTEN)
        parse_listen(listen)
        prefix = env.get("LISTD_KEY_PREFIX", "listd")
        if not re.fullmatch(r"[A-Za-z0-9_.:-]+", prefix):
            raise ConfigError("LISTD_KEY_PREFIX may hold only letters, digits and _.:-")
        state_dir = Path(env["LISTD_STATE_DIR"]) if env.get("LISTD_STATE_DIR") else None
        return cls(
            redis_url=env.get("LISTD_REDIS_URL") or None,
            redis_cluster=_redis_cluster(env),
            state_dir=(state_dir or default_state_dir(env)).expanduser(),
            listen=listen,
            key_prefix=prefix,
            sources_file=sources_file,
            sources=load_sources(sources_file, env),
            log_format=env.get("LISTD_LOG_FORMAT", "auto"),
            delta_retention=_positive_int(env, "LISTD_DELTA_RETENTION", 1_000_000),
            **_access_settings(env),
            eds=_eds_settings(env),
            webhooks=_webhook_settings(env),
            leader_ttl=_env_float(
                env,
                "LISTD_LEADER_TTL",
                DEFAULT_TTL,
                lambda v: 1 <= v <= 300,
                "a number of seconds between 1 and 300",
            ),
            sync_isolation=_choice(env, "LISTD_SYNC_ISOLATION", "process", "inline"),
            sync_niceness=_sync_niceness(env),
        )

    def source(self, name: str) -> SourceConfig:
        from listd.errors import UnknownSource

        try:
            return self.sources[name]
        except KeyError:
            known = ", ".join(sorted(self.sources)) or "none"
            raise UnknownSource(f"unknown source {name!r} (configured: {known})") from None


# --- access control and the journal ---------------------------------------------------------
def _env_float(
    env: dict[str, str], key: str, default: float, valid: Callable[[float], bool], expect: str
) -> float:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not valid(value):  # NaN is never valid
        raise ConfigError(f"{key} must be {expect}, got {raw!r}", key=key)
    return value


def _positive_float(env: dict[str, str], key: str, default: float) -> float:
    return _env_float(env, key, default, lambda v: v > 0, "a positive number")


def _seconds(env: dict[str, str], key: str, default: float) -> float:
    return _env_float(env, key, default, lambda v: 0 <= v <= 86400, "a number of seconds (0-86400)")


def _path(env: dict[str, str], key: str) -> Path | None:
    raw = env.get(key)
    return Path(raw).expanduser() if raw else None


def _access_settings(env: dict[str, str]) -> dict[str, Any]:
    raw_limit = env.get("LISTD_RATE_LIMIT") or "600"
    if not raw_limit.isdigit():
        raise ConfigError(
            f"LISTD_RATE_LIMIT must be a whole number (0: no limit), got {raw_limit!r}",
            key="LISTD_RATE_LIMIT",
        )
    tls = {
        "tls_cert": _path(env, "LISTD_TLS_CERT"),
        "tls_key": _path(env, "LISTD_TLS_KEY"),
        "tls_client_ca": _path(env, "LISTD_TLS_CLIENT_CA"),
    }
    if (tls["tls_cert"] is None) != (tls["tls_key"] is None):
        raise ConfigError("LISTD_TLS_CERT and LISTD_TLS_KEY go together", key="LISTD_TLS_CERT")
    if tls["tls_client_ca"] is not None and tls["tls_cert"] is None:
        raise ConfigError(
            "LISTD_TLS_CLIENT_CA needs LISTD_TLS_CERT and LISTD_TLS_KEY (HTTPS)",
            key="LISTD_TLS_CLIENT_CA",
        )
    return {
        "key_ttl_days": _positive_float(env, "LISTD_KEY_TTL_DAYS", 30.0),
        "rate_limit": int(raw_limit),
        "journal_archive_at": _positive_int(env, "LISTD_JOURNAL_ARCHIVE_AT", 100_000),
        "registration_sla_hours": _positive_float(env, "LISTD_REGISTRATION_SLA_HOURS", 24.0),
        "terms_file": _path(env, "LISTD_TERMS_FILE"),
        "admission_cache_seconds": _seconds(env, "LISTD_ADMISSION_CACHE_SECONDS", 1.0),
        "outage_grace_seconds": _seconds(env, "LISTD_OUTAGE_GRACE_SECONDS", 300.0),
        "journal_key_file": _path(env, "LISTD_JOURNAL_KEY_FILE"),
        "journal_checkpoint_seconds": _env_float(
            env,
            "LISTD_JOURNAL_CHECKPOINT_SECONDS",
            60.0,
            lambda v: 1 <= v <= 86400,
            "a number of seconds (1-86400)",
        ),
        "journal_checkpoint_entries": _positive_int(
            env, "LISTD_JOURNAL_CHECKPOINT_ENTRIES", 10_000
        ),
        **tls,
    }


# --- webhooks --------------------------------------------------------------------------------
def _webhook_settings(env: dict[str, str]) -> WebhookSettings:
    hosts = tuple(h.strip() for h in env.get("LISTD_WEBHOOK_ALLOW_HOSTS", "").split(","))
    for entry in hosts:
        if entry:
            try:
                parse_entry(entry)
            except ValueError as exc:
                raise ConfigError(str(exc), key="LISTD_WEBHOOK_ALLOW_HOSTS") from None
    concurrency = _number(env, "LISTD_WEBHOOK_CONCURRENCY")
    retry_hours = _number(env, "LISTD_WEBHOOK_RETRY_HOURS") or 24.0
    if retry_hours < 24:
        raise ConfigError(
            "LISTD_WEBHOOK_RETRY_HOURS must be at least 24", key="LISTD_WEBHOOK_RETRY_HOURS"
        )
    return WebhookSettings(
        allow_hosts=tuple(h for h in hosts if h),
        timeout=_number(env, "LISTD_WEBHOOK_TIMEOUT"),
        concurrency=None if concurrency is None else int(concurrency),
        retry_hours=retry_hours,
        watchlist_max_mb=_number(env, "LISTD_WATCHLIST_MAX_MB"),
        partitions=_whole(env, "LISTD_DISPATCH_PARTITIONS", 64, 1, 4096),
        dispatch_on=_choice(env, "LISTD_DISPATCH_ON", "leader", "every"),
        slice_customers=_whole(env, "LISTD_DISPATCH_SLICE_CUSTOMERS", 0, 0, 10**10),
        slices=_whole(env, "LISTD_DISPATCH_SLICES", 8, 1, 4096),
    )


def _whole(env: dict[str, str], key: str, default: int, low: int, high: int) -> int:
    raw = env.get(key, "").strip() or str(default)
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(
            f"{key} must be a whole number from {low} to {high}, got {raw!r}", key=key
        )
    return int(raw)


def _choice(env: dict[str, str], key: str, *options: str) -> str:
    """One of `options` (the first when unset)."""
    raw = env.get(key, "").strip() or options[0]
    if raw not in options:
        raise ConfigError(f"{key} must be {' or '.join(options)}, got {raw!r}", key=key)
    return raw


def _sync_niceness(env: dict[str, str]) -> int | None:
    raw = env.get("LISTD_SYNC_PRIORITY", "").strip() or "5"
    if raw == "idle":
        return None
    if not raw.isdigit() or int(raw) > 19:
        raise ConfigError(
            f"LISTD_SYNC_PRIORITY must be idle or a niceness from 0 to 19, got {raw!r}",
            key="LISTD_SYNC_PRIORITY",
        )
    return int(raw)


def _number(env: dict[str, str], key: str) -> float | None:
    """A positive number, or None when unset (the consumer's default applies)."""
    raw = env.get(key, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a number, got {raw!r}", key=key) from None
    if value <= 0:
        raise ConfigError(f"{key} must be positive", key=key)
    return value


# --- digital signatures (listd.eds) ----------------------------------------------------------
def _eds_settings(env: dict[str, str]) -> EdsSettings:
    trust = env.get("LISTD_EDS_TRUST_DIR") or None
    crl = env.get("LISTD_EDS_CRL_DIR") or None
    ncalayer = env.get("LISTD_EDS_NCALAYER_URL") or DEFAULT_NCALAYER
    if not re.fullmatch(r"wss?://[^\s;,'\"]+", ncalayer):  # it goes into the console's CSP
        raise ConfigError(
            f"LISTD_EDS_NCALAYER_URL must be a ws:// or wss:// URL, got {ncalayer!r}",
            key="LISTD_EDS_NCALAYER_URL",
        )
    policy = env.get("LISTD_EDS_UNKNOWN_REVOCATION") or "refuse"
    if policy not in ("refuse", "accept"):
        raise ConfigError(
            f"LISTD_EDS_UNKNOWN_REVOCATION must be refuse or accept, got {policy!r}",
            key="LISTD_EDS_UNKNOWN_REVOCATION",
        )
    return EdsSettings(
        trust_dir=Path(trust).expanduser() if trust else None,
        crl_dir=Path(crl).expanduser() if crl else None,
        ocsp_url=env.get("LISTD_EDS_OCSP_URL", ""),
        ocsp_timeout=_range(env, "LISTD_EDS_OCSP_TIMEOUT", 5.0, 0, 60),
        unknown_revocation=policy,
        challenge_seconds=int(_range(env, "LISTD_EDS_CHALLENGE_SECONDS", 120, 10, 3600)),
        session_minutes=int(_range(env, "LISTD_EDS_SESSION_MINUTES", 60, 1, 24 * 60)),
        ncalayer_url=ncalayer,
    )


def _range(env: dict[str, str], key: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(key)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not lo <= value <= hi:
        raise ConfigError(f"{key} must be a number from {lo:g} to {hi:g}, got {raw!r}", key=key)
    return value


def _redis_cluster(env: dict[str, str]) -> bool:
    """LISTD_REDIS_CLUSTER=1: LISTD_REDIS_URL names one node of a Redis Cluster (redis://
    or rediss://); listd discovers the others and speaks the Cluster protocol."""
    raw = env.get("LISTD_REDIS_CLUSTER", "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw not in ("1", "true", "yes"):
        raise ConfigError("LISTD_REDIS_CLUSTER must be 1 or 0", key="LISTD_REDIS_CLUSTER")
    url = env.get("LISTD_REDIS_URL") or ""
    if url.split("://", 1)[0] not in ("redis", "rediss"):
        raise ConfigError(
            "LISTD_REDIS_CLUSTER=1 needs LISTD_REDIS_URL=redis://host:port (or rediss://)"
            " naming a node of the cluster",
            key="LISTD_REDIS_CLUSTER",
        )
    return True
