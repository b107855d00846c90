"""Several requests in flight on a small thread pool, with every retry counted.

Beam counters live in the thread that runs the DoFn, so a retry made on a pool thread would go
uncounted. Here first attempts run on the pool and a call that failed transiently is retried
from the calling thread (``with_retries``: backoff, the server's Retry-After, the ``retries``
counter). Results come back in submission order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from io_connectors.core.retry import with_retries

T = TypeVar("T")


class InFlight:
    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None

    def run(self, calls: Iterable[Callable[[], T]], what: str, depth: int) -> Iterator[T]:
        """Results of ``calls`` in order, with up to ``depth`` of them running at once.

        ``calls`` is consumed lazily, ``depth`` ahead of the results taken.
        """
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="pinecone")
        pending: deque[tuple[Future[T], Callable[[], T]]] = deque()
        for call in calls:
            pending.append((self._pool.submit(call), call))
            if len(pending) >= depth:
                yield _settle(*pending.popleft(), what)
        while pending:
            yield _settle(*pending.popleft(), what)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _settle(first: Future[T], call: Callable[[], T], what: str) -> T:
    attempts: list[Callable[[], T]] = [first.result]
    return with_retries(lambda: (attempts.pop() if attempts else call)(), what)
