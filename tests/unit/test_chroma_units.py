"""Chroma: URI and option parsing, namespace collection names, the metadata encoding (also
through the real local engine), and the translation of chromadb's errors."""

from __future__ import annotations

import socket

import httpx
import pytest
from chromadb import errors as chroma_errors

from io_connectors import Client
from io_connectors.chroma import namespaces
from io_connectors.chroma.codec import JSON_KEY, decode_metadata, encode_metadata
from io_connectors.chroma.errors import translate
from io_connectors.chroma.options import settings_from
from io_connectors.core.errors import (
    ConfigError,
    IndexNotFound,
    PermanentError,
    RecordRejected,
    TransientError,
)
from io_connectors.core.registry import parse_uri
from tests.conformance.suite import unique_name

TRICKY_METADATA = [
    {"nested": {"a": [1, {"b": None}]}, "plain": "x"},
    {"null": None, "empty_list": [], "mixed": [1, 2.5], "ints": [1, 2], "floats": [1.0, 2.0]},
    {"huge": 2**70, "small": -(2**63), "big": 2**63 - 1, "neg_huge": -(2**63) - 1},
    {"#hash": 1, "$dollar": 2, "": 3, "chroma:x": 4, "ok.key": True},
    {"text": "the document", "n": 1},
    {"text": 5},
    {"text": {"not": "a string"}},
    {"text": ""},
    {},
    None,
]


# -- URIs and options --------------------------------------------------------------------------
def test_server_uri_with_tenant_database_and_namespace() -> None:
    where = parse_uri(
        "chroma://db.example:9000/products?tenant=t1&database=d1&namespace=ns&records_per_split=7"
    )
    assert (where.index, where.namespace) == ("products", "ns")
    options = dict(where.spec.options)
    assert options == {
        "host": "db.example",
        "port": 9000,
        "ssl": False,
        "tenant": "t1",
        "database": "d1",
        "records_per_split": 7,
    }
    settings = settings_from(options)
    assert (settings.mode, settings.host, settings.port, settings.tenant) == (
        "http",
        "db.example",
        9000,
        "t1",
    )


def test_https_uri_defaults_to_443_and_local_uri_names_folder_and_collection() -> None:
    secure = parse_uri("chroma+https://chroma.example/coll")
    assert (secure.spec.options["port"], secure.spec.options["ssl"], secure.index) == (443, True, "coll")
    local = parse_uri("chroma+local:///data/chroma/my-coll")
    assert (dict(local.spec.options), local.index) == ({"path": "/data/chroma"}, "my-coll")
    assert settings_from(local.spec.options).capabilities().in_process_only


def test_basic_auth_password_is_masked_and_keys_are_refused_in_uris() -> None:
    where = parse_uri("chroma://admin:s3cret-pw@localhost:8000/coll")
    assert where.spec.options["password"] == "s3cret-pw"
    assert "s3cret-pw" not in repr(where.spec)
    headers = settings_from(where.spec.options).headers(where.spec.options)
    assert headers["Authorization"].startswith("Basic ")
    for bad in ("chroma://localhost/coll?api_key=abc", "chroma://localhost/coll?token=abc"):
        with pytest.raises(ConfigError, match="api_key_env"):
            parse_uri(bad)
    with pytest.raises(ConfigError, match="unknown URI parameter 'colour'"):
        parse_uri("chroma://localhost/coll?colour=red")
    with pytest.raises(ConfigError, match="one collection"):
        parse_uri("chroma://localhost/a/b")


def test_api_key_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("MY_CHROMA_KEY", "ck-123456")
    settings = settings_from({"host": "localhost", "api_key_env": "MY_CHROMA_KEY"})
    assert settings.headers({}) == {"x-chroma-token": "ck-123456"}
    bearer = settings_from(
        {"host": "localhost", "api_key_env": "MY_CHROMA_KEY", "auth_header": "authorization"}
    )
    assert bearer.headers({}) == {"Authorization": "Bearer ck-123456"}
    monkeypatch.setenv("MY_CHROMA_PW", "pw-from-env")
    basic = settings_from({"host": "localhost", "username": "u", "password_env": "MY_CHROMA_PW"})
    assert {"pw-from-env", "ck-123456"} <= set(
        basic.secret_values({"api_key": "ck-123456"})
    )  # masked in every message, as given and as sent
    monkeypatch.delenv("MY_CHROMA_KEY")
    with pytest.raises(ConfigError, match="MY_CHROMA_KEY"):
        settings.headers({})


def test_exactly_one_way_in() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        settings_from({})
    with pytest.raises(ConfigError, match="exactly one"):
        settings_from({"host": "localhost", "path": "/tmp/x"})
    assert settings_from({"host": "https://chroma.example"}).ssl
    assert settings_from({"host": "http://h:1234"}).port == 1234


# -- namespaces --------------------------------------------------------------------------------
@pytest.mark.parametrize("namespace", ["tenant-1", "a.b_c", "x", "_under", "with space", "a..b", "ü", "-x-"])
def test_namespace_collection_names_round_trip(namespace: str) -> None:
    name = namespaces.collection_name("idx", namespace)
    assert namespaces.namespace_of("idx", name) == namespace
    assert name.startswith("idx__")


def test_plain_and_encoded_namespace_names_and_index_listing() -> None:
    assert namespaces.collection_name("idx", "tenant-1") == "idx__tenant-1"
    assert namespaces.collection_name("idx", "ü") == "idx___c3bc"
    assert namespaces.collection_name("idx", "") == "idx"
    assert namespaces.indexes(["idx", "idx__a", "other__b", "z"]) == ["idx", "other__b", "z"]
    with pytest.raises(ConfigError, match="__"):
        namespaces.check_index_name("bad__name")
    with pytest.raises(PermanentError, match="512"):
        namespaces.collection_name("idx", "n" * 600)


# -- metadata ----------------------------------------------------------------------------------
@pytest.mark.parametrize("metadata", TRICKY_METADATA)
@pytest.mark.parametrize("vector_id", [42, "42", "doc-1"])
def test_metadata_encoding_is_reversible(metadata, vector_id) -> None:
    stored, document = encode_metadata(metadata, vector_id)
    assert decode_metadata(stored, document, str(vector_id)) == (vector_id, metadata)


def test_native_values_stay_native_and_only_the_rest_is_json() -> None:
    stored, document = encode_metadata(
        {"s": "x", "i": 1, "f": 0.5, "b": True, "l": ["a"], "n": {"x": 1}, "text": "doc"}, 7
    )
    assert document == "doc"
    assert stored == {
        "s": "x",
        "i": 1,
        "f": 0.5,
        "b": True,
        "l": ["a"],
        JSON_KEY: '{"n":{"x":1}}',
        "_vm_id_kind": "int",
    }


def test_a_foreign_record_with_a_document_and_a_text_field_keeps_both() -> None:
    assert decode_metadata({"text": "field", "k": 1}, "the doc", "id-1") == (
        "id-1",
        {"text": "the doc", "metadata_text": "field", "k": 1},
    )


def test_tricky_metadata_round_trips_through_the_real_engine(chroma_path) -> None:
    client = Client(provider="chroma", path=chroma_path)
    index = unique_name()
    client.create_index(index, 2, "euclidean")
    vectors = [{"id": i, "values": [1.0, float(i)], "metadata": m} for i, m in enumerate(TRICKY_METADATA)]
    client.upsert(index=index, vectors=vectors)
    fetched = client.fetch(index=index, ids=list(range(len(TRICKY_METADATA))))
    assert {i: row.get("metadata") for i, row in fetched.items()} == dict(enumerate(TRICKY_METADATA))


def test_reserved_keys_are_refused_by_name(chroma_path) -> None:
    client = Client(provider="chroma", path=chroma_path)
    index = unique_name()
    client.create_index(index, 2, "cosine")
    with pytest.raises(RecordRejected) as raised:
        client.upsert(
            index=index,
            vectors=[
                {"id": "bad", "values": [1.0, 0.0], "metadata": {"_vm_json": "x"}},
                {"id": "good", "values": [1.0, 0.0], "metadata": {"k": 1}},
            ],
        )
    assert list(raised.value.reasons) == ["bad"]
    assert "reserves" in raised.value.reasons["bad"]


def test_rewriting_a_record_replaces_it_whole(chroma_path) -> None:
    """Chroma merges an upsert into the stored record; the connector makes it a replacement."""
    client = Client(provider="chroma", path=chroma_path)
    index = unique_name()
    client.create_index(index, 2, "euclidean")
    client.upsert(
        index=index,
        vectors=[
            {"id": "a", "values": [1.0, 2.0], "metadata": {"text": "old doc", "stale": 1, "deep": {"x": 1}}},
            {"id": 7, "values": [3.0, 4.0], "metadata": {"k": "v"}},
        ],
    )
    client.upsert(
        index=index,
        vectors=[
            {"id": "a", "values": [5.0, 6.0], "metadata": {"fresh": 2}},
            {"id": 7, "values": [3.0, 4.0]},
        ],
    )
    fetched = client.fetch(index=index, ids=["a", 7])
    assert fetched["a"] == {"id": "a", "values": [5.0, 6.0], "metadata": {"fresh": 2}}
    assert fetched[7] == {"id": 7, "values": [3.0, 4.0]}


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "family"),
    [
        (chroma_errors.NotFoundError("Collection [c] does not exist"), IndexNotFound),
        (chroma_errors.NotFoundError("Tenant [t] not found"), ConfigError),
        (chroma_errors.ChromaAuthError("no"), ConfigError),
        (chroma_errors.AuthorizationError("no"), ConfigError),
        (chroma_errors.RateLimitError("slow down"), TransientError),
        (chroma_errors.InternalError("boom"), TransientError),
        (chroma_errors.InvalidArgumentError("bad"), PermanentError),
        (chroma_errors.DuplicateIDError("dup"), PermanentError),
        (httpx.ConnectError("refused"), TransientError),
        (httpx.ReadTimeout("slow"), TransientError),
        (ValueError("Expected metadata value to be a str"), PermanentError),
        (ValueError("Could not connect to tenant default_tenant"), ConfigError),
        (Exception("<html>502 Bad Gateway</html>"), TransientError),
    ],
)
def test_errors_are_translated(error, family) -> None:
    translated = translate(error, "doing it", "c", lambda text: text.replace("ck-secret", "***"))
    assert type(translated) is family


def test_messages_are_redacted() -> None:
    translated = translate(
        httpx.ConnectError("failed for ck-secret-key"),
        "open",
        None,
        lambda t: t.replace("ck-secret-key", "***"),
    )
    assert "ck-secret-key" not in str(translated) and "***" in str(translated)


def test_an_unreachable_server_is_a_config_error_without_the_key(monkeypatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once the probe closes
    monkeypatch.setenv("CHROMA_TEST_KEY", "ck-very-secret-1")
    client = Client(provider="chroma", host="127.0.0.1", port=port, api_key_env="CHROMA_TEST_KEY")
    with pytest.raises(ConfigError) as raised:
        client.list_indexes()
    assert "server running" in str(raised.value)
    assert "ck-very-secret-1" not in str(raised.value)


def test_unsupported_metric_and_missing_dimension_are_config_errors(chroma_path) -> None:
    client = Client(provider="chroma", path=chroma_path)
    with pytest.raises(ConfigError, match="manhattan"):
        client.create_index(unique_name(), 4, "manhattan")
    with pytest.raises(ConfigError, match="dimension"):
        client.create_index(unique_name(), None, "cosine", sparse=True)
    with pytest.raises(IndexNotFound):
        client.describe_index("no-such-index")


def test_encoded_namespaces_live_in_their_own_collections(chroma_path) -> None:
    client = Client(provider="chroma", path=chroma_path)
    index = unique_name()
    client.create_index(index, 2, "dotproduct")
    for namespace in ("", "ü tenant", "plain-ns"):
        client.upsert(index=index, namespace=namespace, vectors=[{"id": 1, "values": [1.0, 2.0]}])
    assert client.describe_index(index)["namespaces"] == {"": 1, "plain-ns": 1, "ü tenant": 1}
    assert client.list_indexes() == [{"name": index}]
    names = client.connector.store.names()
    assert sorted(names) == sorted([index, f"{index}__plain-ns", f"{index}___{'ü tenant'.encode().hex()}"])
    assert client.connector.store.metric(f"{index}__plain-ns") == "dotproduct"
    client.delete(index=index, namespace="ü tenant", delete_all=True)
    assert client.describe_index(index)["namespaces"] == {"": 1, "plain-ns": 1}
    client.delete_index(index)
    assert client.connector.store.names() == []
