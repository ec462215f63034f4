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


class PayloadTooLarge(ListdError):
    status = 413
    code = "payload_too_large"


class Gone(ListdError):
    status = 410
    code = "gone"


class Unavailable(ListdError):
    status = 503
    code = "unavailable"


class PartitionsMismatch(Unavailable):
    """This API's LISTD_DISPATCH_PARTITIONS differs from the count recorded in Redis: what
    it filed would be in partitions no dispatcher worker serves, so it files nothing."""

    code = "partitions_mismatch"


class SourceError(ListdError):
    """A source could not be fetched or its document was rejected. Nothing stored changes."""

    status = 502
    code = "source_error"


class FetchError(SourceError):
    code = "fetch_failed"


class SourceRefused(FetchError):
    """The publisher (or a firewall before it) refused this client: HTTP 403, or an HTML page."""

    code = "source_refused"


class ValidationFailed(SourceError):
    """The document is not well-formed, truncated, or does not fit the schema."""

    code = "invalid_document"


class SyncInProgress(ListdError):
    status = 409
    code = "sync_in_progress"


class UnknownSource(NotFound):
    code = "unknown_source"


class PingFailed(ListdError):
    """A subscription's test delivery did not get a 2xx answer; it stays pending."""

    status = 502
    code = "ping_failed"


# --- access control (listd.access, listd.audit) --------------------------------------------
class RetryLater(ListdError):
    """A refusal that ends by itself; the API sends `retry_after` as a Retry-After header."""

    def __init__(self, message: str, retry_after: int, **detail: Any) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, retry_after=self.retry_after, **detail)


class RateLimited(RetryLater):
    status = 429
    code = "rate_limited"


class Maintenance(RetryLater):
    """An announced maintenance window is running."""

    status = 503
    code = "maintenance"


class AgreementRequired(Forbidden):
    """The credential has not accepted the current terms of use (POST /v1/agreement)."""

    code = "agreement_required"


class Blocked(Forbidden):
    """The key or its user was blocked by an operator."""

    code = "blocked"


class JournalUnavailable(Unavailable):
    """The journal could not be written, so the request's answer is withheld."""

    code = "journal_unavailable"


class StoreUnavailable(Unavailable):
    """Redis is unreachable and the answer needs it (or the credential was not seen
    recently enough to be admitted from memory)."""

    code = "store_unavailable"
