"""Record-level isolation of the read decoders (``core/decode.py``)."""

import pyarrow as pa
import pytest

from io_connectors.core.decode import decode_arrow, decode_isolated
from io_connectors.core.records import UnreadableRecords, VectorBatch


def table(ids, values, metadata=None, **extra) -> pa.RecordBatch:
    columns = {
        "id": pa.array(ids, type=pa.string()),
        "values": pa.array(values, type=pa.list_(pa.float32())),
        **({"metadata": pa.array(metadata, type=pa.string())} if metadata is not None else {}),
        **extra,
    }
    return pa.RecordBatch.from_pydict(columns)


def split(items):
    items = list(items)
    batches = [i for i in items if isinstance(i, VectorBatch)]
    failures = [i for i in items if isinstance(i, UnreadableRecords)]
    return batches, failures


def test_all_good_rows_are_decoded_in_one_call() -> None:
    calls = []
    rows = table(["a", "b", "c"], [[1, 2], [3, 4], [5, 6]])

    def build(picked):
        calls.append(list(picked))
        return VectorBatch.from_arrow(rows.take(pa.array(list(picked), type=pa.int64())))

    items = list(decode_isolated(3, build, lambda r: None, "ns"))
    assert calls == [[0, 1, 2]]  # no per-row work when nothing is wrong
    assert [b.ids for b in items] == [["a", "b", "c"]]


@pytest.mark.parametrize(
    ("values", "metadata", "reason"),
    [
        ([1, 2], "{not json", "field 'metadata' is not valid JSON"),
        ([1, 2], "[1, 2]", "field 'metadata' must be a JSON object"),
        (None, None, "field 'values' is null; the other records read with it have 2 values"),
        ([1, 2, 3], None, "field 'values' has 3 values; the other records read with it have 2"),
        ([1, None], None, "field 'values' contains null numbers"),
    ],
)
def test_a_bad_row_fails_alone_with_its_id_and_reason(values, metadata, reason) -> None:
    rows = table(["a", "bad", "c"], [[1, 2], values, [5, 6]], ['{"k": 1}', metadata, None])
    batches, failures = split(decode_arrow(rows, "ns", "file f.parquet"))
    assert [b.ids for b in batches] == [["a", "c"]]
    assert batches[0].metadata == [{"k": 1}, None]
    assert [(f.ids, f.count) for f in failures] == [(("bad",), 1)]
    assert reason in failures[0].reason and failures[0].message().startswith("file f.parquet: ")


def test_an_unreadable_id_is_reported_by_position() -> None:
    rows = table(["a", None, "c"], [[1, 2], [3, 4], [5, 6]])
    batches, failures = split(decode_arrow(rows, "ns", "file f.parquet", first_position=100))
    assert [b.ids for b in batches] == [["a", "c"]]
    assert (failures[0].ids, failures[0].positions) == ((), (101,))
    assert failures[0].message() == "file f.parquet: row(s) 101: field 'id' is null"


def test_integer_flags_and_wrong_types_are_named() -> None:
    rows = table(["1", "x", "3"], [[1, 2]] * 3, id_is_int=pa.array([True, True, False]))
    batches, failures = split(decode_arrow(rows, "ns"))
    assert batches[0].ids == [1, "3"]
    assert failures[0].ids == ("x",) and "flagged as an integer" in failures[0].reason
    strings = pa.RecordBatch.from_pydict({"id": ["a"], "values": pa.array([["1.5", "2"]])})
    _, failures = split(decode_arrow(strings, "ns"))
    assert "field 'values' has type list<item: string>; expected a list of numbers" in failures[0].reason


def test_a_batch_without_an_id_column_is_unreadable_as_a_whole() -> None:
    rows = pa.RecordBatch.from_pydict({"key": ["a", "b"], "values": pa.array([[1.0], [2.0]])})
    (failure,) = decode_arrow(rows, "ns", "file f")
    assert failure.count == 2 and "no 'id' column (columns: key, values)" in failure.reason
