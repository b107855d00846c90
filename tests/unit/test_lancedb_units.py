"""LanceDB: URI and option parsing, error translation, retries of injected commit conflicts,
quoting in filters, and the refusals a user meets (on the real embedded engine)."""

from __future__ import annotations

import lancedb
import numpy as np
import pyarrow as pa
import pytest

from io_connectors import Client, ConfigError, IndexNotFound, TransientError
from io_connectors.core.errors import PermanentError
from io_connectors.core.registry import parse_uri
from io_connectors.lancedb.errors import translate
from io_connectors.lancedb.options import LanceOptions
from tests.conformance.suite import make_batch


@pytest.mark.parametrize(
    ("uri", "database", "table", "namespace"),
    [
        ("lancedb:///data/db/products?namespace=t1", "/data/db", "products", "t1"),
        ("lancedb:///products", "/", "products", None),
        ("lancedb://relative/db/products", "relative/db", "products", None),
        ("lancedb:///data/my%20db/tab%C3%BC/", "/data/my db", "tabü", None),
        ("lancedb+s3://bucket/prefix/deep/products", "s3://bucket/prefix/deep", "products", None),
        ("lancedb+gs://bucket/products?namespace=", "gs://bucket", "products", ""),
        ("lancedb+az://container/db/products", "az://container/db", "products", None),
    ],
)
def test_uri_forms(uri: str, database: str, table: str, namespace: str | None) -> None:
    at = parse_uri(uri)
    assert (at.spec.provider, at.spec.options["uri"], at.index, at.namespace) == (
        "lancedb",
        database,
        table,
        namespace,
    )


def test_uri_query_carries_field_options_and_refuses_unknown_ones() -> None:
    at = parse_uri("lancedb:///db/t?vector_field=emb&id_field=doc_id&rows_per_split=10&metadata_fields=a,b")
    options = LanceOptions.from_options(at.spec.options)
    assert (options.fields.vector_field, options.fields.id_field, options.rows_per_split) == (
        "emb",
        "doc_id",
        10,
    )
    assert options.fields.metadata_fields == ("a", "b")
    with pytest.raises(ConfigError, match=r"unknown URI parameter.*colour"):
        parse_uri("lancedb:///db/t?colour=blue")
    with pytest.raises(ConfigError, match="names no table"):
        parse_uri("lancedb:///")
    with pytest.raises(ConfigError, match="names no bucket"):
        parse_uri("lancedb+s3:///prefix/t")


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="'uri' option"):
        LanceOptions.from_options({})
    for bad in ("many", 0):
        with pytest.raises(ConfigError, match="rows_per_split must be a positive integer"):
            LanceOptions.from_options({"uri": "/db", "rows_per_split": bad})
    with pytest.raises(ConfigError, match="storage_options must be a mapping"):
        LanceOptions.from_options({"uri": "/db", "storage_options": "key=x"})


@pytest.mark.parametrize(
    ("raised", "family"),
    [
        (ValueError("Table 'docs' was not found"), IndexNotFound),
        (ValueError("Table 'docs' already exists"), ConfigError),
        (ValueError("Invalid input, Schema error: No field named x"), PermanentError),
        (OSError("LanceError(IO): Generic S3 error: connection reset"), TransientError),
        (RuntimeError("Retryable commit conflict for version 7"), TransientError),
        (RuntimeError("Encountered internal error: corrupt file"), PermanentError),
        (NotImplementedError("not supported on this table"), ConfigError),
    ],
)
def test_errors_are_translated_into_families(raised: Exception, family: type) -> None:
    translated = translate(raised, "upserting", "docs")
    assert isinstance(translated, family)
    if family is not IndexNotFound:
        assert "lancedb: upserting failed" in str(translated)


def test_programming_errors_pass_through_and_credentials_stay_out_of_options() -> None:
    bug = KeyError("x")
    assert translate(bug, "reading", "docs") is bug
    settings = {"region": "eu-west-1", "aws_secret_access_key": "s3cr3tKEY"}
    with pytest.raises(ConfigError, match="aws_secret_access_key look like credentials") as raised:
        LanceOptions.from_options({"uri": "s3://b/db", "storage_options": settings})
    assert "s3cr3tKEY" not in str(raised.value)
    options = LanceOptions.from_options({"uri": "s3://b/db", "storage_options": {"region": "eu-west-1"}})
    assert options.storage_options == {"region": "eu-west-1"}


def test_commit_conflicts_are_retried(tmp_path, monkeypatch) -> None:
    """Fault injection: the first merge fails as a commit conflict LanceDB could not resolve."""
    client = Client(provider="lancedb", uri=str(tmp_path))
    client.create_index("t", 8, "cosine")
    calls = []
    original = lancedb.merge.LanceMergeInsertBuilder.execute

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("Retryable commit conflict for version 3: too many concurrent writers")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(lancedb.merge.LanceMergeInsertBuilder, "execute", flaky)
    monkeypatch.setattr("io_connectors.core.retry.RetryPolicy.base_delay", 0.001)
    client.upsert(index="t", vectors=make_batch(5))
    assert len(calls) == 2 and client.stats(index="t")["total_vector_count"] == 5


def test_refusals_name_the_problem(tmp_path) -> None:
    client = Client(provider="lancedb", uri=str(tmp_path))
    with pytest.raises(ConfigError, match="manhattan"):
        client.create_index("t", 8, "manhattan")
    with pytest.raises(ConfigError, match="needs a dense dimension"):
        client.create_index("t", None, "cosine")
    client.create_index("t", 8, "euclidean")
    client.create_index("t", 8, "euclidean")  # same shape: left as it is
    with pytest.raises(ConfigError, match="exists with dimension 8, not 4"):
        client.create_index("t", 4, "euclidean")
    with pytest.raises(IndexNotFound, match="nope"):
        client.describe_index("nope")
    with pytest.raises(ConfigError, match="not a valid table name"):
        client.describe_index("a/b")
    lancedb.connect(tmp_path).create_table("theirs", data=[{"id": 1, "vector": [0.0] * 8}])
    with pytest.raises(ConfigError, match="not created by vector-migrate"):
        client.connector.write("theirs", make_batch(2))
    lancedb.connect(tmp_path).create_table("novec", data=[{"id": 1, "a": [1.0, 2.0]}])  # list<double>
    with pytest.raises(ConfigError, match="no fixed-size float vector column; name one with vector_field"):
        client.describe_index("novec")
    pair = pa.FixedSizeListArray.from_arrays(pa.array([1.0, 2.0], pa.float32()), 2)
    lancedb.connect(tmp_path).create_table("twovec", data=pa.table({"id": [1], "a": pair, "b": pair}))
    with pytest.raises(ConfigError, match="several vector columns a, b; name one with vector_field"):
        client.describe_index("twovec")
    assert (
        Client(provider="lancedb", uri=str(tmp_path), vector_field="a").describe_index("novec")["count"] == 1
    )


def test_quotes_in_ids_and_namespaces_and_repeated_ids(tmp_path) -> None:
    client = Client(provider="lancedb", uri=str(tmp_path))
    client.create_index("t", 2, "cosine")
    odd = ["it's", "back`tick", 'dq"', "7", 7]
    rows = [{"id": vid, "values": [float(n), 1.0], "metadata": {"n": n}} for n, vid in enumerate(odd)]
    client.upsert(index="t", vectors=rows, namespace="o'ns")
    repeated = [{"id": "it's", "values": [9.0, 9.0]}, {"id": "it's", "values": [8.0, 8.0]}]
    client.upsert(index="t", vectors=repeated, namespace="o'ns")  # the last occurrence wins
    fetched = client.fetch(index="t", ids=odd, namespace="o'ns")
    assert (
        set(fetched) == set(odd)
        and fetched["7"]["metadata"] == {"n": 3}
        and fetched[7]["metadata"] == {"n": 4}
    )
    assert np.array_equal(fetched["it's"]["values"], [8.0, 8.0]) and "metadata" not in fetched["it's"]
    client.delete(index="t", ids=["it's", 7], namespace="o'ns")
    assert set(client.fetch(index="t", ids=odd, namespace="o'ns")) == {"back`tick", 'dq"', "7"}
    assert client.stats(index="t")["namespaces"] == {"o'ns": {"vector_count": 3}}


def test_a_foreign_tables_metric_comes_from_its_vector_index(tmp_path) -> None:
    from lancedb.index import IvfFlat

    rng = np.random.default_rng(0)
    table = lancedb.connect(tmp_path).create_table(
        "indexed", data=[{"vector": rng.standard_normal(8).tolist(), "id": i} for i in range(300)]
    )
    client = Client(provider="lancedb", uri=str(tmp_path))
    assert client.describe_index("indexed")["metric"] == "cosine"  # assumed, and said so
    table.create_index("vector", config=IvfFlat(distance_type="dot", num_partitions=2))
    info = client.describe_index("indexed")
    assert (info["metric"], info["details"]["metric_source"]) == ("dotproduct", "vector index 'vector_idx'")
