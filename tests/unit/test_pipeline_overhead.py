"""The pieces that cut a Beam migration's fixed cost keep its behaviour (issue 11)."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest

from io_connectors import Client, VectorBatch
from io_connectors.beam.transforms import ReadPlannedSplits
from io_connectors.core.coder import VectorBatchCoder
from pipelines.accounting import parse_tallies
from pipelines.runner import STATE_SAMPLING_PERIOD_MS, choose_runner
from pipelines.side_files import WriteLines


def _batch() -> VectorBatch:
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    return VectorBatch(["a", 7, "c"], values, None, [{"k": 1}, None, {"t": "x"}], "ns")


def test_vector_batch_coder_round_trips_and_sizes_without_encoding() -> None:
    coder = beam.coders.registry.get_coder(VectorBatch)
    assert isinstance(coder, VectorBatchCoder)
    batch = _batch()
    back = coder.decode(coder.encode(batch))
    assert back.ids == ["a", 7, "c"] and back.namespace == "ns"
    assert back.metadata == batch.metadata
    np.testing.assert_array_equal(back.values, batch.values)
    assert coder.estimate_size(batch) == batch.values.nbytes + 64 * 3


def test_read_output_is_typed_so_beam_uses_the_batch_coder() -> None:
    source = Client(provider="memory")
    source.create_index("src", 4, "cosine")
    source.upsert(index="src", vectors=_batch().with_namespace(""))
    read = beam.Pipeline() | ReadPlannedSplits(source, source.connector.plan("src", None, 10))
    assert read.batches.element_type is VectorBatch


def test_tallies_of_buckets_are_summed_per_namespace() -> None:
    lines = [
        json.dumps({"namespace": "a", "copies": 3, "distinct": 2, "duplicates": [["x", 2]]}),
        json.dumps({"namespace": "a", "copies": 4, "distinct": 3, "duplicates": [[7, 2]]}),
        json.dumps({"namespace": "b", "copies": 1, "distinct": 1, "duplicates": []}),
    ]
    tallies = parse_tallies(lines)
    assert (tallies["a"].copies, tallies["a"].distinct, tallies["a"].duplicates) == (7, 5, {"x": 2, 7: 2})
    assert (tallies["b"].copies, tallies["b"].distinct) == (1, 1)


@pytest.mark.parametrize("retried", [False, True])
def test_side_lines_land_once_with_either_sink(tmp_path: Path, retried: bool) -> None:
    runner = choose_runner()
    lines = [f"line {i}" for i in range(50)]
    with beam.Pipeline(runner=runner.runner, options=runner.options) as pipeline:
        _ = pipeline | beam.Create(lines) | WriteLines(str(tmp_path / "out"), ".jsonl", retried)
    written = [line for f in tmp_path.glob("out*.jsonl") for line in f.read_text().splitlines()]
    assert sorted(written) == sorted(lines)
    assert not runner.retries_bundles  # the local runner writes one file per bundle


def test_local_runner_caps_the_state_sampling_period() -> None:
    from apache_beam.runners.worker import statesampler

    choose_runner()
    assert statesampler.StateSampler.__init__.__defaults__[-1] == STATE_SAMPLING_PERIOD_MS
