"""How the CLI shows a running migration: a live bar on a terminal, plain lines elsewhere.

On a terminal, ``rich`` draws one overall bar (rate, ETA, failures counted live) and one line per
target namespace when there are several; whatever else writes to the terminal meanwhile is
printed above the bars, never through them. Off a terminal (CI, ETL logs) a plain progress line
is printed every ``interval`` seconds and once at the end.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from pipelines.progress_terminal import TerminalProgress


class PeriodicProgress:
    """Plain progress lines, at most one every ``interval`` seconds, and a last one at the end."""

    def __init__(self, stream: TextIO, interval: float = 10.0) -> None:
        self._stream = stream
        self._interval = interval
        self._last_printed = 0.0
        self._latest: dict[str, Any] | None = None
        self._printed: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> PeriodicProgress:
        self._last_printed = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            if self._latest is not None and self._latest is not self._printed:
                self._print(self._latest)

    def __call__(self, stats: dict[str, Any]) -> None:
        with self._lock:
            self._latest = stats
            if time.monotonic() - self._last_printed >= self._interval:
                self._print(stats)

    def _print(self, stats: dict[str, Any]) -> None:
        self._last_printed = time.monotonic()
        self._printed = stats
        done = stats["migrated"] + stats["failed"]
        line = (
            f"progress: {stats['percentage']:5.1f}% {done:,}/{stats['total']:,} vectors, "
            f"{stats['vectors_per_second']:,.0f} vectors/s, {stats['failed']:,} failed, "
            f"{stats['elapsed_seconds']:.0f}s elapsed"
        )
        namespaces = stats.get("namespaces", {})
        if len(namespaces) > 1:
            parts = (
                f"{name!r} {c['migrated'] + c['failed']:,}/{c['total']:,}" for name, c in namespaces.items()
            )
            line += f" [{', '.join(parts)}]"
        print(line, file=self._stream, flush=True)


def progress_display(stream: TextIO, interval: float) -> TerminalProgress | PeriodicProgress:
    if not stream.isatty():
        return PeriodicProgress(stream, interval)
    from pipelines.progress_terminal import TerminalProgress

    return TerminalProgress(stream)
