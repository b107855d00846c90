import numpy as np

from io_connectors.core.batching import chunk_batch, ids_as_strings, row_nbytes
from io_connectors.core.contract import Capabilities
from io_connectors.core.records import VectorBatch
from io_connectors.core.validation import reject_reasons


def batch(n: int, dim: int = 4) -> VectorBatch:
    return VectorBatch(
        list(range(n)), np.ones((n, dim), dtype=np.float32), metadata=[{"i": i} for i in range(n)]
    )


def test_chunks_respect_count_and_keep_order() -> None:
    chunks = chunk_batch(batch(2500), 1000)
    assert [len(c) for c in chunks] == [1000, 1000, 500]
    assert [i for c in chunks for i in c.ids] == list(range(2500))


def test_chunks_respect_bytes() -> None:
    big = batch(100, dim=1000)
    per_row = row_nbytes(big, 4.0)[0]
    chunks = chunk_batch(big, 1000, max_bytes=int(per_row * 10.5))
    assert all(len(c) <= 10 for c in chunks) and sum(len(c) for c in chunks) == 100


def test_a_row_larger_than_the_byte_limit_is_its_own_chunk() -> None:
    chunks = chunk_batch(batch(3, dim=1000), 1000, max_bytes=10)
    assert [len(c) for c in chunks] == [1, 1, 1]


def test_int_ids_become_strings_and_are_counted() -> None:
    mapped, converted = ids_as_strings(VectorBatch([1, "a"], np.ones((2, 1), dtype=np.float32)))
    assert mapped.ids == ["1", "a"] and converted == 1


def test_validation_names_each_problem() -> None:
    values = np.ones((4, 3), dtype=np.float32)
    values[1, 0] = np.nan
    values[2, 2] = np.inf
    b = VectorBatch(["ok", "nan", "inf", "é" * 3], values, metadata=[None, None, None, {"t": object()}])
    caps = Capabilities(ascii_ids_only=True, max_id_length=2)
    reasons = reject_reasons(b, caps, dimension=3)
    assert "NaN or infinity" in reasons[1] and "NaN or infinity" in reasons[2]
    assert "characters" in reasons[3]
    assert 0 not in reasons
    wrong_dim = reject_reasons(b, Capabilities(), dimension=5)
    assert set(wrong_dim) == {0, 1, 2, 3} and "dimension 5" in wrong_dim[0]


def test_sparse_values_refused_by_a_dense_only_target() -> None:
    b = VectorBatch.from_dicts(
        [
            {"id": "a", "values": [1.0]},
            {"id": "b", "values": [1.0], "sparse_values": {"indices": [1], "values": [1]}},
        ]
    )
    assert set(reject_reasons(b, Capabilities(sparse=False), 1)) == {1}
