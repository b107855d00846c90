"""The ``pinecone`` SDK's exceptions translated into the project's error families.

- 429 ``RateLimitError`` -> ``TransientError`` carrying the server's Retry-After;
- 5xx ``ServiceError``, 408, connection errors, timeouts, unreadable responses ->
  ``TransientError`` (with Retry-After when the server sent one);
- 401 ``UnauthorizedError`` -> ``ConfigError``: the API key was refused;
- 402 / 403 -> ``ConfigError``: the project refuses the call;
- 404 ``NotFoundError`` -> ``IndexNotFound`` when an index is named, else ``ConfigError``;
- other 4xx (400, 409, 412, 413, 422) and the SDK's client-side checks -> ``RecordRejected``
  for the records the message quotes, else ``PermanentError`` (which the pipeline bisects).

Messages keep the server's words and status, with secrets redacted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from pinecone import (
    ApiError,
    ForbiddenError,
    NotFoundError,
    PaymentRequiredError,
    PineconeConnectionError,
    PineconeTimeoutError,
    PineconeTypeError,
    PineconeValueError,
    RateLimitError,
    ResponseParsingError,
    ServiceError,
    UnauthorizedError,
)

from io_connectors.core.errors import (
    ConfigError,
    IndexNotFound,
    PermanentError,
    RecordRejected,
    TransientError,
    VectorMigrateError,
)

PROVIDER = "pinecone"


def translate(
    exc: Exception,
    what: str,
    index: str | None = None,
    ids: Sequence[str] = (),
    redact: Callable[[str], str] = str,
) -> VectorMigrateError | None:
    """The project error for an SDK exception raised while doing ``what``; None if not the SDK's.

    ``ids`` are the records the failed request carried: a refusal whose message quotes some of
    them becomes ``RecordRejected`` for exactly those. Every message passes through ``redact``.
    """
    if isinstance(exc, RateLimitError):
        return TransientError(redact(f"{PROVIDER} {what}: throttled ({_describe(exc)})"), exc.retry_after)
    if isinstance(exc, ServiceError) or (isinstance(exc, ApiError) and exc.status_code == 408):
        return TransientError(redact(f"{PROVIDER} {what}: {_describe(exc)}"), _retry_after(exc.headers))
    if isinstance(exc, PineconeConnectionError | PineconeTimeoutError | ResponseParsingError):
        return TransientError(redact(f"{PROVIDER} {what}: {type(exc).__name__}: {exc}"))
    if isinstance(exc, UnauthorizedError):
        return ConfigError(
            redact(
                f"{PROVIDER} {what}: the API key was refused (401 {exc.message}); set the right key "
                "in PINECONE_API_KEY (or the variable named by the api_key_env option)"
            )
        )
    if isinstance(exc, ForbiddenError | PaymentRequiredError):
        return ConfigError(redact(f"{PROVIDER} {what}: refused by the project ({_describe(exc)})"))
    if isinstance(exc, NotFoundError):
        if index is not None:
            return IndexNotFound(PROVIDER, index)
        return ConfigError(redact(f"{PROVIDER} {what}: not found ({_describe(exc)})"))
    if isinstance(exc, ApiError):
        return refusal(redact(f"{PROVIDER} {what}: refused ({_describe(exc)})"), exc.message, ids)
    if isinstance(exc, PineconeValueError | PineconeTypeError):
        return refusal(redact(f"{PROVIDER} {what}: the SDK refused the request: {exc}"), str(exc), ids)
    return None


def refusal(text: str, server_message: str, ids: Sequence[str]) -> PermanentError:
    """``RecordRejected`` for the ids the server's message quotes, else ``PermanentError``."""
    named = [i for i in ids if f"'{i}'" in server_message or f'"{i}"' in server_message]
    if named:
        return RecordRejected({i: text for i in named})
    return PermanentError(text)


def _describe(exc: ApiError) -> str:
    return f"{exc.status_code} {exc.message}".strip()


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value)
            except ValueError:
                return None
            return seconds if seconds >= 0 else None
    return None
