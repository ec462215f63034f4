"""Request-body and query checks that name the offending field in the 400 answer."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from listd.errors import BadRequest, PayloadTooLarge
from listd.pipeline.fetch import read_limited
from listd.screening.query import (
    BIRTH_DATE_FORMS,
    check_name,
    parse_birth_date,
    utc_today,
)

DEFAULT_MAX_BODY = 1024 * 1024


async def json_object(request: web.Request, max_bytes: int = DEFAULT_MAX_BODY) -> dict[str, Any]:
    """The body as a JSON object, refusing bodies over `max_bytes` with 413."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(f"body is over {max_bytes} bytes", field="body", limit=max_bytes)
    raw = await read_limited(
        request.content,
        max_bytes,
        lambda: PayloadTooLarge(f"body is over {max_bytes} bytes", field="body", limit=max_bytes),
    )
    return parse_object(raw)


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]", re.ASCII)


def parse_object(raw: bytes, field: str = "body") -> dict[str, Any]:
    """`raw` as a JSON object; 400 for what json.loads takes but nothing after can use."""
    try:
        body = json.loads(raw)
    except ValueError as exc:  # also UnicodeDecodeError, and integers over 4,300 digits
        raise BadRequest(f"{field} is not valid JSON: {exc}", field=field) from None
    except RecursionError:
        raise BadRequest(f"{field} is nested too deeply", field=field) from None
    if not isinstance(body, dict):
        raise BadRequest(f"{field} must be a JSON object", field=field)
    if _SURROGATE_ESCAPE.search(raw):
        check_text(body, field)
    return body


def check_text(value: Any, field: str) -> None:
    """400 if `value` holds an unpaired UTF-16 surrogate (JSON allows the escape; UTF-8,
    and so Redis and the journal, cannot hold it)."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise BadRequest(
            f"{field} holds an unpaired surrogate (\\ud800-\\udfff)", field=field
        ) from None


def reject_unknown(body: dict[str, Any], allowed: set[str]) -> None:
    for key in sorted(body):
        if key not in allowed:
            raise BadRequest(f"unknown field {key!r}", field=key)


def string(
    body: dict[str, Any],
    key: str,
    *,
    required: bool = False,
    max_len: int = 500,
    strip: bool = True,
) -> str | None:
    """The string at `key`; with `strip` False, exactly as sent (a URL is refused, not mended)."""
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(f"{key} is required", field=key)
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string", field=key)
    if strip:
        value = value.strip()
    if required and not value:
        raise BadRequest(f"{key} must not be empty", field=key)
    if len(value) > max_len:
        raise BadRequest(f"{key} is longer than {max_len} characters", field=key)
    return value or None


def choice(body: dict[str, Any], key: str, options: tuple[str, ...]) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if value not in options:
        raise BadRequest(f"{key} must be one of {', '.join(options)} or null", field=key)
    return str(value)


def integer(body: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{key} must be an integer", field=key)
    if not lo <= value <= hi:
        raise BadRequest(f"{key} must be between {lo} and {hi}", field=key)
    return value


def number(body: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{key} must be a number", field=key)
    if not lo <= value <= hi:
        raise BadRequest(f"{key} must be between {lo} and {hi}", field=key)
    return float(value)


def name(body: dict[str, Any], key: str = "name") -> str:
    """The required name to screen: a string with at least one letter or digit."""
    value = string(body, key, required=True) or ""
    try:
        return check_name(value)
    except ValueError as exc:
        raise BadRequest(str(exc).replace("name", key, 1), field=key) from None


def birth_date(body: dict[str, Any], key: str = "birth_date") -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string {BIRTH_DATE_FORMS}", field=key)
    try:
        return parse_birth_date(value, utc_today())
    except ValueError as exc:
        raise BadRequest(str(exc).replace("birth_date", key, 1), field=key) from None


def string_list(body: dict[str, Any], key: str) -> tuple[str, ...]:
    value = body.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{key} must be a list of strings", field=key)
    return tuple(v.strip() for v in value if v.strip())


def query_int(request: web.Request, key: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{key} must be an integer", field=key) from None
    if not lo <= value <= hi:
        raise BadRequest(f"{key} must be between {lo} and {hi}", field=key)
    return value


def query_choice(request: web.Request, key: str, options: tuple[str, ...]) -> str | None:
    """A query parameter that is absent, empty, or one of `options`."""
    raw = request.query.get(key) or None
    if raw is not None and raw not in options:
        raise BadRequest(f"{key} must be one of {', '.join(options)}", field=key)
    return raw
