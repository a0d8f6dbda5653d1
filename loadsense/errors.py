"""The one exception root of Loadsense.

Every error raised on purpose carries a stable machine ``code``, an HTTP ``status``
and a message that is safe to show to a client (no paths, SQL or versions). Turning
an error into an HTTP response is one pure function, :func:`http_error_body`.
"""

from __future__ import annotations

from typing import Any


class LoadsenseError(Exception):
    """Root of every deliberate Loadsense error."""

    code: str = "internal"
    status: int = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ConfigError(LoadsenseError):
    """A setting, flag or configuration file is invalid."""

    code = "config"


class StorageError(LoadsenseError):
    """ClickHouse could not be reached or refused a statement."""

    code = "storage"
    status = 503


class StorageLockedError(StorageError):
    """Another process owns the embedded chDB data directory."""

    code = "storage_locked"


class InvalidInput(LoadsenseError):
    """The request body is malformed or fails validation; nothing of it is stored."""

    code = "invalid"
    status = 400


class PayloadTooLarge(LoadsenseError):
    code = "too_large"
    status = 413


class UnsupportedMediaType(LoadsenseError):
    code = "unsupported_media_type"
    status = 415


class RequestTimeout(LoadsenseError):
    """The client sent its request head or body too slowly."""

    code = "request_timeout"
    status = 408


class URITooLong(LoadsenseError):
    code = "uri_too_long"
    status = 414


class HeadersTooLarge(LoadsenseError):
    code = "headers_too_large"
    status = 431


class TooManyConnections(LoadsenseError):
    """The server holds its maximum number of connections; retry later."""

    code = "too_many_connections"
    status = 503


class Unauthorized(LoadsenseError):
    code = "unauthorized"
    status = 401


class NotFound(LoadsenseError):
    code = "not_found"
    status = 404


class Backpressure(LoadsenseError):
    """The write queue is full or shutting down; the client should retry later."""

    code = "backpressure"
    status = 503

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WriteFailed(LoadsenseError):
    """A batch insert failed; none of the request's rows are acknowledged."""

    code = "write_failed"
    status = 503


SHOWN_CHARS = 64
"""Most characters of a client's value an error message echoes."""


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``value`` quoted for an error message, cut to ``limit`` characters (cut before
    ``repr``, so a megabyte of input costs nothing to echo)."""
    if isinstance(value, str | bytes) and len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit + 2 else text[:limit] + "..."


def http_error_body(err: LoadsenseError) -> dict[str, Any]:
    """The JSON body sent for ``err``: code, message and, when known, the field."""
    body: dict[str, Any] = {"error": err.code, "message": err.message}
    if err.field is not None:
        body["field"] = err.field
    return body


def http_error_headers(err: LoadsenseError) -> dict[str, str]:
    """Headers that go with ``err``: ``Retry-After`` on backpressure, auth challenge on 401."""
    if isinstance(err, Backpressure):
        return {"Retry-After": str(max(1, round(err.retry_after)))}
    if isinstance(err, TooManyConnections):
        return {"Retry-After": "1", "Connection": "close"}
    if isinstance(err, RequestTimeout | URITooLong | HeadersTooLarge):
        return {"Connection": "close"}
    if isinstance(err, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    return {}
