"""Sync's batch fingerprints and bucket join: a row's fingerprint depends on the record alone
(not on its batch), every field counts, and the join sorts rows into missing / matched /
candidate / extra the way deep verify's digests would."""

from __future__ import annotations

import numpy as np
import pytest

from io_connectors.core.records import SparseBlock, VectorBatch
from pipelines.differences import canonical_json
from pipelines.fingerprints import canonical_texts, fingerprint, hash_texts
from pipelines.sync_compare import CANDIDATE, MATCHED, MISSING, join_bucket
from pipelines.verify import sketch_rows

META = [
    {"b": 1, "a": [1.5, "x"], "nested": {"z": None, "y": True}},
    None,
    {},
    {"text": "é\u2603\U0001f600" * 600},  # long, non-ASCII: hashed apart from the batch matrix
    {"n": float("nan"), "big": 10**30, "neg": -0.0},
]


def batch(ids: list, seed: int = 0, metadata: list | None = None, sparse: bool = False) -> VectorBatch:
    values = np.random.default_rng(seed).standard_normal((len(ids), 6)).astype(np.float32)
    block = None
    if sparse:
        block = SparseBlock.from_rows([([3, 1], [0.5, 0.25]) if i % 2 else None for i in range(len(ids))])
    return VectorBatch(ids, values, block, metadata or [{"k": str(i)} for i in ids], "ns")


def test_canonical_texts_are_verifys_canonical_json() -> None:
    assert canonical_texts(META) == [canonical_json(m) for m in META]


def test_a_texts_hash_does_not_depend_on_the_other_texts_of_its_batch() -> None:
    texts = ["", "a", "a\0", "ab", "abc", "x" * 2000, "ü" * 7]
    together = hash_texts(texts)
    alone = np.concatenate([hash_texts([t]) for t in texts])
    assert (together == alone).all()
    assert len({tuple(row) for row in together.tolist()}) == len(texts)  # all different


def test_a_rows_fingerprint_depends_on_the_record_only() -> None:
    whole = batch(["a", 7, "c", "d", "e"], metadata=META, sparse=True)
    prints = fingerprint(whole, "ns", False, 8)
    for row in range(len(whole)):
        single = fingerprint(whole.take([row]), "ns", False, 8)
        assert single.keys[0] == prints.keys[row]
        assert single.fields[0] == prints.fields[row]
        assert single.dense[0] == prints.dense[row]
        assert single.buckets[0] == prints.buckets[row]


@pytest.mark.parametrize(
    "change",
    ["id_kind", "namespace", "metadata", "metadata_type", "value_bit", "sparse_order_only", "sparse_value"],
)
def test_every_part_of_a_record_counts(change: str) -> None:
    ids = ["1", "b"]
    base = batch(ids, sparse=True)
    before = fingerprint(base, "ns", False, 4)
    other = VectorBatch(list(base.ids), base.values.copy(), base.sparse, list(base.metadata), "ns")
    namespace, same_key, row = "ns", True, 0
    if change == "id_kind":
        other.ids[0] = 1
        same_key = False
    elif change == "namespace":
        namespace, same_key = "other", False
    elif change == "metadata":
        other.metadata[0] = {"k": "2"}
    elif change == "metadata_type":
        other.metadata[0] = {"k": 1}
    elif change == "value_bit":
        other.values[0, 3] = np.nextafter(other.values[0, 3], np.float32(np.inf))
    else:
        indices = [1, 3] if change == "sparse_order_only" else [3, 1]
        values = [0.25, 0.5] if change == "sparse_order_only" else [0.5, 0.5]
        other = VectorBatch(
            list(base.ids),
            base.values,
            SparseBlock.from_rows([None, (indices, values)]),
            list(base.metadata),
            "ns",
        )
        row = 1
    after = fingerprint(other, namespace, False, 4)
    assert (before.keys[row] == after.keys[row]) is same_key
    same_content = change == "sparse_order_only" or not same_key
    content_equal = before.fields[row] == after.fields[row] and before.dense[row] == after.dense[row]
    assert content_equal is same_content
    untouched = 1 - row
    if same_key:
        assert before.fields[untouched] == after.fields[untouched]


def test_ints_as_strings_key_an_int_id_like_its_string() -> None:
    assert fingerprint(batch([5]), "ns", True, 4).keys[0] == fingerprint(batch(["5"]), "ns", False, 4).keys[0]
    assert (
        fingerprint(batch([5]), "ns", False, 4).keys[0] != fingerprint(batch(["5"]), "ns", False, 4).keys[0]
    )


def test_join_sorts_rows_into_missing_matched_candidate_and_extra() -> None:
    source = batch(["same", "changed", "new", "meta"], seed=1)
    held = batch(["gone", "meta", "changed", "same"], seed=1)
    held.values[:] = source.values[[0, 3, 1, 0]]
    held.values[2, 0] += 1  # "changed": other values
    held.metadata[1] = {"k": "other"}  # "meta": other metadata
    states, extra = join_bucket(
        [fingerprint(source.slice(0, 2), "ns", False, 1), fingerprint(source.slice(2, 4), "ns", False, 1)],
        [fingerprint(held, "ns", False, 1)],
        tolerant=False,
    )
    assert states.tolist() == [MATCHED, CANDIDATE, MISSING, CANDIDATE]
    assert extra.tolist() == [True, False, False, False]
    empty_source, all_extra = join_bucket([], [fingerprint(held, "ns", False, 1)], False)
    assert len(empty_source) == 0 and all_extra.all()


def test_tolerant_join_matches_a_normalised_copy_within_verifys_tolerance() -> None:
    source = batch(["a", "b"], seed=2)
    copy = batch(["a", "b"], seed=2)
    copy.values[:] = source.values / np.linalg.norm(source.values, axis=1, keepdims=True)
    copy.values[1] = -copy.values[1]  # "b": another direction
    states, _ = join_bucket(
        [fingerprint(source, "ns", False, 1, sketches=sketch_rows)],
        [fingerprint(copy, "ns", False, 1, sketches=sketch_rows)],
        tolerant=True,
    )
    assert states.tolist() == [MATCHED, CANDIDATE]
    exact, _ = join_bucket([fingerprint(source, "ns", False, 1)], [fingerprint(copy, "ns", False, 1)], False)
    assert exact.tolist() == [CANDIDATE, CANDIDATE]
