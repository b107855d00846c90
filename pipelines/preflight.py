"""Checks a migration passes before any data moves: each refusal says what is wrong and what to do."""

from __future__ import annotations

from collections.abc import Mapping

from io_connectors.core.client import Client
from io_connectors.core.contract import IndexInfo, normalize_metric
from io_connectors.core.errors import ConfigError


def check_source_namespace(source: IndexInfo, namespace: str | None) -> None:
    """A named source namespace must exist: reading a misspelt one would "succeed" with nothing."""
    if namespace is None or namespace in source.namespaces:
        return
    known = ", ".join(repr(ns) for ns in sorted(source.namespaces)[:20]) or "none"
    raise ConfigError(
        f"source index {source.name!r} has no namespace {namespace!r} (or it holds no vectors); "
        f"its namespaces: {known}"
    )


def check_target_shape(source: IndexInfo, target: IndexInfo) -> None:
    """An existing target must match the source's dimension and metric."""
    if source.dimension is not None and target.dimension not in (None, source.dimension):
        raise ConfigError(
            f"target index {target.name!r} has dimension {target.dimension}, the source "
            f"{source.name!r} has {source.dimension}"
        )
    if source.dimension is not None and normalize_metric(target.metric) != normalize_metric(source.metric):
        raise ConfigError(
            f"target index {target.name!r} uses the {target.metric} metric, the source {source.name!r} "
            f"uses {source.metric}: searches would rank differently. Migrate into a new index (it is "
            "created with the source's metric) or one created with the same metric"
        )


def check_not_same(
    source: Client, target: Client, source_index: str, target_index: str, namespaces: Mapping[str, str]
) -> None:
    """Reading and upserting the same namespace of the same index at once is refused."""
    if source.spec != target.spec or source_index != target_index:
        return
    same = sorted(ns for ns, target_ns in namespaces.items() if ns == target_ns)
    if same:
        raise ConfigError(
            f"source and target are the same index {source_index!r} and namespace(s) {same}: a migration "
            "onto itself would rewrite what it reads. Name another target index or namespace"
        )
