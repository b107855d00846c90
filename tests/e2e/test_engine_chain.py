"""The chain of issue 12: one dataset through every engine and back, exact at every hop.

memory -> Milvus (milvus-lite) -> Chroma (a real ``chroma run`` server) -> LanceDB -> pgvector
-> Qdrant's embedded engine -> Pinecone (local server, real SDK) -> memory, each hop a real
migration deep-verified record by record, and the end compared with the start exactly.

The data is what every hop keeps as it is, so the end must equal the start bit for bit: string
ids (Pinecone stores ids as strings), euclidean vectors (cosine targets normalise), no sparse
values (Chroma holds none), metadata numbers that are binary fractions (Pinecone returns every
number as a float; Qdrant's embedded engine rounds some 17-digit floats by one ulp). Each of those
one-way changes is documented in the README and tested by its provider's own tests.
"""

from __future__ import annotations

import os
from itertools import pairwise

import numpy as np
import pytest

from io_connectors import Client, VectorBatch
from pipelines import Migration
from tests.conformance.suite import unique_name

pytestmark = pytest.mark.filterwarnings("ignore:Local mode is not recommended")

# CI runs 5,000 vectors; VM_ENGINE_CHAIN_VECTORS=20000 runs the size.
N = int(os.environ.get("VM_ENGINE_CHAIN_VECTORS", "5000"))
DIM = 384


def dataset() -> list[VectorBatch]:
    rng = np.random.default_rng(12)
    batches = []
    for namespace, lo, hi in (("", 0, N // 2), ("tenant-b", N // 2, N)):
        ids = [f"doc-{i}" for i in range(lo, hi)]
        metadata = [
            {"title": f"document {i}", "score": i / 8, "even": i % 2 == 0, "tags": ["x", f"t{i % 5}"]}
            for i in range(lo, hi)
        ]
        values = rng.standard_normal((hi - lo, DIM), dtype=np.float32)
        batches.append(VectorBatch(ids, values, None, metadata, namespace))
    return batches


def test_memory_milvus_chroma_lancedb_pgvector_qdrant_pinecone_memory(
    tmp_path, chroma_server, postgres_dsn, pg_schema, pinecone_client
) -> None:
    store = unique_name("store")
    start = Client(provider="memory", store=store)
    start.create_index("chain", DIM, "euclidean")
    original = dataset()
    for batch in original:
        start.upsert(index="chain", vectors=batch)
    hops = [
        (start, "chain"),
        (Client(provider="milvus", path=str(tmp_path / "milvus.db")), "chain"),
        (Client(provider="chroma", host=chroma_server.url), unique_name("chain")),
        (Client(provider="lancedb", uri=str(tmp_path / "lance")), "chain"),
        (Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema), "chain"),
        (Client(provider="qdrant", edge_path=str(tmp_path / "qdrant")), "chain"),
        (pinecone_client, unique_name("chain")),
        (Client(provider="memory", store=store), "back"),
    ]
    for (source, source_index), (target, target_index) in pairwise(hops):
        hop = f"{source.provider} -> {target.provider}"
        migration = Migration(source, target)
        result = migration.migrate(source_index=source_index, target_index=target_index, batch_size=500)
        assert result.migrated_count == N and not result.errors, hop
        check = migration.verify(source_index=source_index, target_index=target_index, deep=True)
        assert check.match and check.checked == N, (hop, check.summary())
        assert target.index_info(target_index).metric == "euclidean", hop

    end = Client(provider="memory", store=store)
    for batch in original:
        back = end.connector.fetch("back", batch.ids, batch.namespace)
        assert back.ids == batch.ids
        assert np.array_equal(back.values, batch.values), "dense values bit for bit"
        assert back.metadata == batch.metadata
