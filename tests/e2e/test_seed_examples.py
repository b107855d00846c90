"""The seed document's examples, translated line by line to Python, with memory and Parquet clients."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from io_connectors import Client
from pipelines import Migration
from tests import fault_providers
from tests.conformance.suite import unique_name


def fill(
    client: Client, index: str, n: int, namespace: str | None = None, dim: int = 16, seed: int = 0
) -> None:
    rng = np.random.default_rng(seed)
    vectors = [
        {"id": f"vec-{i}", "values": rng.standard_normal(dim), "metadata": {"i": i, "category": f"c{i % 5}"}}
        for i in range(n)
    ]
    client.upsert(index=index, vectors=vectors, namespace=namespace)


@pytest.fixture
def source_client() -> Client:
    return Client(provider="memory", store=unique_name("source"))


@pytest.fixture(params=["memory", "parquet"])
def target_client(request, tmp_path) -> Client:
    if request.param == "memory":
        return Client(provider="memory", store=unique_name("target"))
    return Client(provider="parquet", path=str(tmp_path / "target"))


def test_simple_migration(source_client: Client, target_client: Client) -> None:
    fill(source_client, "source-index", 1234)
    migration = Migration(source_client, target_client)
    result = migration.migrate(source_index="source-index", target_index="target-index")
    assert result["migrated_count"] == 1234
    assert result["batches"] >= 1
    assert result["errors"] == []
    assert result.failures_path is None, "an empty temporary failure report is removed"
    assert target_client.stats(index="target-index")["total_vector_count"] == 1234


def test_with_progress_tracking(source_client: Client, target_client: Client) -> None:
    fill(source_client, "products", 3000)
    seen: list[dict] = []
    result = Migration(source_client, target_client).migrate(
        source_index="products", target_index="products", chunk_size=100, on_progress=seen.append
    )
    assert result.migrated_count == 3000
    assert len(seen) >= 30, "one report per upserted chunk"
    assert {"percentage", "migrated", "total", "batches_processed", "total_batches"} <= set(seen[0])
    migrated = [s["migrated"] for s in seen]
    assert migrated == sorted(migrated) and seen[-1]["migrated"] == 3000
    assert seen[-1]["percentage"] == 100.0 and seen[-1]["total"] == 3000
    assert seen[-1]["total_batches"] == 30 and seen[-1]["batches_processed"] == result.batches
    assert any(0 < s["percentage"] < 100 for s in seen)


def test_with_custom_batch_sizes(source_client: Client) -> None:
    fill(source_client, "large-index", 2000)
    target = Client(provider="recording-memory", store=unique_name("target"))
    fault_providers.CHUNK_SIZES.clear()
    result = Migration(source_client, target).migrate(
        source_index="large-index", target_index="large-index", batch_size=500, chunk_size=50
    )
    assert result.migrated_count == 2000
    assert max(fault_providers.CHUNK_SIZES) == 50
    assert result.batches == len(fault_providers.CHUNK_SIZES) >= math.ceil(2000 / 50)


def test_namespace_migration(source_client: Client, target_client: Client) -> None:
    fill(source_client, "products", 200, namespace="tenant-1")
    fill(source_client, "products", 50, namespace="tenant-3", seed=1)
    result = Migration(source_client, target_client).migrate(
        source_index="products",
        target_index="products",
        source_namespace="tenant-1",
        target_namespace="tenant-2",
    )
    assert result.migrated_count == 200
    stats = target_client.stats(index="products")
    assert stats["namespaces"] == {"tenant-2": {"vector_count": 200}}
    verification = Migration(source_client, target_client).verify(
        source_index="products",
        target_index="products",
        source_namespace="tenant-1",
        target_namespace="tenant-2",
    )
    assert verification["match"] and verification["source_count"] == verification["target_count"] == 200


def test_verification_detects_a_missing_vector(source_client: Client, target_client: Client) -> None:
    fill(source_client, "old-index", 500)
    migration = Migration(source_client, target_client)
    migration.migrate(source_index="old-index", target_index="new-index")
    verification = migration.verify(source_index="old-index", target_index="new-index")
    assert verification["match"] and verification["source_count"] == 500
    target_client.delete(index="new-index", ids=["vec-42"])
    verification = migration.verify(source_index="old-index", target_index="new-index")
    assert not verification["match"]
    assert (verification["source_count"], verification["target_count"]) == (500, 499)
    deep = migration.verify(source_index="old-index", target_index="new-index", deep=True)
    assert (
        not deep.match
        and deep.missing_count == 1
        and deep.examples["missing"] == [{"namespace": "", "id": "vec-42"}]
    )


def test_deep_verification_detects_a_changed_vector(source_client: Client, target_client: Client) -> None:
    fill(source_client, "idx", 100)
    migration = Migration(source_client, target_client)
    migration.migrate(source_index="idx", target_index="idx")
    changed = target_client.fetch(index="idx", ids=["vec-7"])["vec-7"]
    changed["metadata"]["category"] = "tampered"
    target_client.upsert(index="idx", vectors=[changed])
    assert migration.verify(source_index="idx", target_index="idx").match, "counts alone cannot see it"
    deep = migration.verify(source_index="idx", target_index="idx", deep=True)
    assert not deep.match and deep.different_count == 1 and deep.examples["different"][0]["id"] == "vec-7"


def test_error_handling_carries_on_past_refused_records(source_client: Client) -> None:
    fill(source_client, "products", 1000)
    refused = ["vec-3", "vec-500", "vec-999"]
    target = Client(provider="rejecting-memory", store=unique_name("target"), reject_ids=refused)
    result = Migration(source_client, target).migrate(
        source_index="products", target_index="products", chunk_size=100
    )
    assert len(result.errors) == 3
    assert sorted(i for e in result.errors for i in e.ids) == sorted(refused)
    assert all(e.error_class == "RecordRejected" and "refuses" in e.message for e in result.errors)
    landed = target.stats(index="products")["total_vector_count"]
    assert landed == 997 == result.migrated_count
    assert landed + result.failed_count == 1000, "source = target + failed"
    report = "".join(p.read_text() for p in Path(result.failures_path).glob("failures*"))
    assert all(f'"{i}"' in report for i in refused), "the kept failure report names every refused id"
