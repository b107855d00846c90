"""Fault injection around the real memory connector: targets that refuse, fail or record.

Registered as extra providers so the real pipeline reaches them through the registry.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from io_connectors.core.contract import Split, Tracker
from io_connectors.core.errors import PermanentError, RecordRejected, TransientError
from io_connectors.core.records import VectorBatch
from io_connectors.core.registry import register_provider
from io_connectors.memory import MemoryConnector

CHUNK_SIZES: list[int] = []
_LOCK = threading.Lock()
_CALLS: dict[str, int] = {}


class RejectingMemoryConnector(MemoryConnector):
    """Refuses the ids in ``reject_ids`` by name, like a target answering per record."""

    def write(self, index: str, batch: VectorBatch) -> None:
        refused = set(self.spec.options.get("reject_ids", ()))
        bad = {i: "the target refuses this record" for i in batch.ids if i in refused}
        if bad:
            raise RecordRejected(bad)
        super().write(index, batch)


class PoisonMemoryConnector(MemoryConnector):
    """Refuses a whole request when it holds a poisoned id, naming no record (like a 400)."""

    def write(self, index: str, batch: VectorBatch) -> None:
        if set(self.spec.options.get("poison_ids", ())) & set(batch.ids):
            raise PermanentError("400 Bad Request: invalid payload")
        super().write(index, batch)


class ConstrainedMemoryConnector(MemoryConnector):
    """Refuses every write like a table with a NOT NULL column nobody fills: one reason for all
    records, a message naming the failing row (as PostgreSQL's DETAIL does)."""

    def write(self, index: str, batch: VectorBatch) -> None:
        raise PermanentError(
            f'null value in column "text" violates not-null constraint; failing row {batch.ids[0]!r}',
            'NotNullViolation: null value in column "text" of relation "data_docs" violates not-null '
            "constraint",
        )


class FlakyMemoryConnector(MemoryConnector):
    """Fails every ``fail_every``-th write with a transient error (then succeeds on retry)."""

    def write(self, index: str, batch: VectorBatch) -> None:
        key = self.spec.options["flaky_key"]
        with _LOCK:
            _CALLS[key] = _CALLS.get(key, 0) + 1
            call = _CALLS[key]
        if call % int(self.spec.options.get("fail_every", 3)) == 0:
            raise TransientError("503 Service Unavailable", retry_after=0.0)
        super().write(index, batch)


class RecordingMemoryConnector(MemoryConnector):
    """Records the size of every upsert request."""

    def write(self, index: str, batch: VectorBatch) -> None:
        with _LOCK:
            CHUNK_SIZES.append(len(batch))
        super().write(index, batch)


class UnreadableMemoryConnector(MemoryConnector):
    """Fails to read the namespace named in ``unreadable_namespace``, like a lost file."""

    def read(self, split: Split, tracker: Tracker) -> Iterator[VectorBatch]:
        if split.namespace == self.spec.options.get("unreadable_namespace"):
            raise OSError("I/O error: the data of this namespace is gone")
        yield from super().read(split, tracker)


for _name, _cls in {
    "rejecting-memory": "RejectingMemoryConnector",
    "poison-memory": "PoisonMemoryConnector",
    "constrained-memory": "ConstrainedMemoryConnector",
    "flaky-memory": "FlakyMemoryConnector",
    "recording-memory": "RecordingMemoryConnector",
    "unreadable-memory": "UnreadableMemoryConnector",
}.items():
    register_provider(_name, f"tests.fault_providers:{_cls}")
