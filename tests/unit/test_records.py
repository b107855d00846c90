import numpy as np
import pyarrow as pa
import pytest

from io_connectors.core.records import RecordError, SparseBlock, VectorBatch, check_id


def sample() -> VectorBatch:
    return VectorBatch.from_dicts(
        [
            {"id": 7, "values": [1, 2, 3], "metadata": {"a": 1, "nested": {"b": [1, None]}}},
            {
                "id": "7",
                "values": [4, 5, 6],
                "sparse_values": {"indices": [0, 4294967295], "values": [0.5, 2]},
            },
            {"id": "ключ-✓", "values": [7, 8, 9], "metadata": {"f": 1.0}},
        ],
        namespace="ns",
    )


def test_arrow_round_trip_keeps_id_kinds_and_every_field() -> None:
    batch = sample()
    back = VectorBatch.from_arrow(batch.to_arrow(), "ns")
    assert back.ids == [7, "7", "ключ-✓"]
    assert [type(i) for i in back.ids] == [int, str, str]
    assert np.array_equal(back.values, batch.values)
    assert back.values.dtype == np.float32
    assert back.to_dicts() == batch.to_dicts()
    assert back.metadata[2] == {"f": 1.0} and isinstance(back.metadata[2]["f"], float)


def test_sparse_rows_absent_and_present_are_distinct() -> None:
    block = SparseBlock.from_rows([None, ([], []), ([3], [1.5])])
    assert block.row(0) is None
    assert block.row(1) is not None and len(block.row(1)[0]) == 0
    back = SparseBlock.from_arrow(block.to_arrow())
    assert back.row(0) is None and len(back.row(1)[0]) == 0 and back.row(2)[0].tolist() == [3]


def test_slice_take_and_concat_keep_rows_aligned() -> None:
    batch = sample()
    joined = VectorBatch.concat([batch.slice(0, 1), batch.slice(1, 3)])
    assert joined.to_dicts() == batch.to_dicts()
    taken = batch.take([2, 0])
    assert taken.ids == ["ключ-✓", 7] and taken.values[1].tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("vectors", "message"),
    [
        ([{"values": [1]}], "no 'id'"),
        ([{"id": 1.5, "values": [1]}], "must be an int or a str"),
        ([{"id": True, "values": [1]}], "must be an int or a str"),
        ([{"id": "a", "values": [1, 2]}, {"id": "b", "values": [1]}], "'b' has 1 values, expected 2"),
        ([{"id": "a", "values": [1]}, {"id": "b"}], "['b'] have no 'values'"),
        ([{"id": "a", "values": ["x"]}], "'a': values must be numbers"),
        (
            [{"id": "a", "values": [1], "sparse_values": {"indices": [1, 2], "values": [1]}}],
            "'a': sparse_values has 2",
        ),
        (
            [{"id": "a", "values": [1], "sparse_values": {"indices": [-1], "values": [1]}}],
            "'a': sparse indices",
        ),
        ([{"id": "a", "values": [1], "metadata": [1]}], "'a': metadata must be a mapping"),
    ],
)
def test_bad_input_names_the_record_and_the_problem(vectors, message) -> None:
    with pytest.raises(RecordError, match=None) as raised:
        VectorBatch.from_dicts(vectors)
    assert message in str(raised.value)


def test_empty_string_id_is_refused() -> None:
    with pytest.raises(RecordError):
        check_id("")


def test_from_arrow_without_id_flag_reads_plain_import_layout() -> None:
    table = pa.table({"id": ["a", "b"], "values": [[1.0, 2.0], [3.0, 4.0]], "metadata": ['{"k":1}', None]})
    batch = VectorBatch.from_arrow(table)
    assert batch.ids == ["a", "b"] and batch.metadata == [{"k": 1}, None]
    assert batch.values.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_slices_past_the_end_are_clamped_like_python_slices() -> None:
    batch = sample()
    assert batch.slice(1, 100).ids == ["7", "ключ-✓"]
    assert batch.slice(1, 100).sparse.row(0)[0].tolist() == [0, 4294967295]
    assert len(batch.slice(5, 10)) == 0
