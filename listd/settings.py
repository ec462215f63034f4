"""Typed settings: `LISTD_*` environment variables plus a TOML file of sources.

Nothing reads the environment at import time; `Settings.from_env()` is called
once by the CLI and the result is passed down.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from listd.errors import ConfigError

DEFAULT_LISTEN = "127.0.0.1:8080"
USER_AGENT = "listd/0.1 (+sanctions list synchronisation; contact: your-compliance-team)"

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
    interval_minutes: float = 15.0
    cron: str | None = None
    timeout: float = 120.0
    retries: int = 3
    retry_backoff: float = 2.0  # seconds before the first retry; doubles each time, jittered
    min_entities: int = 0
    max_removed_ratio: float = 0.2
    max_bytes: int = 200 * 1024 * 1024
    enabled: bool = True


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
        if cfg.enabled:
            headers = {k: _expand(v, env, f"{where}.headers.{k}") for k, v in cfg.headers.items()}
            cfg = replace(cfg, headers=headers)
        if cfg.enabled and not (cfg.url or cfg.page_url):
            raise ConfigError(f"{origin}: {where} needs url or page_url", key=f"{where}.url")
        if not 0.0 <= cfg.max_removed_ratio <= 1.0:
            raise ConfigError(
                f"{origin}: {where}.max_removed_ratio must be within 0..1",
                key=f"{where}.max_removed_ratio",
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
        "interval_minutes": (int, float),
        "cron": (str,),
        "timeout": (int, float),
        "retries": (int,),
        "retry_backoff": (int, float),
        "min_entities": (int,),
        "max_removed_ratio": (int, float),
        "max_bytes": (int,),
        "enabled": (bool,),
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
    if key in {"interval_minutes", "timeout"} and value <= 0:
        raise ConfigError(f"{where} must be positive", key=where.split(": ", 1)[-1])
    floats = {"interval_minutes", "timeout", "max_removed_ratio", "retry_backoff"}
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
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "listd"


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"LISTD_LISTEN must be HOST:PORT, got {value!r}", key="LISTD_LISTEN")
    return host.strip("[]") or "127.0.0.1", int(port)


@dataclass(frozen=True, slots=True)
class Settings:
    redis_url: str | None = None  # None: start the embedded server under state_dir
    state_dir: Path = Path("state")
    listen: str = DEFAULT_LISTEN
    key_prefix: str = "listd"
    sources_file: Path | None = None
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    log_format: str = "auto"  # auto | json | console
    user_agent: str = USER_AGENT
    max_body_bytes: int = 1024 * 1024
    history_length: int = 200
    keep_versions: int = 2  # snapshots kept per source (current + previous)

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
            state_dir=(state_dir or default_state_dir(env)).expanduser(),
            listen=listen,
            key_prefix=prefix,
            sources_file=sources_file,
            sources=load_sources(sources_file, env),
            log_format=env.get("LISTD_LOG_FORMAT", "auto"),
        )

    def source(self, name: str) -> SourceConfig:
        from listd.errors import UnknownSource

        try:
            return self.sources[name]
        except KeyError:
            known = ", ".join(sorted(self.sources)) or "none"
            raise UnknownSource(f"unknown source {name!r} (configured: {known})") from None
