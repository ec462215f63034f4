"""EDS settings, read from `LISTD_EDS_*` by `listd.settings` (see docs/access.md, "Digital
signatures")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
