"""Live progress for runs whose ``run()`` blocks (Beam's local runners).

Writers send a small UDP datagram to the driver on loopback after every chunk (the target
namespace and the written and failed counts); a listener thread in the driver adds them up, per
namespace and in all, and calls ``on_progress``. Works for in-process and
multi-process local runners alike. Remote runners (Dataflow, Flink) report through Beam
metrics instead, polled by ``pipelines.migration``.
"""

from __future__ import annotations

import math
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ProgressCallback = Callable[[dict[str, Any]], None]
_HEADER = struct.Struct("!16sQQ")  # token, written, failed; the namespace (UTF-8) follows
_MAX_DATAGRAM = 65_507


@dataclass
class UdpProgressSink:
    """The worker side (picklable): ``report`` sends written/failed counts to the driver."""

    port: int
    token: bytes
    _socket: socket.socket | None = field(default=None, repr=False, compare=False)

    def open(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def report(self, namespace: str, written: int, failed: int) -> None:
        if self._socket is None:
            self.open()
        assert self._socket is not None
        packet = (
            _HEADER.pack(self.token, written, failed) + namespace.encode()[: _MAX_DATAGRAM - _HEADER.size]
        )
        try:
            self._socket.sendto(packet, ("127.0.0.1", self.port))
        except OSError:
            pass  # progress is best effort; the final counts come from Beam metrics

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __getstate__(self) -> dict[str, Any]:
        return {"port": self.port, "token": self.token, "_socket": None}


@dataclass
class NamespaceProgress:
    total: int = 0
    migrated: int = 0
    failed: int = 0


@dataclass
class ProgressState:
    """Counts so far, in all and per target namespace (``namespace_totals``: vectors expected)."""

    total: int
    chunk_size: int
    namespace_totals: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    migrated: int = 0
    failed: int = 0
    batches: int = 0
    namespaces: dict[str, NamespaceProgress] = field(init=False)

    def __post_init__(self) -> None:
        self.namespaces = {ns: NamespaceProgress(total) for ns, total in self.namespace_totals.items()}

    def add(self, written: int, failed: int, namespace: str = "") -> None:
        self.migrated += written
        self.failed += failed
        self.batches += 1 if written else 0
        counts = self.namespaces.setdefault(namespace, NamespaceProgress())
        counts.migrated += written
        counts.failed += failed

    def snapshot(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.started
        done = self.migrated + self.failed
        percentage = 100.0 if self.total == 0 else min(100.0, round(100.0 * done / self.total, 1))
        return {
            "percentage": percentage,
            "migrated": self.migrated,
            "failed": self.failed,
            "total": self.total,
            "batches_processed": self.batches,
            "total_batches": math.ceil(self.total / self.chunk_size) if self.chunk_size else 0,
            "elapsed_seconds": round(elapsed, 3),
            "vectors_per_second": round(self.migrated / elapsed, 1) if elapsed > 0 else 0.0,
            "namespaces": {
                ns: {"migrated": c.migrated, "failed": c.failed, "total": c.total}
                for ns, c in self.namespaces.items()
            },
        }


class ProgressListener:
    """The driver side: receives reports and calls ``callback`` with a stats dict each time."""

    def __init__(self, state: ProgressState, callback: ProgressCallback | None) -> None:
        self.state = state
        self._callback = callback
        self._token = secrets.token_bytes(16)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="migration-progress", daemon=True)
        self._lock = threading.Lock()

    def sink(self) -> UdpProgressSink:
        return UdpProgressSink(self._socket.getsockname()[1], self._token)

    def __enter__(self) -> ProgressListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._socket.recv(_MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) < _HEADER.size:
                continue
            token, written, failed = _HEADER.unpack_from(data)
            if token != self._token:
                continue
            namespace = data[_HEADER.size :].decode(errors="replace")
            with self._lock:
                self.state.add(written, failed, namespace)
                stats = self.state.snapshot()
            if self._callback is not None:
                self._callback(stats)
