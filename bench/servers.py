"""The Redis a benchmark runs on: LISTD_REDIS_URL, or an embedded server for its run."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from listd.embedded import EmbeddedRedis


@contextlib.contextmanager
def redis_url(directory: Path) -> Iterator[str]:
    """LISTD_REDIS_URL, or the URL of an embedded server kept in `directory` (started
    here, stopped when the block ends)."""
    configured = os.environ.get("LISTD_REDIS_URL")
    if configured:
        yield configured
        return
    server = EmbeddedRedis(directory)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
