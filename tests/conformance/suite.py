"""The conformance suite every connector passes.

A provider's test module subclasses ``ConnectorConformance`` and supplies a ``client`` fixture
(a ``Client`` on a fresh, isolated store) plus class flags for what the provider cannot hold;
every test here then runs against it:

    class TestMemoryConformance(ConnectorConformance):
        @pytest.fixture
        def client(self):
            return Client(provider="memory", store=unique_name())
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import pytest
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker

from io_connectors import Client, VectorBatch
from io_connectors.core.contract import Connector, Split
from io_connectors.core.errors import RecordRejected
from io_connectors.core.records import IdValue
from pipelines import Migration

DIMENSION = 8


def unique_name(prefix: str = "idx") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_ids(n: int, kinds: Iterable[str]) -> list[IdValue]:
    """``n`` ids cycling through the kinds asked for: int, uuid, str, unicode."""
    makers = {
        "int": lambda i: i * 7 + 1,
        "uuid": lambda i: str(uuid.uuid5(uuid.NAMESPACE_URL, f"vector-{i}")),
        "str": lambda i: f"doc-{i:05d}",
        "unicode": lambda i: f"文档-{i}-é",
    }
    kinds = list(kinds)
    return [makers[kinds[i % len(kinds)]](i) for i in range(n)]


def make_batch(
    n: int,
    namespace: str = "",
    id_kinds: Iterable[str] = ("int", "uuid", "str", "unicode"),
    sparse: bool = True,
    nested_metadata: bool = True,
    dimension: int = DIMENSION,
    seed: int = 0,
) -> VectorBatch:
    rng = np.random.default_rng(seed)
    ids = make_ids(n, id_kinds)
    rows = []
    for i, vector_id in enumerate(ids):
        metadata: dict[str, Any] = {
            "title": f"item {i}",
            "n": i,
            "score": i / 3,
            "ok": i % 2 == 0,
            "tags": ["a", "b"],
        }
        if nested_metadata:
            metadata["nested"] = {"depth": [1, {"x": None}], "name": "ü"}
        row: dict[str, Any] = {
            "id": vector_id,
            "values": rng.standard_normal(dimension),
            "metadata": metadata,
        }
        if sparse and i % 2:
            row["sparse_values"] = {"indices": [3, i + 10, 70_000 + i], "values": [0.5, -1.25, float(i)]}
        rows.append(row)
    return VectorBatch.from_dicts(rows, namespace)


def by_id(batches: Iterable[VectorBatch]) -> dict[tuple[str, IdValue], dict[str, Any]]:
    out: dict[tuple[str, IdValue], dict[str, Any]] = {}
    for batch in batches:
        for row in batch.to_dicts():
            key = (batch.namespace, row["id"])
            assert key not in out, f"record {key} read twice"
            out[key] = row
    return out


class _SplitOnce:
    """A tracker that splits itself once, after ``after`` successful claims."""

    def __init__(self, restriction: OffsetRange, after: int, fraction: float) -> None:
        self.inner = OffsetRestrictionTracker(restriction)
        self.after, self.fraction = after, fraction
        self.claims = 0
        self.residual: OffsetRange | None = None

    def try_claim(self, position: int) -> bool:
        if self.claims == self.after and self.residual is None:
            parts = self.inner.try_split(self.fraction)
            self.residual = parts[1] if parts else OffsetRange(0, 0)
        claimed = self.inner.try_claim(position)
        self.claims += claimed
        return claimed

    def current_restriction(self) -> OffsetRange:
        return self.inner.current_restriction()


def read_split(
    connector: Connector, split: Split, restriction: OffsetRange | None = None
) -> list[VectorBatch]:
    tracker = OffsetRestrictionTracker(restriction or OffsetRange(split.start, split.stop))
    return list(connector.read(split, tracker))


def assert_split_exhaustively(connector: Connector, split: Split, fractions=(0.0, 0.25, 0.5, 0.9)) -> int:
    """Split a running read after every number of claims at several fractions: the primary
    and the residual together must read exactly what one uninterrupted read does."""
    reference = by_id(read_split(connector, split))
    counting = _SplitOnce(OffsetRange(split.start, split.stop), after=-1, fraction=0)
    list(connector.read(split, counting))
    checks = 0
    for after, fraction in itertools.product(range(counting.claims + 1), fractions):
        tracker = _SplitOnce(OffsetRange(split.start, split.stop), after, fraction)
        primary = list(connector.read(split, tracker))
        residual = read_split(connector, split, tracker.residual) if tracker.residual else []
        combined = by_id(primary + residual)
        assert combined.keys() == reference.keys(), (
            f"split after {after} claims at {fraction} lost or added records"
        )
        checks += 1
    return checks


class ConnectorConformance:
    """Subclass, provide a ``client`` fixture, and set the flags below where the provider differs."""

    id_kinds: ClassVar[tuple[str, ...]] = ("int", "uuid", "str", "unicode")
    sparse: ClassVar[bool] = True
    nested_metadata: ClassVar[bool] = True
    records_for_split_checks: ClassVar[int] = 23
    batch_size_for_split_checks: ClassVar[int] = 4

    # -- hooks -------------------------------------------------------------------------------
    def expected_metadata(self, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        """What the provider gives back for ``metadata`` (override for documented transforms)."""
        return metadata

    def expected_id(self, vector_id: IdValue, client: Client) -> IdValue:
        return vector_id if client.connector.capabilities.int_ids else str(vector_id)

    def batch(self, n: int, namespace: str = "", seed: int = 0) -> VectorBatch:
        return make_batch(n, namespace, self.id_kinds, self.sparse, self.nested_metadata, DIMENSION, seed)

    def assert_stored(self, client: Client, index: str, batch: VectorBatch, stored: dict) -> None:
        metric = client.index_info(index).metric
        normalized = client.connector.capabilities.normalizes_cosine and metric == "cosine"
        expected_ids = {self.expected_id(i, client) for i in batch.ids}
        assert {key[1] for key in stored if key[0] == batch.namespace} == expected_ids
        for row in batch.to_dicts():
            got = stored[(batch.namespace, self.expected_id(row["id"], client))]
            want = np.asarray(row["values"], dtype=np.float32)
            if normalized:  # the direction is kept, not the bits (nor, for Qdrant, the length)
                want = want / np.linalg.norm(want)
                unit = np.asarray(got["values"], dtype=np.float64)
                np.testing.assert_allclose(unit / np.linalg.norm(unit), want, rtol=1e-5, atol=1e-6)
            else:
                assert np.array_equal(np.asarray(got["values"], dtype=np.float32), want), row["id"]
            if "sparse_values" in row:
                got_sparse = got.get("sparse_values")
                assert got_sparse is not None, f"{row['id']!r} lost its sparse values"
                pairs = sorted(zip(got_sparse["indices"], got_sparse["values"]))
                assert pairs == sorted(zip(row["sparse_values"]["indices"], row["sparse_values"]["values"]))
            else:
                assert not got.get("sparse_values"), row["id"]
            assert got.get("metadata") == self.expected_metadata(row.get("metadata")), row["id"]

    def create(self, client: Client, sparse: bool | None = None) -> str:
        name = unique_name()
        client.create_index(name, DIMENSION, "cosine", self.sparse if sparse is None else sparse)
        return name

    def read_everything(self, client: Client, index: str, namespace: str | None = None, batch_size: int = 7):
        connector = client.connector
        return by_id(
            b for s in connector.plan(index, namespace, batch_size) for b in read_split(connector, s)
        )

    # -- tests -------------------------------------------------------------------------------
    def test_create_describe_list(self, client: Client) -> None:
        index = self.create(client)
        info = client.describe_index(index)
        assert (info["dimension"], info["metric"], info["count"]) == (DIMENSION, "cosine", 0)
        assert index in [i["name"] for i in client.list_indexes()]

    def test_round_trip_every_field(self, client: Client) -> None:
        index = self.create(client)
        batch = self.batch(40)
        client.upsert(index=index, vectors=batch)
        fetched = client.connector.fetch(index, [self.expected_id(i, client) for i in batch.ids], "")
        self.assert_stored(client, index, batch, by_id([fetched]))
        self.assert_stored(client, index, batch, self.read_everything(client, index))

    def test_fetch_via_client_api(self, client: Client) -> None:
        index = self.create(client)
        batch = self.batch(6)
        client.upsert(index=index, vectors=batch.to_dicts(), namespace="ns-a")
        wanted = [self.expected_id(i, client) for i in batch.ids[:3]]
        fetched = client.fetch(index=index, ids=[*wanted, "missing-id"], namespace="ns-a")
        assert set(fetched) == set(wanted)

    def test_namespaces_are_separate(self, client: Client) -> None:
        index = self.create(client)
        first, second = self.batch(12, "tenant-1", seed=1), self.batch(5, "tenant-2", seed=2)
        client.upsert(index=index, vectors=first)
        client.upsert(index=index, vectors=second)
        stats = client.stats(index=index)
        assert stats["total_vector_count"] == 17
        assert stats["namespaces"]["tenant-1"]["vector_count"] == 12
        assert stats["namespaces"]["tenant-2"]["vector_count"] == 5
        only_second = self.read_everything(client, index, "tenant-2")
        assert {k[0] for k in only_second} == {"tenant-2"}
        self.assert_stored(client, index, second, only_second)
        everything = self.read_everything(client, index)
        self.assert_stored(client, index, first, everything)
        self.assert_stored(client, index, second, everything)

    def test_empty_index(self, client: Client) -> None:
        index = self.create(client)
        assert client.stats(index=index)["total_vector_count"] == 0
        assert self.read_everything(client, index) == {}

    def test_rewrite_is_idempotent(self, client: Client) -> None:
        index = self.create(client)
        batch = self.batch(30)
        client.upsert(index=index, vectors=batch)
        client.upsert(index=index, vectors=batch)
        assert client.stats(index=index)["total_vector_count"] == 30
        self.assert_stored(client, index, batch, self.read_everything(client, index))

    def test_delete(self, client: Client) -> None:
        index = self.create(client)
        batch = self.batch(10, "ns")
        client.upsert(index=index, vectors=batch)
        doomed = [self.expected_id(i, client) for i in batch.ids[:4]]
        client.delete(index=index, ids=doomed, namespace="ns")
        assert client.stats(index=index)["total_vector_count"] == 6
        assert not set(client.fetch(index=index, ids=doomed, namespace="ns"))
        client.delete(index=index, namespace="ns", delete_all=True)
        assert client.stats(index=index)["total_vector_count"] == 0

    def test_initial_splits_cover_everything_once(self, client: Client) -> None:
        index = self.create(client)
        batch = self.batch(self.records_for_split_checks, "ns")
        client.upsert(index=index, vectors=batch)
        connector = client.connector
        seen: list[VectorBatch] = []
        for split in connector.plan(index, None, self.batch_size_for_split_checks):
            for start, stop in connector.split_restriction(split, split.start, split.stop):
                seen += read_split(connector, split, OffsetRange(start, stop))
        self.assert_stored(client, index, batch, by_id(seen))

    def test_dynamic_splits_lose_and_duplicate_nothing(self, client: Client) -> None:
        index = self.create(client)
        client.upsert(index=index, vectors=self.batch(self.records_for_split_checks, "ns"))
        splits = client.connector.plan(index, "ns", self.batch_size_for_split_checks)
        assert splits, "a non-empty namespace must plan at least one split"
        checks = sum(assert_split_exhaustively(client.connector, split) for split in splits)
        assert checks >= self.records_for_split_checks // self.batch_size_for_split_checks

    def test_migration_round_trip_through_provider(self, client: Client) -> None:
        """memory -> this provider -> memory through the Beam pipeline, verified record by record."""
        origin = Client(provider="memory", store=unique_name("store"))
        origin.create_index("origin", DIMENSION, "cosine", self.sparse)
        batches = [self.batch(25, "", seed=3), self.batch(15, "second", seed=4)]
        for b in batches:
            origin.upsert(index="origin", vectors=b)
        index = unique_name()
        outbound = Migration(origin, client).migrate(
            source_index="origin", target_index=index, batch_size=6, chunk_size=8
        )
        assert (outbound.migrated_count, outbound.errors) == (40, [])
        check = Migration(origin, client).verify(source_index="origin", target_index=index, deep=True)
        assert check.match, check.summary()
        back = Client(provider="memory", store=unique_name("store"))
        inbound = Migration(client, back).migrate(source_index=index, target_index="back", batch_size=5)
        assert (inbound.migrated_count, inbound.errors) == (40, [])
        stored = self.read_everything(back, "back")
        for b in batches:
            self.assert_stored(client, index, b, stored)


class RejectedIdsConformance:
    """Added by providers that cannot store some id kinds: they must refuse them by name."""

    rejected_id_kinds: ClassVar[tuple[str, ...]] = ()

    def test_rejected_ids_are_named(self, client: Client) -> None:
        index = self.create(client)  # type: ignore[attr-defined]
        bad = make_batch(3, "", self.rejected_id_kinds, sparse=False, nested_metadata=False)
        with pytest.raises(RecordRejected) as raised:
            client.upsert(index=index, vectors=bad)
        assert set(raised.value.reasons) == set(bad.ids)
