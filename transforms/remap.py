"""Namespace remapping: source namespace -> target namespace, or every namespace as it is."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import apache_beam as beam

from io_connectors.core.coder import batches as beam_batches
from io_connectors.core.errors import ConfigError
from io_connectors.core.records import VectorBatch


@dataclass(frozen=True)
class NamespaceMap:
    """Explicit renames; namespaces not named keep their name.

    Two source namespaces may not land in one target namespace: equal ids would overwrite each
    other, and a migration must never lose a vector that way.
    """

    renames: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._refuse_merges(t for t, n in Counter(self.renames.values()).items() if n > 1)

    def check_against(self, source_namespaces: Iterable[str]) -> None:
        """Refuse renaming a namespace onto another one that is read and kept as it is."""
        kept = {ns for ns in source_namespaces if ns not in self.renames}
        self._refuse_merges(kept & set(self.renames.values()))

    @staticmethod
    def _refuse_merges(clashes: Iterable[str]) -> None:
        clashes = sorted(clashes)
        if clashes:
            raise ConfigError(
                f"the namespace mapping sends several namespaces into {clashes}; vectors with equal "
                "ids would overwrite each other. Migrate them to distinct namespaces."
            )

    def __call__(self, namespace: str) -> str:
        return self.renames.get(namespace, namespace)


class RemapNamespaces(beam.PTransform):
    def __init__(self, mapping: NamespaceMap) -> None:
        super().__init__()
        self._mapping = mapping

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        mapping = self._mapping
        return batches | beam_batches(beam.Map(lambda b: _renamed(b, mapping)))


def _renamed(batch: VectorBatch, mapping: NamespaceMap) -> VectorBatch:
    target = mapping(batch.namespace)
    return batch if target == batch.namespace else batch.with_namespace(target)
