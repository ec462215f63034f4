"""The terms of use every credential accepts before it may do anything else.

The packaged text is `terms.txt` beside this module; `LISTD_TERMS_FILE` replaces it.
Its version is a digest of the text, so changing one word asks everyone to accept again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from listd.errors import ConfigError

DEFAULT_TERMS = resources.files("listd.access").joinpath("terms.txt").read_text("utf-8")


@dataclass(frozen=True, slots=True)
class Terms:
    text: str
    version: str  # first 16 hex of the sha256 of the text

    @classmethod
    def of(cls, text: str) -> Terms:
        return cls(text, hashlib.sha256(text.encode()).hexdigest()[:16])

    @classmethod
    def load(cls, path: Path | None) -> Terms:
        """The terms in `path`, or the packaged text."""
        if path is None:
            return cls.of(DEFAULT_TERMS)
        try:
            return cls.of(path.read_text("utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read LISTD_TERMS_FILE {path}: {exc.strerror}") from exc


TERMS = Terms.of(DEFAULT_TERMS)
