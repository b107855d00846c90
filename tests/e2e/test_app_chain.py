"""The chain of issue 9: a LangChain pgvector store through every provider, in the frameworks'
layouts, and back, keeping every id, text and metadata value and every query's neighbours.

LangChain-pgvector -> Qdrant's embedded engine (layout=langchain) -> pgvector (layout=llamaindex)
-> Pinecone (local server) -> Parquet (our native, bulk-import layout) -> LangChain-pgvector.
The source store is made by langchain-postgres' own ``PGVector`` from precomputed deterministic
fake embeddings (``DeterministicFakeEmbedding``: one seeded normal vector per text).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_postgres import PGVector
from psycopg import connect

from io_connectors import Client
from io_connectors.core.fields import DOCUMENT_KEY
from pipelines import Migration
from tests.conformance.suite import by_id, read_split

# CI runs 2,000 vectors (about 20 s); the 20,000 run: VM_CHAIN_VECTORS=20000 (see README)
N = int(os.environ.get("VM_CHAIN_VECTORS", "2000"))
DIM = 384
QUERIES = 100
K = 10
COLLECTION = "docs"


def read_all(client: Client, index: str) -> dict:
    connector = client.connector
    return by_id(b for split in connector.plan(index, None, 2000) for b in read_split(connector, split))


def metadata_of(i: int) -> dict:
    """Values every hop keeps as they are (Pinecone returns numbers as floats, equal to these).

    Scores are binary fractions: Qdrant's embedded engine (qdrant-edge-py 0.9) returns some
    floats of 17 significant digits 1 ulp off (e.g. 632/7), which would fail this comparison for
    a reason outside this chain (the local-mode client keeps them exactly)."""
    return {"n": i, "group": f"g{i % 7}", "tags": ["a", str(i % 3)], "score": i / 8, "even": i % 2 == 0}


def make_langchain_source(dsn: str, schema: str) -> None:
    embed = DeterministicFakeEmbedding(size=DIM)
    texts = [f"document number {i} about subject {i % 97}" for i in range(N)]
    url = (
        dsn.replace("postgresql://", "postgresql+psycopg://", 1) + f"?options=-csearch_path%3D{schema},public"
    )
    store = PGVector(embeddings=embed, collection_name=COLLECTION, connection=url, use_jsonb=True)
    for lo in range(0, N, 5000):
        chunk = range(lo, min(lo + 5000, N))
        store.add_embeddings(
            texts=[texts[i] for i in chunk],
            embeddings=embed.embed_documents([texts[i] for i in chunk]),
            metadatas=[metadata_of(i) for i in chunk],
            ids=[f"doc-{i}" for i in chunk],
        )
    store._engine.dispose()


def neighbours(records: dict, ids: list, queries: np.ndarray) -> list[list]:
    """The ids of each query's K nearest records by cosine, brute force over the values read."""
    matrix = np.stack([np.asarray(records[i]["values"], dtype=np.float64) for i in ids])
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    scores = queries @ matrix.T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return [[ids[j] for j in row] for row in top]


def test_langchain_to_qdrant_to_llamaindex_to_pinecone_to_parquet_and_back(
    postgres_dsn: str, pg_schema: str, pinecone_client: Client, tmp_path: Path
) -> None:
    make_langchain_source(postgres_dsn, pg_schema)
    back_schema = f"{pg_schema}_back"
    with connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {back_schema}")
    try:
        source = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema, layout="langchain")
        qdrant = Client(provider="qdrant", edge_path=str(tmp_path / "edge"), layout="langchain")
        llama = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema, layout="llamaindex")
        parquet = Client(provider="parquet", path=str(tmp_path / "parquet"))
        back = Client(provider="pgvector", dsn=postgres_dsn, schema=back_schema, layout="langchain")
        # (name, client, index, source namespace, target namespace): the stores in the middle hold
        # the one collection in their default namespace; its name comes back at the end
        hops = [
            ("qdrant", qdrant, "docs", COLLECTION, ""),
            ("llamaindex", llama, "docs", None, None),
            ("pinecone", pinecone_client, "docs", None, None),
            ("parquet", parquet, "docs", None, None),
            ("back", back, "langchain_pg_embedding", "", COLLECTION),
        ]
        expected = read_all(source, "langchain_pg_embedding")
        assert len(expected) == N
        source_ids = sorted(expected)
        rng = np.random.default_rng(9)
        queries = rng.standard_normal((QUERIES, DIM))
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        wanted = neighbours(expected, source_ids, queries)

        previous, previous_index = source, "langchain_pg_embedding"
        for name, client, index, source_ns, target_ns in hops:
            result = Migration(previous, client).migrate(
                source_index=previous_index,
                target_index=index,
                source_namespace=source_ns,
                target_namespace=target_ns,
            )
            assert result.ok and result.migrated_count == N, (name, result.errors[:3])
            found = read_all(client, index)
            keyed = {(COLLECTION, vector_id): row for (_, vector_id), row in found.items()}
            assert sorted(keyed) == source_ids, name
            for key, record in expected.items():
                assert keyed[key]["metadata"] == record["metadata"], (name, key)
            assert neighbours(keyed, source_ids, queries) == wanted, name
            previous, previous_index = client, index
        assert (
            expected[(COLLECTION, "doc-5")]["metadata"][DOCUMENT_KEY] == "document number 5 about subject 5"
        )
    finally:
        with connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {back_schema} CASCADE")
