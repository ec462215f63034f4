"""Which store a `listd` command works on: the one place every command resolves it.

The daemon and the commands an operator types must share one store. Under systemd the
unit hands the daemon its environment file and `STATE_DIRECTORY`; a command typed in a
shell (`sudo -u listd listd keys create ...`) has neither, and an embedded Redis started
in the wrong directory is a second, empty store that answers every command quietly. So,
first match wins:

1. The service's environment file, `LISTD_ENV_FILE` (default `/etc/listd/listd.env`;
   empty: none), read as the unit reads it. Its variables apply beneath the process
   environment's (the shell wins); `sources.toml` beside it is the sources file, as the
   unit sets. A file that exists but cannot be read is an error.
2. A store named explicitly: `LISTD_REDIS_URL`, `LISTD_STATE_DIR` or `STATE_DIRECTORY`.
3. The service's state directory `/var/lib/listd` (the unit's `StateDirectory=`), for
   the user `listd` or whoever owns that directory.
4. The store of this user's `listd run` (on the embedded Redis), running or stopped: the
   record it keeps in the default state directory (`daemon.json`) names it.
5. The default state directory (`~/.local/state/listd`). If it holds no store yet while
   the listd service is installed on this machine, the command refuses to create a new,
   empty store there and says where to look instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
from dataclasses import dataclass
from pathlib import Path

from listd.errors import ConfigError
from listd.logs import get_logger
from listd.settings import default_state_dir

log = get_logger(__name__)

RECORD = "daemon.json"  # in the default state directory; written by `listd run`
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPLICIT = ("LISTD_REDIS_URL", "LISTD_STATE_DIR", "STATE_DIRECTORY")


@dataclass(frozen=True, slots=True)
class Service:
    """Where the packaged systemd unit keeps the service (tests point it elsewhere)."""

    env_file: Path = Path("/etc/listd/listd.env")
    state_dir: Path = Path("/var/lib/listd")
    user: str = "listd"


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=VALUE` lines as systemd's `EnvironmentFile=` reads them (comments, quotes)."""
    try:
        text = path.read_text("utf-8")
    except PermissionError:
        raise ConfigError(
            f"cannot read {path}, the listd service's environment file: run the command as "
            "the service's user (sudo -u listd listd ...), or set LISTD_ENV_FILE= to ignore it",
            key="LISTD_ENV_FILE",
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", key="LISTD_ENV_FILE") from exc
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _NAME.fullmatch(key):
            continue  # systemd ignores such lines too
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].replace('\\"', '"') if value[0] == '"' else value[1:-1]
        out[key] = value
    return out


def _env_file(env: dict[str, str], service: Service) -> Path | None:
    if "LISTD_ENV_FILE" in env:
        return Path(env["LISTD_ENV_FILE"]).expanduser() if env["LISTD_ENV_FILE"] else None
    return service.env_file


def _service_user(service: Service) -> bool:
    uid = os.geteuid()
    with contextlib.suppress(KeyError):
        if pwd.getpwuid(uid).pw_name == service.user:
            return True
    try:
        return service.state_dir.stat().st_uid == uid and uid != 0
    except OSError:
        return False


def _has_store(state_dir: Path) -> bool:
    # The embedded server's data directory exists once a store was created there.
    try:
        return (state_dir / "redis").is_dir()
    except OSError:  # a directory we may not look into (mode 0700, another user)
        return True


@dataclass(frozen=True, slots=True)
class DaemonRecord:
    """Where `listd run` (on the embedded Redis) keeps its store, for its user's commands."""

    pid: int
    state_dir: Path
    key_prefix: str
    sources: str | None

    @classmethod
    def read(cls, path: Path) -> DaemonRecord | None:
        try:
            data = json.loads(path.read_text("utf-8"))
            return cls(
                pid=int(data["pid"]),
                state_dir=Path(data["state_dir"]),
                key_prefix=str(data.get("key_prefix") or "listd"),
                sources=data.get("sources") or None,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None


def locate(env: dict[str, str], service: Service | None = None) -> dict[str, str]:
    """The environment a command runs with: `env` plus what leads it to the right store."""
    out = _resolve(env, service or Service())
    state = out.get("LISTD_STATE_DIR") or out.get("STATE_DIRECTORY", "").split(":")[0]
    if state and not out.get("LISTD_REDIS_URL"):
        _check_owner(Path(state).expanduser())
    return out


def _check_owner(state_dir: Path) -> None:
    # Root could open another user's store, and an embedded server it starts there would
    # leave files the service can no longer read.
    try:
        owner = state_dir.stat().st_uid
    except OSError:
        return
    if owner != os.geteuid():
        try:
            name = pwd.getpwuid(owner).pw_name
        except KeyError:
            name = str(owner)
        raise ConfigError(
            f"the store in {state_dir} belongs to the user {name}: run the command as that "
            f"user (sudo -u {name} listd ...)",
            key="LISTD_STATE_DIR",
        )


def _resolve(env: dict[str, str], service: Service) -> dict[str, str]:
    out = dict(env)
    env_file = _env_file(env, service)
    if env.get("LISTD_ENV_FILE") and env_file is not None and not env_file.exists():
        raise ConfigError(f"LISTD_ENV_FILE: no file {env_file}", key="LISTD_ENV_FILE")
    if env_file is not None and env_file.exists():
        out = read_env_file(env_file) | out
        # The unit's Environment=LISTD_SOURCES=/etc/listd/sources.toml: the file beside it.
        beside = env_file.parent / "sources.toml"
        if not out.get("LISTD_SOURCES") and beside.exists():
            out["LISTD_SOURCES"] = str(beside)
    else:
        env_file = None
    if any(out.get(name) for name in _EXPLICIT):
        return out
    if _service_user(service):
        return out | {"LISTD_STATE_DIR": str(service.state_dir)}
    default = default_state_dir(out)
    record = DaemonRecord.read(default / RECORD)
    # Running or stopped, the daemon's record names the store, unless that store is gone
    # (a pid alone proves nothing: it may have been reused).
    if record is not None and _has_store(record.state_dir):
        followed = {
            "LISTD_STATE_DIR": str(record.state_dir),
            "LISTD_KEY_PREFIX": record.key_prefix,
        }
        if record.sources:
            followed["LISTD_SOURCES"] = record.sources
        return followed | out
    if _has_store(default):
        return out
    if env_file is not None:
        another = f"the listd service is configured in {env_file}"
    elif service.state_dir.exists():
        another = f"the listd service keeps its store in {service.state_dir}"
    else:
        return out  # a fresh machine: the first command creates the store
    raise ConfigError(
        f"no listd store in {default}; this command would create a new, empty one there, "
        f"while {another}. Run it as the service's user (sudo -u {service.user} listd ...) "
        "or set LISTD_STATE_DIR (or LISTD_REDIS_URL) to the store you mean "
        '(docs/operations.md, "Which store a command uses")',
        key="LISTD_STATE_DIR",
    )


def record_daemon(env: dict[str, str], state_dir: Path, prefix: str) -> None:
    """For `listd run` on the embedded Redis: the record in the default state directory
    that leads this user's commands to its store. It stays after a stop, so a command run
    later still finds the store (and starts the server there)."""
    default = default_state_dir(env)
    record = {
        "pid": os.getpid(),
        "state_dir": str(state_dir.resolve()),
        "key_prefix": prefix,
        "sources": str(Path(env["LISTD_SOURCES"]).resolve()) if env.get("LISTD_SOURCES") else None,
    }
    try:
        default.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = default / f".{RECORD}.{os.getpid()}"
        temp.write_text(json.dumps(record), "utf-8")
        temp.replace(default / RECORD)
    except OSError as exc:
        # A read-only home: commands then need LISTD_STATE_DIR, as they always did.
        log.warning("daemon record not written", path=str(default / RECORD), error=str(exc))
