"""pgvector tables made by LangChain and LlamaIndex themselves, read and written in their layouts.

The source tables are created by langchain-postgres' ``PGVector`` and llama-index's
``PGVectorStore`` with deterministic fake embeddings; the tables we write are opened again by
those same classes and searched.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import psycopg
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_postgres import PGVector

from io_connectors import Client, ConfigError, VectorBatch
from io_connectors.core.fields import DOCUMENT_KEY
from pipelines import Migration, cli
from tests.conformance.suite import by_id, read_split

DIM = 32
TEXTS = {
    "books": [f"a book about topic {i}" for i in range(40)],
    "films": [f"a film about topic {i}" for i in range(25)],
}


def sqlalchemy_url(dsn: str, schema: str) -> str:
    """The DSN for SQLAlchemy's psycopg 3 driver, with ``schema`` first on the search path."""
    return (
        dsn.replace("postgresql://", "postgresql+psycopg://", 1) + f"?options=-csearch_path%3D{schema},public"
    )


def read_all(client: Client, index: str) -> dict:
    connector = client.connector
    return by_id(b for split in connector.plan(index, None, 1000) for b in read_split(connector, split))


def langchain_store(dsn: str, schema: str, collection: str) -> PGVector:
    """A LangChain PGVector store; ``embedding_length`` unset makes the untyped ``vector`` column."""
    return PGVector(
        embeddings=DeterministicFakeEmbedding(size=DIM),
        collection_name=collection,
        connection=sqlalchemy_url(dsn, schema),
        use_jsonb=True,
    )


@pytest.fixture
def langchain_source(postgres_dsn: str, pg_schema: str) -> dict[str, list[Document]]:
    docs: dict[str, list[Document]] = {}
    for collection, texts in TEXTS.items():
        store = langchain_store(postgres_dsn, pg_schema, collection)
        docs[collection] = [
            Document(page_content=text, metadata={"n": i, "collection": collection, "tags": ["x", str(i)]})
            for i, text in enumerate(texts)
        ]
        store.add_documents(docs[collection], ids=[f"{collection}-{i}" for i in range(len(texts))])
        store._engine.dispose()
    return docs


def test_langchain_tables_migrate_with_collections_as_namespaces(
    postgres_dsn: str, pg_schema: str, langchain_source: dict[str, list[Document]]
) -> None:
    source = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema, layout="langchain")
    info = source.index_info("langchain_pg_embedding")
    assert info.dimension == DIM  # the column has no dimension: it came from the data
    assert info.namespaces == {"books": 40, "films": 25}
    target = Client(provider="memory", store=f"lc-{pg_schema}")
    result = Migration(source, target).migrate(source_index="langchain_pg_embedding", target_index="copy")
    assert result.ok and result.migrated_count == 65
    records = read_all(target, "copy")
    embed = DeterministicFakeEmbedding(size=DIM)
    for collection, documents in langchain_source.items():
        for i, doc in enumerate(documents):
            record = records[(collection, f"{collection}-{i}")]
            assert record["metadata"] == {**doc.metadata, DOCUMENT_KEY: doc.page_content}
            np.testing.assert_allclose(record["values"], embed.embed_query(doc.page_content), rtol=1e-6)


def test_rows_of_another_dimension_fail_by_id_and_the_rest_migrate(
    postgres_dsn: str, pg_schema: str, langchain_source: dict[str, list[Document]]
) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {pg_schema}.langchain_pg_embedding "
            "(id, collection_id, embedding, document, cmetadata) "
            "SELECT 'odd-one', collection_id, '[1,2,3]', 'three dims', '{}' "
            f"FROM {pg_schema}.langchain_pg_embedding WHERE id = 'books-0'"
        )
    source = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema, layout="langchain")
    target = Client(provider="memory", store=f"odd-{pg_schema}")
    result = Migration(source, target).migrate(source_index="langchain_pg_embedding", target_index="copy")
    assert result.migrated_count == 65 and result.failed_count == 1
    [error] = result.errors
    assert error.ids == ["odd-one"] and error.namespace == "books" and "dimension" in error.message
    assert ("books", "odd-one") not in read_all(target, "copy")


def test_written_in_langchain_layout_langchain_opens_and_searches(
    postgres_dsn: str, pg_schema: str, langchain_source: dict[str, list[Document]]
) -> None:
    source = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema, layout="langchain")
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {pg_schema}_out")
    try:
        target = Client(provider="pgvector", dsn=postgres_dsn, schema=f"{pg_schema}_out", layout="langchain")
        result = Migration(source, target).migrate(
            source_index="langchain_pg_embedding", target_index="langchain_pg_embedding"
        )
        assert result.ok and result.migrated_count == 65
        verified = Migration(source, target).verify(
            source_index="langchain_pg_embedding", target_index="langchain_pg_embedding", deep=True
        )
        assert verified.match and verified.checked == 65
        for collection in TEXTS:
            before = langchain_store(postgres_dsn, pg_schema, collection)
            after = langchain_store(postgres_dsn, f"{pg_schema}_out", collection)
            for query in ("a book about topic 3", "a film about topic 7", "something else"):
                expected = before.similarity_search_with_score(query, k=10)
                found = after.similarity_search_with_score(query, k=10)
                assert [(d.id, d.page_content, d.metadata) for d, _ in found] == [
                    (d.id, d.page_content, d.metadata) for d, _ in expected
                ]
                np.testing.assert_allclose([s for _, s in found], [s for _, s in expected], atol=1e-6)
            before._engine.dispose()
            after._engine.dispose()
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {pg_schema}_out CASCADE")


def test_llamaindex_round_trip_and_llamaindex_searches_what_we_wrote(
    postgres_dsn: str, pg_schema: str, langchain_source: dict[str, list[Document]]
) -> None:
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from llama_index.vector_stores.postgres import PGVectorStore

    def llama_store(table: str) -> PGVectorStore:
        host, port = postgres_dsn.rsplit("@", 1)[1].split("/")[0].split(":")
        return PGVectorStore.from_params(
            host=host,
            port=port,
            database=postgres_dsn.rsplit("/", 1)[1],
            user="postgres",
            password="",
            table_name=table,
            schema_name=pg_schema,
            embed_dim=DIM,
        )

    embed = DeterministicFakeEmbedding(size=DIM)
    made = llama_store("made")
    texts = [f"node text {i}" for i in range(30)]
    made.add(
        [
            TextNode(
                id_=f"node-{i}", text=t, metadata={"i": i, "kind": "made"}, embedding=embed.embed_query(t)
            )
            for i, t in enumerate(texts)
        ]
    )
    llama = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema, layout="llamaindex")
    assert {"name": "made"} in llama.list_indexes()
    copy = Client(provider="memory", store=f"li-{pg_schema}")
    assert Migration(llama, copy).migrate(source_index="made", target_index="made").ok
    records = read_all(copy, "made")
    assert len(records) == 30
    record = records[("", "node-3")]
    assert record["metadata"][DOCUMENT_KEY] == "node text 3" and record["metadata"]["i"] == 3

    # and back into a new LlamaIndex table, which LlamaIndex searches like the one it made
    result = Migration(copy, llama).migrate(source_index="made", target_index="copied")
    assert result.ok and result.migrated_count == 30
    again = Migration(copy, llama).migrate(source_index="made", target_index="copied", create_target=False)
    assert again.ok  # a re-run replaces the rows of its ids instead of doubling them
    assert llama.connector.count("copied") == 30
    copied = llama_store("copied")
    for query in ("node text 5", "node text 17", "unrelated"):
        q = VectorStoreQuery(query_embedding=embed.embed_query(query), similarity_top_k=10)
        expected, found = made.query(q), copied.query(q)
        assert found.ids == expected.ids
        assert [n.get_content() for n in found.nodes] == [n.get_content() for n in expected.nodes]
        assert [n.metadata["i"] for n in found.nodes] == [n.metadata["i"] for n in expected.nodes]


def test_qdrant_langchain_layout_opens_in_langchain_qdrant_and_reads_back(
    postgres_dsn: str, pg_schema: str, langchain_source: dict[str, list[Document]], tmp_path: Path
) -> None:
    from langchain_qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    source = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema, layout="langchain")
    for collection in TEXTS:
        target = Client(provider="qdrant", path=str(tmp_path), layout="langchain")
        result = Migration(source, target).migrate(
            source_index="langchain_pg_embedding",
            target_index=collection,
            source_namespace=collection,
            target_namespace="",
        )
        assert result.ok and result.migrated_count == len(TEXTS[collection])
        if collection == "films":  # one deep verification: the layout reads back what was written
            verified = Migration(source, target).verify(
                source_index="langchain_pg_embedding",
                target_index=collection,
                source_namespace=collection,
                target_namespace="",
                deep=True,
            )
            assert verified.match and verified.checked == len(TEXTS[collection])
        target.connector.close()  # local mode locks its folder: let LangChain's client open it
    client = QdrantClient(path=str(tmp_path))
    try:
        for collection in TEXTS:
            before = langchain_store(postgres_dsn, pg_schema, collection)
            after = QdrantVectorStore(
                client=client, collection_name=collection, embedding=DeterministicFakeEmbedding(size=DIM)
            )
            for query in ("a book about topic 3", "a film about topic 7", "something else"):
                expected = [(d.page_content, d.metadata) for d in before.similarity_search(query, k=10)]
                found = after.similarity_search(query, k=10)
                # langchain-qdrant adds the point id and collection to each result's metadata
                assert [
                    (d.page_content, _without(d.metadata, "_id", "_collection_name")) for d in found
                ] == expected
            before._engine.dispose()
    finally:
        client.close()
    # and read back through the same layout: every record as LangChain's pgvector store held it
    target = Client(provider="qdrant", path=str(tmp_path), layout="langchain")
    copy = Client(provider="memory", store=f"qd-{pg_schema}")
    assert Migration(target, copy).migrate(source_index="books", target_index="books").ok
    records = read_all(copy, "books")
    for i, doc in enumerate(langchain_source["books"]):
        assert records[("", f"books-{i}")]["metadata"] == {**doc.metadata, DOCUMENT_KEY: doc.page_content}
    target.connector.close()


def _without(mapping: dict, *keys: str) -> dict:
    return {k: v for k, v in mapping.items() if k not in keys}


def test_field_options_name_a_plain_tables_columns(postgres_dsn: str, pg_schema: str) -> None:
    """A table an application made by hand: the shared field options pick its columns."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {pg_schema}.chunks (chunk_id text PRIMARY KEY, emb vector, body text, "
            "source text, page int, tenant text, internal text)"
        )
        conn.execute(
            f"INSERT INTO {pg_schema}.chunks SELECT 'c' || i, ARRAY[i, 1, 2]::real[]::vector, 'body ' || i, "
            "'file.pdf', i, CASE WHEN i < 3 THEN 'a' ELSE 'b' END, 'secret' FROM generate_series(0, 5) AS i"
        )
    source = Client(
        provider="pgvector",
        dsn=postgres_dsn,
        schema=pg_schema,
        id_field="chunk_id",
        vector_field="emb",
        text_field="body",
        namespace_field="tenant",
        metadata_fields="source,page",
    )
    target = Client(provider="memory", store=f"fields-{pg_schema}")
    result = Migration(source, target).migrate(source_index="chunks", target_index="chunks")
    assert result.ok and result.migrated_count == 6
    records = read_all(target, "chunks")
    assert records[("a", "c1")]["metadata"] == {"source": "file.pdf", "page": 1, DOCUMENT_KEY: "body 1"}
    assert records[("b", "c4")]["values"] == pytest.approx([4.0, 1.0, 2.0])


def test_a_field_option_contradicting_a_column_option_is_refused(postgres_dsn: str) -> None:
    with pytest.raises(ConfigError, match="vector_field='a' contradicts vector_column='b'"):
        _ = Client(provider="pgvector", dsn=postgres_dsn, vector_field="a", vector_column="b").connector
    with pytest.raises(ConfigError, match="unknown layout 'haystack'"):
        _ = Client(provider="pgvector", dsn=postgres_dsn, layout="haystack").connector
    with pytest.raises(ConfigError, match="'id_field' option does not apply"):
        _ = Client(provider="qdrant", location=":memory:", id_field="x").connector


def test_layouts_and_fields_in_uris_through_the_cli(
    postgres_dsn: str, pg_schema: str, langchain_source: dict[str, list[Document]], tmp_path: Path, capsys
) -> None:
    database = postgres_dsn.rsplit("/", 1)[1]
    base = postgres_dsn.rsplit("/", 1)[0].replace("postgresql://", "pgvector://", 1)
    langchain_uri = (
        f"{base}/{database}/langchain_pg_embedding?schema={pg_schema}&layout=langchain&namespace=films"
    )
    qdrant_uri = f"qdrant+local://{tmp_path}/films?layout=langchain"
    # LangChain's Qdrant store has no namespaces: the collection lands in the default one
    migrate = [
        "migrate",
        "--source",
        langchain_uri,
        "--target",
        qdrant_uri,
        "--target-namespace",
        "",
        "--json",
    ]
    assert cli.main(migrate) == 0
    assert json.loads(capsys.readouterr().out)["migrated_count"] == 25
    llama_uri = f"{base}/{database}/films?schema={pg_schema}&layout=llamaindex"
    back_uri = f"qdrant+local://{tmp_path}/films?layout=langchain"
    assert cli.main(["migrate", "--source", back_uri, "--target", llama_uri, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["migrated_count"] == 25
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT text, metadata_::jsonb FROM {pg_schema}.data_films WHERE node_id = 'films-4'"
        ).fetchone()
    assert row == ("a film about topic 4", {"n": 4, "collection": "films", "tags": ["x", "4"]})


def test_pinecone_keeps_the_text_where_langchain_reads_it_or_under_text_field(pinecone_server) -> None:
    """LangChain's PineconeVectorStore reads a document from metadata key ``text`` (its
    ``text_key``): where ours travels. ``text_field`` names another key, as an application may."""
    from pinecone import Pinecone

    from tests.fixtures.pinecone import PINECONE_TEST_KEY

    values = np.random.default_rng(3).standard_normal((3, 8)).astype(np.float32)
    batch = VectorBatch(["a", "b", "c"], values, None, [{"text": f"doc {i}", "i": i} for i in range(3)])
    for index, options in (("plain", {}), ("own", {"text_field": "body"})):
        client = Client(provider="pinecone", api_key=PINECONE_TEST_KEY, host=pinecone_server.url, **options)
        source = Client(provider="memory", store=f"pc-{index}")
        source.upsert(index="docs", vectors=batch)
        assert Migration(source, client).migrate(source_index="docs", target_index=index).ok
        control = Pinecone(api_key=PINECONE_TEST_KEY, host=pinecone_server.url)
        raw = control.Index(host=control.describe_index(index).host)
        stored = raw.fetch(ids=["b"], namespace="").vectors["b"].metadata
        assert stored == ({"text": "doc 1", "i": 1.0} if not options else {"body": "doc 1", "i": 1.0})
        assert read_all(client, index)[("", "b")]["metadata"] == {"text": "doc 1", "i": 1.0}
