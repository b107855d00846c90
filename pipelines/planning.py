"""Planning a migration on the driver: what is read, where it goes, in how many pieces.

``plan_migration`` changes nothing on either side (``migrate --dry-run`` prints it);
``ensure_target`` then creates the target index to match the source when it is missing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from io_connectors.core.client import Client
from io_connectors.core.contract import IndexInfo, Split
from io_connectors.core.errors import ConfigError
from pipelines.preflight import check_not_same, check_source_namespace, check_target_shape
from transforms import NamespaceMap

DEFAULT_BATCH_SIZE = 1000


@dataclass
class MigrationPlan:
    """A migration before it runs: what is read, where it goes, in how many pieces."""

    source: IndexInfo
    target_index: str
    target: IndexInfo | None  # None: the migration creates it to match the source
    mapping: NamespaceMap
    namespaces: dict[str, str]  # source namespace -> target namespace
    total: int
    splits: list[Split]
    batch_size: int
    chunk_size: int

    def namespace_totals(self) -> dict[str, int]:
        """Vectors expected in each target namespace."""
        totals: dict[str, int] = {}
        for source_ns, target_ns in self.namespaces.items():
            totals[target_ns] = totals.get(target_ns, 0) + int(self.source.namespaces.get(source_ns, 0))
        return totals

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source.as_dict(),
            "target_index": self.target_index,
            "target": None if self.target is None else self.target.as_dict(),
            "creates_target": self.target is None,
            "namespaces": self.namespaces,
            "vectors": self.total,
            "splits": len(self.splits),
            "batch_size": self.batch_size,
            "chunk_size": self.chunk_size,
            "upserts": math.ceil(self.total / self.chunk_size) if self.chunk_size else 0,
        }


def plan_migration(
    source: Client,
    target: Client,
    source_index: str,
    target_index: str,
    source_namespace: str | None = None,
    target_namespace: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    chunk_size: int | None = None,
    namespace_map: Mapping[str, str] | None = None,
    on_unsupported: Mapping[str, str] | None = None,
) -> MigrationPlan:
    """What a migration with these arguments would do, changing nothing on either side."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    source_info = source.index_info(source_index)
    mapping = namespace_mapping(source_namespace, target_namespace, namespace_map)
    if source_namespace is None:
        mapping.check_against(source_info.namespaces)
    check_source_namespace(source_info, source_namespace)
    read_namespaces = [source_namespace] if source_namespace is not None else list(source_info.namespaces)
    check_not_same(source, target, source_index, target_index, {ns: mapping(ns) for ns in read_namespaces})
    connector = target.connector
    target_info = None
    if target_index in connector.list_indexes():
        target_info = connector.describe_index(target_index)
        check_target_shape(source_info, target_info)
    caps = connector.capabilities
    namespaces = {ns: mapping(ns) for ns in read_namespaces}
    written = {target_ns: int(source_info.namespaces.get(ns, 0)) for ns, target_ns in namespaces.items()}
    # Schema-only refusals (dimension, index limits, required columns) before any data moves.
    connector.check_target(target_index, replace(source_info, namespaces=written), on_unsupported)
    return MigrationPlan(
        source=source_info,
        target_index=target_index,
        target=target_info,
        mapping=mapping,
        namespaces=namespaces,
        total=source.connector.count(source_index, source_namespace),
        splits=source.connector.plan(source_index, source_namespace, batch_size),
        batch_size=batch_size,
        chunk_size=int(min(chunk_size or caps.default_chunk_size, caps.max_batch_count or math.inf)),
    )


def ensure_target(target: Client, plan: MigrationPlan, create: bool) -> IndexInfo:
    """The target index's description, creating it to match the source when it is missing."""
    if plan.target is not None:
        return plan.target
    if not create:
        raise ConfigError(f"target index {plan.target_index!r} does not exist (and create_target is off)")
    source = plan.source
    target.connector.create_index(plan.target_index, source.dimension, source.metric, source.sparse)
    return target.connector.describe_index(plan.target_index)


def namespace_mapping(
    source_namespace: str | None, target_namespace: str | None, namespace_map: Mapping[str, str] | None
) -> NamespaceMap:
    if namespace_map and (source_namespace is not None or target_namespace is not None):
        raise ConfigError("give either source/target namespaces or a namespace map, not both")
    if namespace_map:
        return NamespaceMap(dict(namespace_map))
    if target_namespace is not None and source_namespace is None:
        raise ConfigError(
            "target_namespace without source_namespace would merge every namespace into one, where "
            "equal ids overwrite each other; name the source_namespace, or use namespace_map"
        )
    if source_namespace is not None and target_namespace is not None:
        return NamespaceMap({source_namespace: target_namespace})
    return NamespaceMap()
