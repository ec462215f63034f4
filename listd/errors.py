"""One error hierarchy; the API maps it to JSON responses in one middleware."""

from __future__ import annotations

from typing import Any


class ListdError(Exception):
    """Base of every error listd raises on purpose."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def to_json(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.detail}


class ConfigError(ListdError):
    """Bad settings or source configuration, found at start-up."""

    code = "config_error"


class BadRequest(ListdError):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None, **detail: Any) -> None:
        if field is not None:
            detail["field"] = field
        super().__init__(message, **detail)


class Unauthorized(ListdError):
    status = 401
    code = "unauthorized"


class Forbidden(ListdError):
    status = 403
    code = "forbidden"


class NotFound(ListdError):
    status = 404
    code = "not_found"


class Conflict(ListdError):
    status = 409
    code = "conflict"


class Unavailable(ListdError):
    status = 503
    code = "unavailable"


class SourceError(ListdError):
    """A source could not be fetched or its document was rejected. Nothing stored changes."""

    status = 502
    code = "source_error"


class FetchError(SourceError):
    code = "fetch_failed"


class ValidationFailed(SourceError):
    """The document is not well-formed, truncated, or does not fit the schema."""

    code = "invalid_document"


class SyncInProgress(ListdError):
    status = 409
    code = "sync_in_progress"


class UnknownSource(NotFound):
    code = "unknown_source"
