"""Records that did not make it, with why: the dead-letter side of every pipeline step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from io_connectors.core.records import IdValue, VectorBatch

FAILED_TAG = "failed"


@dataclass
class FailedRecords:
    """Records of one namespace refused or lost at one stage, all for the same reason.

    ``batch`` carries the records themselves when they were read (so they can be replayed);
    a failed read has only a description of the positions it could not read.
    """

    stage: str
    namespace: str
    ids: list[IdValue]
    error_class: str
    message: str
    batch: VectorBatch | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if self.count is None:
            self.count = len(self.ids)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "namespace": self.namespace,
            "error_class": self.error_class,
            "message": self.message,
            "count": self.count,
            "ids": list(self.ids),
        }
