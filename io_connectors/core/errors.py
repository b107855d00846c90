"""Error families every connector translates its vendor's exceptions into.

- ``ConfigError``: the job cannot run as configured (bad URI, missing index, missing extra,
  wrong credentials). Raised before or instead of moving data; the message says what to do.
- ``TransientError``: worth retrying (timeouts, throttling, 5xx, lost connections).
- ``PermanentError``: this payload will never be accepted; its records are dead-lettered and the
  migration carries on.
- ``RecordRejected``: a permanent error that names exactly which records were refused and why.
"""

from __future__ import annotations

from collections.abc import Mapping


class VectorMigrateError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(VectorMigrateError):
    """The job or client is configured in a way that cannot work."""


class MissingExtraError(ConfigError):
    """A provider's optional dependencies are not installed."""

    def __init__(self, provider: str, extra: str, missing: str) -> None:
        super().__init__(
            f"the {provider!r} provider needs the {missing!r} package: pip install 'vector-migrate[{extra}]'"
        )


class IndexNotFound(ConfigError):
    def __init__(self, provider: str, index: str) -> None:
        super().__init__(f"{provider}: index {index!r} does not exist")
        self.index = index


class TransientError(VectorMigrateError):
    """Retry with backoff; ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(VectorMigrateError):
    """The target refuses this payload; retrying the same request cannot help.

    ``reason`` is the refusal without what is specific to the records sent (a database error's
    primary message, without the failing row): two refusals with the same ``reason`` are the
    same refusal, which is how the writer tells a batch-wide refusal from a record's.
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


class RecordRejected(PermanentError):
    """Some records of a batch were refused, each with its reason (id -> reason)."""

    def __init__(self, reasons: Mapping[object, str]) -> None:
        self.reasons = dict(reasons)
        sample = "; ".join(f"{k!r}: {v}" for k, v in list(self.reasons.items())[:3])
        more = f" (and {len(self.reasons) - 3} more)" if len(self.reasons) > 3 else ""
        super().__init__(
            f"{len(self.reasons)} record(s) rejected: {sample}{more}",
            "; ".join(sorted(set(self.reasons.values()))),
        )


class IntegrityError(VectorMigrateError):
    """Counts that must agree do not: a record may have been lost or duplicated."""
