"""Deep verify names the field and both values of each difference, and counts the targets'
documented one-way changes apart from real differences (issue 15)."""

from __future__ import annotations

import numpy as np

from io_connectors import Client, VectorBatch
from pipelines import Migration
from tests.conformance.suite import unique_name
from tests.e2e.test_pinecone_e2e import pinecone
from tests.e2e.test_seed_examples import fill


def test_a_difference_is_shown_with_its_field_and_both_values() -> None:
    source = Client(provider="memory", store=unique_name("s"))
    target = Client(provider="memory", store=unique_name("t"))
    fill(source, "idx", 100)
    migration = Migration(source, target)
    migration.migrate(source_index="idx", target_index="idx")
    changed = target.fetch(index="idx", ids=["vec-7"])["vec-7"]
    changed["metadata"]["category"] = "tampered"
    changed["values"] = np.asarray(changed["values"]) * 2
    target.upsert(index="idx", vectors=[changed])
    deep = migration.verify(source_index="idx", target_index="idx", deep=True)
    assert not deep.match and deep.different_count == 1 and deep.known_changes == {}
    (example,) = deep.examples["different"]
    original = source.fetch(index="idx", ids=["vec-7"])["vec-7"]["values"]
    assert example["id"] == "vec-7"
    assert example["fields"] == [
        {"field": "metadata.category", "source": "c2", "target": "tampered"},
        {
            "field": "values",
            "source": [float(x) for x in original[:4]],
            "target": [float(x) * 2 for x in original[:4]],
        },
    ]


def test_qdrant_float_rounding_and_cosine_normalisation_are_known_changes(tmp_path) -> None:
    rng = np.random.default_rng(4)
    n = 1000
    source = Client(provider="memory", store=unique_name("s"))
    source.create_index("idx", 8, "cosine")
    metadata = [{"score": float(rng.random() * 1e-5), "weights": [float(rng.random())]} for _ in range(n)]
    source.connector.write(
        "idx", VectorBatch([f"r{i}" for i in range(n)], rng.standard_normal((n, 8)), None, metadata)
    )
    target = Client(provider="qdrant", edge_path=str(tmp_path / "edge"))
    migration = Migration(source, target)
    assert migration.migrate(source_index="idx", target_index="idx").errors == []
    deep = migration.verify(source_index="idx", target_index="idx", deep=True)
    assert deep.match and deep.different_count == 0, deep.summary()
    assert 0 < deep.known_changes["float_ulp"] < n  # the engine rounds some payload floats
    assert deep.known_changes["cosine_normalised"] == n


def test_memory_does_not_get_the_benefit_of_qdrant_rounding() -> None:
    source = Client(provider="memory", store=unique_name("s"))
    target = Client(provider="memory", store=unique_name("t"))
    source.upsert(index="idx", vectors=[{"id": "a", "values": [1.0, 2.0], "metadata": {"x": 0.1}}])
    target.upsert(
        index="idx",
        vectors=[{"id": "a", "values": [1.0, 2.0], "metadata": {"x": float(np.nextafter(0.1, 1))}}],
    )
    deep = Migration(source, target).verify(source_index="idx", target_index="idx", deep=True)
    assert not deep.match and deep.examples["different"][0]["fields"][0]["field"] == "metadata.x"


def test_pinecone_metadata_rule_is_counted_as_a_known_change(pinecone_server) -> None:
    source = Client(provider="memory", store=unique_name("s"))
    fill(source, "idx", 50)  # metadata {"i": int, "category": str}: ints come back as floats
    target = pinecone(pinecone_server)
    migration = Migration(source, target)
    assert migration.migrate(source_index="idx", target_index="rule-idx").errors == []
    try:
        deep = migration.verify(source_index="idx", target_index="rule-idx", deep=True)
    finally:
        target.delete_index(name="rule-idx")
    assert deep.match and deep.known_changes == {"metadata_rule": 50}, deep.summary()


def test_pinecone_preserve_types_brings_numbers_and_lists_back_as_they_were(pinecone_server) -> None:
    source = Client(provider="memory", store=unique_name("s"))
    records = [
        {"id": "a", "values": [1.0, 0.0], "metadata": {"year": 2019, "hash": 2**63 - 25, "nums": [1, 2.5]}},
        {
            "id": "b",
            "values": [0.0, 1.0],
            "metadata": {"year": 7, "score": 0.5, "tags": ["x"], "in": {"n": 3}},
        },
    ]
    source.upsert(index="idx", vectors=records)
    target = pinecone(pinecone_server, preserve_types="true")
    migration = Migration(source, target)
    assert migration.migrate(source_index="idx", target_index="typed-idx").errors == []
    try:
        back = target.fetch(index="typed-idx", ids=["a", "b"])
        plain = pinecone(pinecone_server).fetch(index="typed-idx", ids=["a"])["a"]["metadata"]
        deep = migration.verify(source_index="idx", target_index="typed-idx", deep=True)
    finally:
        target.delete_index(name="typed-idx")
    assert back["a"]["metadata"] == {"year": 2019, "hash": 2**63 - 25, "nums": [1, 2.5]}
    assert type(back["a"]["metadata"]["year"]) is int
    assert back["b"]["metadata"] == {"year": 7, "score": 0.5, "tags": ["x"], "in.n": 3}  # still flattened
    assert plain["year"] == 2019.0 and plain["hash"] == str(2**63 - 25) and "_vm_types" in plain
    assert deep.match, deep.summary()
