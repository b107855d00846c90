"""Retrying transient failures with capped exponential backoff and the server's Retry-After."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from apache_beam.metrics import Metrics

from io_connectors.core.errors import TransientError
from io_connectors.core.secrets import mask_uri

T = TypeVar("T")
LOG = logging.getLogger(__name__)
METRICS_NAMESPACE = "vector_migrate"
_RETRIES = Metrics.counter(METRICS_NAMESPACE, "retries")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    base_delay: float = 0.1
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        backoff = min(self.max_delay, self.base_delay * (2**attempt))
        return backoff * (0.5 + random.random() / 2)


def with_retries(
    call: Callable[[], T],
    what: str,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``; on ``TransientError`` wait and try again, up to ``policy.attempts`` times.

    Every retry increments the ``vector_migrate/retries`` Beam counter (a no-op outside a
    pipeline), so retries show in the job's metrics.
    """
    for attempt in range(policy.attempts):
        try:
            return call()
        except TransientError as exc:
            if attempt == policy.attempts - 1:
                raise
            pause = policy.delay(attempt, exc.retry_after)
            _RETRIES.inc()
            LOG.info("%s failed (%s); retry %d in %.2fs", what, mask_uri(str(exc)), attempt + 1, pause)
            sleep(pause)
    raise AssertionError("unreachable")
