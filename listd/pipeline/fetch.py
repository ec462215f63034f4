"""HTTP fetching of list files: conditional GET, redirects, timeouts, bounded retries.

An unchanged list costs one request answered 304 (or, for servers that ignore
validators, one download whose sha256 matches the last one, and no parsing).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import aiohttp

from listd.errors import FetchError, SourceRefused
from listd.logs import get_logger

log = get_logger(__name__)

_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
_MAX_RETRY_AFTER = 300.0


@dataclass(frozen=True, slots=True)
class Fetched:
    """The outcome of one successful fetch."""

    url: str  # final URL after redirects (never reused: signed URLs expire)
    status: int  # 200 or 304
    body: bytes | None
    etag: str | None
    last_modified: str | None
    content_type: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.body).hexdigest() if self.body is not None else None


async def read_limited(
    stream: aiohttp.StreamReader, max_bytes: int, too_large: Callable[[], Exception]
) -> bytes:
    """The whole body, raising `too_large()` once it passes `max_bytes`. (`read(n)` would
    answer with what has arrived so far, not the body.)"""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream.iter_chunked(1 << 16):
        size += len(chunk)
        if size > max_bytes:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return min(float(value), _MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    import time

    return max(0.0, min(when.timestamp() - time.time(), _MAX_RETRY_AFTER))


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout_s: float = 120.0,
    retries: int = 3,
    max_bytes: int = 200 * 1024 * 1024,
    backoff: float = 1.0,
) -> Fetched:
    """GET `url`, retrying network errors, timeouts, truncated bodies, 5xx and 429."""
    request_headers = dict(headers or {})
    if etag:
        request_headers["If-None-Match"] = etag
    if last_modified:
        request_headers["If-Modified-Since"] = last_modified
    last_error = "no attempt made"
    for attempt in range(retries + 1):
        delay: float | None = None
        try:
            return await _get_once(session, url, request_headers, timeout_s, max_bytes)
        except _Retry as exc:
            last_error = exc.reason
            delay = exc.retry_after
        except (aiohttp.ClientError, TimeoutError) as exc:
            # ClientPayloadError lands here too: the body ended before Content-Length.
            last_error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        if attempt == retries:
            break
        if delay is None:
            delay = backoff * (2**attempt) * (0.5 + random.random())  # noqa: S311 - jitter
        log.warning("fetch retry", url=url, attempt=attempt + 1, error=last_error, delay=delay)
        await asyncio.sleep(delay)
    raise FetchError(f"fetching {url} failed after {retries + 1} attempts: {last_error}", url=url)


class _Retry(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


async def _get_once(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    timeout_s: float,
    max_bytes: int,
) -> Fetched:
    client_timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(timeout_s, 30.0))
    async with session.get(
        url, headers=headers, timeout=client_timeout, allow_redirects=True, max_redirects=10
    ) as resp:
        final = str(resp.url)
        if resp.status == 304:
            return Fetched(final, 304, None, resp.headers.get("ETag"), None, None)
        if resp.status in _RETRY_STATUS:
            raise _Retry(f"HTTP {resp.status}", _retry_after(resp.headers.get("Retry-After")))
        if resp.status == 403:
            # Firewalls in front of list publishers answer 403 to clients they do not like
            # (OFAC's, July 2026: any User-Agent not browser-like); retrying will not help.
            raise SourceRefused(
                f"the source refused this client (HTTP 403); see the User-Agent setting "
                f"(user_agent in the source's configuration): {final}",
                url=url,
                http=403,
            )
        if resp.status != 200:
            raise FetchError(
                f"fetching {url} failed: HTTP {resp.status}", url=url, http=resp.status
            )
        declared = resp.content_length
        if declared is not None and declared > max_bytes:
            raise FetchError(f"{url} is {declared} bytes, over the {max_bytes} limit", url=url)
        body = await read_limited(
            resp.content,
            max_bytes,
            lambda: FetchError(f"{url} is over the {max_bytes} byte limit", url=url),
        )
        if declared is not None and len(body) != declared:
            raise _Retry(f"truncated body: {len(body)} of {declared} bytes")
        return Fetched(
            url=final,
            status=200,
            body=body,
            etag=resp.headers.get("ETag"),
            last_modified=resp.headers.get("Last-Modified"),
            content_type=resp.headers.get("Content-Type"),
        )
