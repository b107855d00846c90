"""The live terminal bars of the CLI (``rich``), imported only when stderr is a terminal: rich
costs about a tenth of a second to import, which a run in CI or a script should not pay."""

from __future__ import annotations

import threading
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)


class TerminalProgress:
    """Live bars; call it with the stats dicts ``Migration.migrate`` reports."""

    def __init__(self, stream: TextIO) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[failed]}"),
            console=Console(file=stream),
            redirect_stdout=True,
            redirect_stderr=True,
        )
        self._overall: TaskID | None = None
        self._namespaces: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> TerminalProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, stats: dict[str, Any]) -> None:
        with self._lock:
            done = stats["migrated"] + stats["failed"]
            fields = {
                "rate": f"{stats['vectors_per_second']:,.0f} vectors/s",
                "failed": _failed(stats["failed"]),
            }
            if self._overall is None:
                self._overall = self._progress.add_task("migrating", total=stats["total"] or None, **fields)
            self._progress.update(self._overall, completed=done, **fields)
            namespaces = stats.get("namespaces", {})
            if len(namespaces) < 2:
                return
            for name, counts in sorted(namespaces.items()):
                ns_fields = {"rate": "", "failed": _failed(counts["failed"])}
                if name not in self._namespaces:
                    label = f"  {name!r}" if name else "  (default)"
                    self._namespaces[name] = self._progress.add_task(
                        label, total=counts["total"] or None, **ns_fields
                    )
                self._progress.update(
                    self._namespaces[name], completed=counts["migrated"] + counts["failed"], **ns_fields
                )


def _failed(count: int) -> str:
    return f"[red]{count:,} failed[/red]" if count else "0 failed"
