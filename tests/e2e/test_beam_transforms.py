"""The public Beam transforms in a user's own pipeline: read from one store, apply the user's
steps, write to another; plain dicts both ways; the whole migration as one composite transform."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

import tests.fault_providers  # noqa: F401  (registers the fault-injecting providers)
from io_connectors import Client, VectorBatch
from io_connectors.beam import ReadFromVectorStore, ToVectorDicts, WriteToVectorStore
from pipelines import MigrateVectors, Migration
from pipelines.runner import choose_runner
from tests.conformance.suite import by_id, make_batch, unique_name

pytestmark = pytest.mark.filterwarnings("ignore:Local mode is not recommended")


def local_pipeline() -> BeamTestPipeline:
    """Beam's in-process runner, chosen explicitly (the default DirectRunner tries a download)."""
    choice = choose_runner()
    return BeamTestPipeline(runner=choice.runner, options=choice.options)


def reembed(batch: VectorBatch) -> VectorBatch:
    """A user's step: keep even-numbered items, scale their vectors, tag their metadata."""
    keep = [row for row, meta in enumerate(batch.metadata) if meta["n"] % 2 == 0]
    kept = batch.take(keep)
    metadata = [{**meta, "reembedded": True} for meta in kept.metadata]
    return VectorBatch(list(kept.ids), kept.values * 2.0, kept.sparse, metadata, kept.namespace)


def test_user_pipeline_reads_pgvector_maps_and_writes_qdrant(postgres_dsn, pg_schema, tmp_path):
    source = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema)
    original = make_batch(300, id_kinds=("str", "int"), sparse=False, dimension=16, seed=3)
    source.upsert(index="items", vectors=original)
    target_uri = f"qdrant+edge://{tmp_path}/qdrant/items"
    with local_pipeline() as p:
        written = (
            p
            | ReadFromVectorStore(source, index="items", batch_size=64)
            | "Reembed" >> beam.Map(reembed)
            | WriteToVectorStore(target_uri, dimension=16, metric="euclidean")
        )
        assert_that(written.failed, equal_to([]), label="NoFailures")
        assert_that(
            written.written | beam.Map(lambda w: len(w[1])) | beam.CombineGlobally(sum),
            equal_to([150]),
            label="AllEvenItemsWritten",
        )
    stored = by_id([Client.from_uri(target_uri).connector.fetch("items", list(original.ids))])
    expected = by_id([reembed(original)])
    assert set(stored) == set(expected) and len(stored) == 150
    for vector_id, row in expected.items():
        assert np.array_equal(stored[vector_id]["values"], row["values"]), vector_id
        got, want = dict(stored[vector_id]["metadata"]), dict(row["metadata"])
        # Qdrant's engine may round a payload float by one ULP (a documented engine behaviour).
        assert got.pop("score") == pytest.approx(want.pop("score"), rel=1e-15), vector_id
        assert got == want, vector_id


def test_dicts_in_and_out_with_bad_dicts_in_the_failed_output():
    store = unique_name("store")
    source = Client(provider="memory", store=store)
    source.upsert(index="src", vectors=make_batch(40, namespace="ns", id_kinds=("str",), sparse=False))
    target = Client(provider="memory", store=store)
    with local_pipeline() as p:
        dicts = p | ReadFromVectorStore(source, index="src", namespace="ns") | ToVectorDicts()
        bad = p | "BadDicts" >> beam.Create(
            [
                {"id": "nan-one", "values": [float("nan")] * 8, "namespace": "ns"},
                {"id": "short", "values": [1.0, 2.0], "namespace": "ns"},
                {"values": [0.0] * 8, "namespace": "ns"},
            ]
        )
        written = (dicts, bad) | beam.Flatten() | WriteToVectorStore(target, index="dst", dimension=8)
        assert_that(
            written.failed | beam.Map(lambda f: (f.stage, tuple(f.ids), f.count)),
            equal_to([("validate", ("nan-one",), 1), ("validate", ("short",), 1), ("convert", (), 1)]),
        )
    assert target.stats("dst")["namespaces"] == {"ns": {"vector_count": 40}}
    got = target.fetch("dst", [f"doc-{i:05d}" for i in range(40)], namespace="ns")
    want = source.fetch("src", [f"doc-{i:05d}" for i in range(40)], namespace="ns")
    assert got.keys() == want.keys() and all(got[k]["metadata"] == want[k]["metadata"] for k in got)


def test_read_failures_fail_the_job_unless_a_failed_output_is_asked_for():
    store = unique_name("store")
    seed = Client(provider="memory", store=store)
    seed.upsert(index="src", vectors=make_batch(10, namespace="good", sparse=False))
    seed.upsert(index="src", vectors=make_batch(10, namespace="lost", sparse=False))
    source = Client(provider="unreadable-memory", store=store, unreadable_namespace="lost")
    with pytest.raises(Exception, match="could not be read"), local_pipeline() as p:
        _ = p | ReadFromVectorStore(source, index="src")
    with local_pipeline() as p:
        read = p | ReadFromVectorStore(source, index="src", failed_output=True)
        assert_that(read.batches | beam.Map(len) | beam.CombineGlobally(sum), equal_to([10]), label="Good")
        assert_that(read.failed | beam.Map(lambda f: f.namespace), equal_to(["lost"]), label="Lost")


def test_migrate_vectors_inside_a_user_pipeline_matches_a_migration(tmp_path):
    store = unique_name("store")
    source = Client(provider="memory", store=store)
    source.upsert(index="src", vectors=make_batch(120, namespace="a"))
    source.upsert(index="src", vectors=make_batch(80, namespace="b", seed=1))
    target_uri = f"parquet://{tmp_path}/out"
    with local_pipeline() as p:
        result = p | MigrateVectors(
            source, target_uri, source_index="src", namespace_map={"a": "a2"}, batch_size=32
        )
        assert_that(result.failed, equal_to([]), label="NoFailures")
        assert_that(
            result.written | beam.Map(lambda w: (w[0], len(w[1]))) | beam.CombinePerKey(sum),
            equal_to([("a2", 120), ("b", 80)]),
            label="WrittenPerNamespace",
        )
    target = Client.from_uri(target_uri)
    check = Migration(source, target).verify(
        source_index="src", target_index="out", deep=True, source_namespace="a", target_namespace="a2"
    )
    assert check.match and check.checked == 120
    check_b = Migration(source, target).verify(
        source_index="src", target_index="out", deep=True, source_namespace="b", target_namespace="b"
    )
    assert check_b.match and check_b.checked == 80


def test_migration_runs_the_composite_transform(monkeypatch):
    """One pipeline definition: ``Migration.migrate`` applies ``MigrateVectors``."""
    store = unique_name("store")
    source = Client(provider="memory", store=store)
    source.upsert(index="src", vectors=make_batch(20))
    applied: list[str] = []
    original = MigrateVectors.expand

    def spy(self, pbegin):
        applied.append(self.plan.target_index)
        return original(self, pbegin)

    monkeypatch.setattr(MigrateVectors, "expand", spy)
    result = Migration(source, Client(provider="memory", store=store)).migrate("src", "dst")
    assert applied == ["dst"] and result.migrated_count == 20
