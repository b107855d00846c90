"""Chroma's failures, in this project's error families.

chromadb raises ``ChromaError`` subclasses for what the server (or the embedded engine) refuses,
each with an HTTP-like ``code()``: ``NotFoundError`` (404) is a missing collection, tenant or
database; ``ChromaAuthError``/``AuthorizationError`` (401/403) wrong credentials;
``RateLimitError`` (429) and ``InternalError`` (500) may pass later; ``InvalidArgumentError``,
``DuplicateIDError``, ``InvalidDimensionException`` and other 4xx refuse the payload. Its client
validates requests before sending them and raises plain ``ValueError``/``TypeError`` for what it
refuses (metadata types, empty metadata, integers beyond 64 bits): those refuse the payload too.
Transport failures (``httpx.TransportError``: refused connection, timeout) are transient, and so
is a response that is not a Chroma error (a proxy's 502). The client's connection check on
creation raises ``ValueError("Could not connect to tenant ...")``: a configuration error.

Messages pass through the caller's ``redact`` (credentials never leave in an error).
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
TRANSIENT_CODES = frozenset({408, 429, 500, 502, 503, 504})
UNREACHABLE_HINT = "is the server running, and are host, port, tenant and database right?"


def translate(exc: BaseException, what: str, collection: str | None, redact: Redact) -> Exception:
    """A chromadb (or transport) exception as one of ours; ours pass through unchanged."""
    if isinstance(exc, VectorMigrateError):
        return exc
    import httpx
    from chromadb.errors import ChromaError, NotFoundError

    text = redact(f"chroma: {what} failed: {exc}")
    if isinstance(exc, NotFoundError):
        if collection is not None and "collection" in str(exc).lower():
            return IndexNotFound("chroma", collection)
        return ConfigError(f"{text} (check the tenant, database and collection names)")
    if isinstance(exc, ChromaError):
        return _from_code(exc.code(), text)
    if isinstance(exc, httpx.TransportError):
        return TransientError(f"{text} ({UNREACHABLE_HINT})")
    if isinstance(exc, httpx.HTTPStatusError):
        return _from_code(exc.response.status_code, text)
    if isinstance(exc, (ValueError, TypeError)):
        if "could not connect" in str(exc).lower():
            return ConfigError(f"{text} ({UNREACHABLE_HINT})")
        return PermanentError(text)
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return TransientError(text)
    if type(exc) is Exception:  # what the client raises for a response that is no Chroma error
        return TransientError(text)
    return PermanentError(text)


def _from_code(code: int, text: str) -> Exception:
    if code in TRANSIENT_CODES:
        return TransientError(text)
    if code in (401, 403):
        return ConfigError(f"{text} (the server refused the credentials: check the API key or password)")
    return PermanentError(text)
