"""The shared field options and the document layouts (core.fields), without any store."""

from __future__ import annotations

import numpy as np
import pytest

from io_connectors.core.errors import ConfigError, PermanentError
from io_connectors.core.fields import (
    DocumentError,
    DocumentPayload,
    FieldMapping,
    layout_option,
    provider_options,
)
from io_connectors.core.records import VectorBatch

RECORDS = [
    None,
    {},
    {"text": "hello", "a": 1, "nested": {"b": [1, 2]}},
    {"a": 1},
    {"text": None},
]


@pytest.mark.parametrize(
    "payload",
    [DocumentPayload("langchain"), DocumentPayload("native", "body"), DocumentPayload()],
    ids=["langchain", "text_field", "native"],
)
def test_every_layout_gives_back_exactly_what_it_was_given(payload: DocumentPayload) -> None:
    for metadata in RECORDS:
        assert payload.decode(payload.encode(metadata)) == metadata


def test_langchain_payload_is_what_langchain_qdrant_reads() -> None:
    stored = DocumentPayload("langchain").encode({"text": "hello", "a": 1})
    assert stored == {"page_content": "hello", "metadata": {"a": 1}}
    # a payload LangChain wrote itself, plus a field another tool added beside it
    assert DocumentPayload("langchain").decode(
        {"page_content": "x", "metadata": {"k": "v"}, "_vm_namespace": "n"}
    ) == {"text": "x", "k": "v", "_vm_namespace": "n"}


def test_ambiguous_records_are_refused_by_name() -> None:
    with pytest.raises(DocumentError, match="'body'"):
        DocumentPayload("native", "body").encode({"text": "t", "body": "b"})
    with pytest.raises(DocumentError, match="inside and beside"):
        DocumentPayload("langchain").decode({"page_content": "t", "metadata": {"text": "u"}})
    batch = VectorBatch(["ok", "bad"], np.zeros((2, 2)), None, [{"text": "t"}, {"text": "t", "body": "b"}])
    assert list(DocumentPayload("native", "body").refusals(batch)) == [1]
    stored = VectorBatch(["p1"], np.zeros((1, 2)), None, [{"body": "b", "text": "t"}])
    with pytest.raises(PermanentError, match="record 'p1'"):
        DocumentPayload("native", "body").decode_batch(stored, "qdrant")


def test_field_options_become_provider_options() -> None:
    names = {"vector_field": "vector_column", "metadata_fields": "metadata_fields"}
    assert provider_options("p", {"vector_field": "emb", "metadata_fields": ["a", "b"]}, names) == {
        "vector_column": "emb",
        "metadata_fields": ["a", "b"],
    }
    assert provider_options("p", {"vector_field": "emb", "vector_column": "emb"}, names) == {
        "vector_column": "emb"
    }
    with pytest.raises(ConfigError, match="'text_field' option does not apply here"):
        provider_options("p", {"text_field": "t"}, names)
    assert FieldMapping.from_options({"metadata_fields": "a, b,"}).metadata_fields == ("a", "b")
    assert layout_option({}) == "native" and layout_option({"layout": "LangChain"}) == "langchain"
