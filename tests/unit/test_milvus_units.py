"""Milvus URI and option parsing, error translation, primary keys, the position space and
expression literals, collection-name mapping and dense decoding (no engine needed)."""

from __future__ import annotations

import itertools
import random

import grpc
import numpy as np
import pytest

from io_connectors import ConfigError, IndexNotFound, TransientError, parse_uri
from io_connectors.core.errors import PermanentError
from io_connectors.core.records import RecordError
from io_connectors.milvus.codec import decode_key, dense_values, encode_key
from io_connectors.milvus.errors import translate
from io_connectors.milvus.options import settings_from
from io_connectors.milvus.reading import (
    INT_OFFSET,
    STR_END,
    common_prefix,
    cut,
    literal,
    lower_key,
    position,
    ranges_between,
)
from io_connectors.milvus.schema import Layout, collection_name, may_be_mapped


# -- URIs and options --------------------------------------------------------------------------
def test_server_uri() -> None:
    location = parse_uri("milvus://db.example:19531/products?namespace=tenant-1&db_name=shop&timeout=5")
    assert (location.index, location.namespace) == ("products", "tenant-1")
    assert dict(location.spec.options) == {
        "uri": "http://db.example:19531",
        "db_name": "shop",
        "timeout": 5.0,
    }
    assert parse_uri("milvus+https://db.example/p").spec.options["uri"] == "https://db.example:19530"


def test_lite_uri_with_and_without_collection() -> None:
    location = parse_uri("milvus+lite:///data/store.db/products?rows_per_split=10")
    assert (location.spec.options["path"], location.index) == ("/data/store.db", "products")
    assert location.spec.options["rows_per_split"] == 10
    whole = parse_uri("milvus+lite:///data/store.db")
    assert (whole.spec.options["path"], whole.index) == ("/data/store.db", None)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("milvus://root:secret-pw@db:19530/p", "does not belong in a URI"),
        ("milvus://db:19530/p?token=abc", "does not belong in a URI"),
        ("milvus://db:19530/p?colour=red", "unknown URI parameter 'colour'"),
        ("milvus://db:19530/p?timeout=soon", "not a valid value"),
        ("milvus+lite:///data/store/products", "names no .db file"),
        ("milvus:///p", "names no host"),
    ],
)
def test_bad_uris_are_refused_clearly(uri, message) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        parse_uri(uri)
    assert "secret-pw" not in str(raised.value)


def test_options_need_exactly_one_way_in() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        settings_from({})
    with pytest.raises(ConfigError, match="exactly one"):
        settings_from({"uri": "http://h:1", "path": "/x.db"})
    with pytest.raises(ConfigError, match=r"\.db file"):
        settings_from({"path": "/tmp/folder"})
    assert settings_from({"host": "db"}).uri == "http://db:19530"
    assert settings_from({"host": "db", "port": 1234}).uri == "http://db:1234"


def test_token_comes_from_the_environment_and_lite_declares_in_process(monkeypatch) -> None:
    settings = settings_from({"uri": "http://db:19530", "token_env": "MILVUS_TEST_TOKEN"})
    with pytest.raises(ConfigError, match="MILVUS_TEST_TOKEN"):
        settings.client_arguments({})
    monkeypatch.setenv("MILVUS_TEST_TOKEN", "root:Milvus")
    assert settings.client_arguments({})["token"] == "root:Milvus"
    assert not settings.capabilities().in_process_only
    assert settings_from({"path": "/tmp/a.db"}).capabilities().in_process_only


# -- errors ------------------------------------------------------------------------------------
class _Rpc(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def __str__(self) -> str:
        return "rpc failed for token root:s3cret"


def _milvus_error(code: int, message: str, retriable: bool = False) -> Exception:
    from pymilvus.exceptions import MilvusException

    return MilvusException(code=code, message=message, retriable=retriable)


def _redact(text: str) -> str:
    return text.replace("root:s3cret", "***")


@pytest.mark.parametrize(
    ("exc", "family"),
    [
        (_milvus_error(100, "collection not found[collection=x]"), IndexNotFound),
        (_milvus_error(8, "rate limit exceeded"), TransientError),
        (_milvus_error(65535, "some server hiccup", retriable=True), TransientError),
        (_milvus_error(1800, "user hasn't authenticated"), ConfigError),
        (_milvus_error(6, "dim mismatch: expected 8, got 4"), PermanentError),
        (_milvus_error(1, "Open local milvus failed"), ConfigError),
        (_Rpc(grpc.StatusCode.UNAVAILABLE), TransientError),
        (_Rpc(grpc.StatusCode.DEADLINE_EXCEEDED), TransientError),
        (_Rpc(grpc.StatusCode.UNAUTHENTICATED), ConfigError),
        (_Rpc(grpc.StatusCode.INVALID_ARGUMENT), PermanentError),
        (TimeoutError("timed out"), TransientError),
    ],
)
def test_vendor_errors_are_translated(exc, family) -> None:
    translated = translate(exc, "upsert", "x", _redact)
    assert type(translated) is family or (family is ConfigError and isinstance(translated, ConfigError))
    assert "s3cret" not in str(translated)


def test_the_lock_error_says_what_to_do() -> None:
    translated = translate(_milvus_error(1, "Open local milvus failed"), "connect", None, _redact)
    assert "in-memory runner" in str(translated)


# -- keys --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("vector_id", "namespace"),
    [
        ("doc-1", ""),
        (5, ""),
        ("5", "ns"),
        (5, "ns"),
        ("\x1fodd", ""),
        ("a:b", "x:1"),
        ("文档", "ü"),
        (-7, ""),
    ],
)
def test_keys_round_trip_and_keep_kinds_apart(vector_id, namespace) -> None:
    key = encode_key(vector_id, namespace)
    assert decode_key(key) == vector_id and type(decode_key(key)) is type(vector_id)


def test_plain_string_ids_of_the_default_namespace_are_their_own_key() -> None:
    assert encode_key("doc-1", "") == "doc-1"
    keys = {encode_key(i, ns) for i, ns in itertools.product([5, "5"], ["", "a", "a5"])}
    assert len(keys) == 6


@pytest.mark.parametrize("key", ["\x1f", "\x1fx:abc", "\x1f3:abs", "\x1f1:aqz", "\x1f0:iabc"])
def test_malformed_keys_are_named(key) -> None:
    with pytest.raises(RecordError, match="primary key"):
        decode_key(key)


# -- positions ---------------------------------------------------------------------------------
def test_string_positions_follow_milvus_key_order() -> None:
    rng = random.Random(4)
    alphabet = "aZ09-_é文\x1f😀 "
    keys = sorted({"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) for _ in range(2000)})
    assert keys == sorted(keys, key=lambda k: k.encode())  # code point order is UTF-8 byte order
    positions = [position(k, "str") for k in keys]
    assert positions == sorted(positions)
    for k, p in zip(keys, positions):
        low = lower_key(p, "str")
        assert low <= k, (k, low)
        assert 0 <= p < STR_END


def test_lower_key_bounds_every_key_at_or_after_a_position() -> None:
    rng = random.Random(9)
    keys = sorted(f"{rng.choice('abc')}{rng.randint(0, 10**6)}" for _ in range(500))
    prefix = common_prefix(keys[0], keys[-1])
    positions = [position(k, "str", prefix) for k in keys]
    for cut_at in (rng.randrange(min(positions), max(positions)) for _ in range(200)):
        low = lower_key(cut_at, "str", prefix)
        assert all(k >= low for k, p in zip(keys, positions) if p >= cut_at)


def test_int_positions_and_prefixes() -> None:
    assert position(-(2**63), "int") == 0 and position(2**63 - 1, "int") == 2**64 - 1
    assert lower_key(INT_OFFSET + 5, "int") == 5
    assert common_prefix("\x1f2:nsi1", "\x1f2:nssz") == "\x1f2:ns"
    assert position("zzz", "str", "\x1f") == STR_END and position("\x00", "str", "\x1f") == -1


def test_cuts_and_ranges() -> None:
    boundaries = cut(list(range(100)), 4, 0, 100)
    assert boundaries == (25, 50, 75)
    assert ranges_between(boundaries, 0, 100) == [(0, 25), (25, 50), (50, 75), (75, 100)]
    assert ranges_between(boundaries, 30, 60) == [(30, 50), (50, 60)]


def test_literals_escape_what_the_parser_needs() -> None:
    assert literal(-5) == "-5"
    assert literal('a"b\\c\nd\x1f') == '"a\\"b\\\\c\\nd\x1f"'


# -- names and dense values --------------------------------------------------------------------
def test_collection_names() -> None:
    assert collection_name("products_2") == "products_2"
    mapped = collection_name("idx-1")
    assert mapped.startswith("idx_1_vm") and may_be_mapped(mapped) and mapped != collection_name("idx_1")
    assert collection_name("9lives").startswith("_9lives_vm")
    assert collection_name(mapped) != mapped, "a name that looks mapped is mapped again, never confused"
    with pytest.raises(ConfigError):
        collection_name("")


def _layout(dense_type: str) -> Layout:
    return Layout("c", "id", "str", False, None, "v", dense_type, 3, "cosine", None, None, None, (), False)


def test_half_precision_vectors_are_widened_to_float32() -> None:
    want = np.array([0.5, -2.0, 1024.0], dtype=np.float32)
    half = want.astype(np.float16).tobytes()
    assert dense_values(half, _layout("float16"), "a").tolist() == want.tolist()
    assert dense_values([half], _layout("float16"), "a").tolist() == want.tolist()
    bf16 = (want.view(np.uint32) >> 16).astype(np.uint16).tobytes()
    assert dense_values(bf16, _layout("bfloat16"), "a").tolist() == want.tolist()
    with pytest.raises(RecordError, match="'a': 2 dense values stored, expected 3"):
        dense_values(want[:2].astype(np.float16).tobytes(), _layout("float16"), "a")
