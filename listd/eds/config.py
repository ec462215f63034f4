"""EDS settings, read from `LISTD_EDS_*` (see docs/access.md, "Digital signatures")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from listd.errors import ConfigError

DEFAULT_NCALAYER = "wss://127.0.0.1:13579/"


@dataclass(frozen=True, slots=True)
class EdsSettings:
    # NCA root and intermediate certificates (PEM or DER files); None: EDS sign-in is off.
    trust_dir: Path | None = None
    # CRL files the operator keeps current (the NCA's full and delta CRLs); optional.
    crl_dir: Path | None = None
    # OCSP: ask the responder named in the certificate (AIA), or this URL instead.
    ocsp_url: str = ""
    ocsp_timeout: float = 5.0  # seconds; 0: never ask OCSP (CRL files only)
    # Neither OCSP nor a current CRL answered: refuse (default) or accept, journaled either way.
    unknown_revocation: str = "refuse"  # refuse | accept
    challenge_seconds: int = 120  # lifetime of a sign-in challenge (single use)
    session_minutes: int = 60  # lifetime of the credential a sign-in gives
    ncalayer_url: str = DEFAULT_NCALAYER  # what the console connects to

    @property
    def enabled(self) -> bool:
        return self.trust_dir is not None

    @classmethod
    def from_env(cls, env: dict[str, str]) -> EdsSettings:
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
        return cls(
            trust_dir=Path(trust).expanduser() if trust else None,
            crl_dir=Path(crl).expanduser() if crl else None,
            ocsp_url=env.get("LISTD_EDS_OCSP_URL", ""),
            ocsp_timeout=_number(env, "LISTD_EDS_OCSP_TIMEOUT", 5.0, 0, 60),
            unknown_revocation=policy,
            challenge_seconds=int(_number(env, "LISTD_EDS_CHALLENGE_SECONDS", 120, 10, 3600)),
            session_minutes=int(_number(env, "LISTD_EDS_SESSION_MINUTES", 60, 1, 24 * 60)),
            ncalayer_url=ncalayer,
        )


def _number(env: dict[str, str], key: str, default: float, lo: float, hi: float) -> float:
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
