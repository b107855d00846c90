"""Qdrant's failures, in this project's error families.

- Server over REST (qdrant-client raises ``UnexpectedResponse`` with the HTTP status, or
  ``ResourceExhaustedResponse`` for a 429 with Retry-After, or ``ResponseHandlingException``
  around a transport failure): 408/429/5xx and transport errors are transient (Retry-After
  honoured); 401/403 mean the API key is wrong (``ConfigError``); 404 is a missing collection
  (``IndexNotFound``); other 4xx refuse the payload (``PermanentError``).
- Server over gRPC (``grpc.RpcError``): UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
  ABORTED are transient; UNAUTHENTICATED/PERMISSION_DENIED configuration; NOT_FOUND a missing
  collection; the rest permanent.
- Local mode and the embedded engine raise plain exceptions; their messages are matched.

Messages pass through the caller's ``redact`` (the API key never leaves in an error).
"""

from __future__ import annotations

from collections.abc import Callable

from io_connectors.core.errors import (
    ConfigError,
    IndexNotFound,
    PermanentError,
    TransientError,
    VectorMigrateError,
)

Redact = Callable[[str], str]
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
TRANSIENT_GRPC = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"})
AUTH_GRPC = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})
LOCKED_HINT = (
    "an embedded Qdrant store can be open in one process only: run the migration with the "
    "in-memory runner (--direct_running_mode=in_memory), close the other program using it, or "
    "use a Qdrant server"
)


def _retry_after(value: object) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def translate_client_error(exc: Exception, what: str, collection: str | None, redact: Redact) -> Exception:
    """A qdrant-client exception (server or local mode) as one of ours; others are returned as is."""
    if isinstance(exc, VectorMigrateError):
        return exc
    from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    text = redact(f"qdrant: {what} failed: {exc}")
    if isinstance(exc, ResourceExhaustedResponse):
        return TransientError(text, retry_after=_retry_after(exc.retry_after_s))
    if isinstance(exc, UnexpectedResponse):
        return _from_status(exc.status_code, exc.headers.get("retry-after"), text, collection, what)
    if isinstance(exc, ResponseHandlingException):
        return _from_transport(exc.source, text)
    grpc_code = _grpc_code(exc)
    if grpc_code is not None:
        return _from_grpc(grpc_code, text, collection)
    return _from_message(exc, text, collection)


def translate_edge_error(exc: Exception, what: str, collection: str | None, redact: Redact) -> Exception:
    """An embedded-engine exception as one of ours."""
    if isinstance(exc, VectorMigrateError):
        return exc
    return _from_message(exc, redact(f"qdrant edge: {what} failed: {exc}"), collection)


def _from_status(
    status: int | None, retry_after: object, text: str, collection: str | None, what: str
) -> Exception:
    if status in TRANSIENT_STATUS:
        return TransientError(text, retry_after=_retry_after(retry_after))
    if status in (401, 403):
        return ConfigError(f"{text} (the server refused the credentials: check the API key)")
    if status == 404 and collection is not None:
        return IndexNotFound("qdrant", collection)
    if status == 404:
        return ConfigError(f"{text} (not found: check the URL and prefix)")
    return PermanentError(text)


def _from_transport(source: Exception, text: str) -> Exception:
    import httpx

    if isinstance(source, httpx.TransportError):
        return TransientError(text)
    return PermanentError(text)


def _grpc_code(exc: Exception) -> str | None:
    code = getattr(exc, "code", None)
    if not callable(code) or type(exc).__module__.split(".")[0] != "grpc":
        return None
    try:
        return code().name
    except Exception:
        return None


def _from_grpc(code: str, text: str, collection: str | None) -> Exception:
    if code == "RESOURCE_EXHAUSTED" and "larger than max" in text:
        return PermanentError(text)  # a message over the size cap: smaller requests will pass
    if code in TRANSIENT_GRPC:
        return TransientError(text)
    if code in AUTH_GRPC:
        return ConfigError(f"{text} (the server refused the credentials: check the API key)")
    if code == "NOT_FOUND" and collection is not None:
        return IndexNotFound("qdrant", collection)
    return PermanentError(text)


def _from_message(exc: Exception, text: str, collection: str | None) -> Exception:
    message = str(exc)
    lowered = message.lower()
    if "already accessed by another instance" in lowered or "wouldblock" in lowered:
        return ConfigError(f"{text}: the store is locked by another process or client; {LOCKED_HINT}")
    if collection is not None and ("not found" in lowered or "does not exist" in lowered):
        return IndexNotFound("qdrant", collection)
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return TransientError(text)
    return PermanentError(text)
