"""Milvus' failures, in this project's error families.

pymilvus raises ``MilvusException`` (with the server's error ``code``, its ``retriable`` flag
and whether the server judged the request malformed, ``is_input_error``), a few subclasses of
it for client-side problems, and ``grpc.RpcError`` when the transport fails. In order:

- code 100 / "collection not found" -> ``IndexNotFound``;
- authentication refused (gRPC UNAUTHENTICATED/PERMISSION_DENIED, server codes 1800-1899, or
  a message saying so) -> ``ConfigError``;
- a milvus-lite file another process holds ("Open local milvus failed") -> ``ConfigError``;
- the server's ``retriable`` flag, rate limiting (code 8), ``MilvusUnavailableException``,
  gRPC UNAVAILABLE/DEADLINE_EXCEEDED/RESOURCE_EXHAUSTED/ABORTED, timeouts -> ``TransientError``;
- everything else (malformed data, type mismatches) -> ``PermanentError``: the same request will
  never pass, and the caller bisects the batch to name the records.

Messages pass through the caller's ``redact`` so a token never leaves in an error.
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
COLLECTION_NOT_FOUND = 100
RATE_LIMIT = 8
AUTH_CODES = range(1800, 1900)
TRANSIENT_GRPC = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"})
AUTH_GRPC = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})
LOCKED_HINT = (
    "a milvus-lite file can be open in one process only: run the migration with the in-memory "
    "runner (--direct_running_mode=in_memory), close the other program using it, or use a Milvus "
    "server"
)


def translate(exc: BaseException, what: str, collection: str | None, redact: Redact) -> Exception:
    """``exc`` as one of our errors (ours pass through unchanged)."""
    if isinstance(exc, VectorMigrateError):
        return exc
    message = getattr(exc, "message", None) or str(exc)
    text = redact(f"milvus: {what} failed: {message}")
    lowered = message.lower()
    grpc_code = _grpc_code(exc)
    if grpc_code is not None:
        if grpc_code in AUTH_GRPC:
            return ConfigError(f"{text} (the server refused the credentials: check the token)")
        if grpc_code in TRANSIENT_GRPC:
            return TransientError(text)
        return PermanentError(text)
    code = getattr(exc, "code", None)
    if collection is not None and (
        code == COLLECTION_NOT_FOUND
        or "collection not found" in lowered
        or "can't find collection" in lowered
    ):
        return IndexNotFound("milvus", collection)
    if (isinstance(code, int) and code in AUTH_CODES) or ("auth" in lowered and "fail" in lowered):
        return ConfigError(f"{text} (the server refused the credentials: check the token)")
    if "open local milvus failed" in lowered:
        return ConfigError(f"{text}: the file is locked by another process or unreadable; {LOCKED_HINT}")
    if _is_transient(exc, code, lowered):
        return TransientError(text)
    return PermanentError(text)


def _is_transient(exc: BaseException, code: object, lowered: str) -> bool:
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    if getattr(exc, "retriable", False) or code == RATE_LIMIT:
        return True
    if type(exc).__name__ in ("MilvusUnavailableException", "ConnectError"):
        return True
    return "rate limit" in lowered or "deadline exceeded" in lowered or "unavailable" in lowered


def _grpc_code(exc: BaseException) -> str | None:
    import grpc

    code = getattr(exc, "code", None)
    if not isinstance(exc, grpc.RpcError) or not callable(code):
        return None
    try:
        return code().name
    except Exception:
        return None
