"""LanceDB's failures, in this project's error families.

LanceDB's Python binding raises plain built-in exceptions (its ``python/src/error.rs`` maps the
Rust error kinds): ``ValueError`` for invalid input, schema errors, a missing table or a table
that already exists; ``OSError``/``IOError`` for object-store and directory failures;
``NotImplementedError`` for unsupported operations; ``RuntimeError`` for the rest, including
commit conflicts between concurrent writers that LanceDB's own retries did not resolve. Lance
(pylance) raises the same kinds. Messages pass through the caller's ``redact``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from io_connectors.core.errors import (
    ConfigError,
    IndexNotFound,
    PermanentError,
    TransientError,
    VectorMigrateError,
)

T = TypeVar("T")
Redact = Callable[[str], str]
TRANSIENT_HINTS = (
    "conflict",
    "retry",
    "retryable",
    "timed out",
    "timeout",
    "too many",
    "temporar",
    "connection",
)
MISSING_HINTS = ("not found", "does not exist", "no such file")


def translate(exc: BaseException, what: str, table: str | None, redact: Redact = str) -> BaseException:
    """A LanceDB/Lance exception as one of ours; programming errors are returned unchanged."""
    if isinstance(exc, VectorMigrateError):
        return exc
    message = redact(f"lancedb: {what} failed: {exc}")
    lowered = str(exc).lower()
    if isinstance(exc, NotImplementedError):
        return ConfigError(message)
    missing = any(h in lowered for h in MISSING_HINTS) and ("table" in lowered or "dataset" in lowered)
    if table and (isinstance(exc, FileNotFoundError) or (isinstance(exc, ValueError) and missing)):
        return IndexNotFound("lancedb", table)
    if isinstance(exc, ValueError):
        if "already exists" in lowered:
            return ConfigError(message)
        return PermanentError(message)
    if isinstance(exc, OSError):
        return TransientError(message)
    if isinstance(exc, RuntimeError):
        if any(h in lowered for h in TRANSIENT_HINTS):
            return TransientError(message)
        return PermanentError(message)
    return exc


def call(operation: Callable[[], T], what: str, table: str | None, redact: Redact = str) -> T:
    """Run one LanceDB call, raising its failure as one of our error families."""
    try:
        return operation()
    except Exception as exc:  # translated at the boundary; unknown kinds re-raised as they are
        translated = translate(exc, what, table, redact)
        if translated is exc:
            raise
        raise translated from exc
