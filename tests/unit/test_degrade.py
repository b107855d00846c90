"""Degradation policies (core/degrade.py): only what the target refuses is dropped, counted."""

from __future__ import annotations

import numpy as np
import pytest

from io_connectors import ConfigError, SparseBlock, VectorBatch
from io_connectors.core.degrade import METADATA_DROPPED, SPARSE_DROPPED, degrade, parse_policies


def refuse_nested_and_big_sparse(batch: VectorBatch) -> dict[int, str]:
    """A target refusing nested metadata values and sparse indices of 10**9 and more."""
    reasons: dict[int, str] = {}
    for row, meta in enumerate(batch.metadata):
        if any(isinstance(v, dict) for v in (meta or {}).values()):
            reasons[row] = "nested metadata"
        sparse = None if batch.sparse is None else batch.sparse.row(row)
        if sparse is not None and len(sparse[0]) and sparse[0].max() >= 10**9:
            reasons[row] = "sparse index too large"
    return reasons


def batch() -> VectorBatch:
    return VectorBatch(
        ["ok", "big", "nested", "both"],
        np.eye(4, dtype=np.float32),
        SparseBlock.from_rows([([1], [1.0]), ([2_000_000_000], [1.0]), None, ([3_000_000_000], [2.0])]),
        [{"a": 1}, {"a": 2}, {"a": 3, "deep": {"x": 1}}, {"deep": {"y": 2}, "b": "kept"}],
    )


def test_nothing_is_dropped_without_a_policy() -> None:
    data = batch()
    outcome = degrade(data, refuse_nested_and_big_sparse(data), {}, refuse_nested_and_big_sparse)
    assert sorted(outcome.refused) == [1, 2, 3] and not outcome.dropped
    assert outcome.apply(data).ids == ["ok"]


def test_only_the_refused_parts_are_dropped_and_counted() -> None:
    data = batch()
    policies = parse_policies("sparse=drop, metadata=drop")
    outcome = degrade(data, refuse_nested_and_big_sparse(data), policies, refuse_nested_and_big_sparse)
    kept = outcome.apply(data)
    assert outcome.refused == {} and kept.ids == ["ok", "big", "nested", "both"]
    assert kept.metadata == [{"a": 1}, {"a": 2}, {"a": 3}, {"b": "kept"}]
    assert kept.sparse.row(0)[0].tolist() == [1] and kept.sparse.row(1) is None and kept.sparse.row(3) is None
    assert np.array_equal(kept.values, data.values)
    assert outcome.dropped == {SPARSE_DROPPED: 2, METADATA_DROPPED: 2}


def test_a_policy_for_one_kind_leaves_the_other_refused() -> None:
    data = batch()
    outcome = degrade(
        data, refuse_nested_and_big_sparse(data), {"sparse": "drop"}, refuse_nested_and_big_sparse
    )
    assert outcome.refused == {2: "nested metadata", 3: "sparse index too large"}
    assert outcome.apply(data).ids == ["ok", "big"] and outcome.dropped == {SPARSE_DROPPED: 1}


@pytest.mark.parametrize(
    ("value", "message"),
    [("sparse", "not KIND=ACTION"), ("vectors=drop", "unknown kind"), ("id=drop", "id can be refuse")],
)
def test_bad_policies_are_refused_by_name(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_policies(value)
