"""Names shared by every provider for mapping foreign data onto records, and back.

Data written by other tools keeps a record's parts under its own field names (LangChain's
``document``/``cmetadata``, LlamaIndex's ``text``/``metadata_``, a dump's ``embedding``). A
``FieldMapping`` says, for any source, which field is which; the same option names are accepted
in the Python API (``Client(..., vector_field="embedding")``), the CLI and URI queries, and each
connector applies them to its own columns, payload keys or named vectors. A record's document
text travels between stores as the metadata key ``DOCUMENT_KEY``; a target ``layout`` puts it
where that framework expects it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from io_connectors.core.errors import ConfigError, PermanentError
from io_connectors.core.records import VectorBatch

DOCUMENT_KEY = "text"
# langchain-qdrant's QdrantVectorStore.CONTENT_KEY / METADATA_KEY (its payload layout)
LANGCHAIN_CONTENT_KEY = "page_content"
LANGCHAIN_METADATA_KEY = "metadata"
LAYOUTS = ("native", "langchain", "llamaindex")
FIELD_OPTIONS = (
    "id_field",
    "vector_field",
    "sparse_field",
    "text_field",
    "namespace_field",
    "metadata_fields",
)


@dataclass(frozen=True)
class FieldMapping:
    """Which source field holds each part of a record; ``None`` means the provider's default.

    ``metadata_fields`` ``None`` keeps every field not mapped to another part as metadata.
    """

    id_field: str | None = None
    vector_field: str | None = None
    sparse_field: str | None = None
    text_field: str | None = None
    namespace_field: str | None = None
    metadata_fields: tuple[str, ...] | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> FieldMapping:
        """Read the field options from a connector's options (API keywords or URI query)."""
        values: dict[str, Any] = {name: options.get(name) or None for name in FIELD_OPTIONS}
        fields = values["metadata_fields"]
        if isinstance(fields, str):
            values["metadata_fields"] = tuple(f.strip() for f in fields.split(",") if f.strip())
        elif fields is not None:
            values["metadata_fields"] = tuple(fields)
        return cls(**values)

    @property
    def is_default(self) -> bool:
        return self == FieldMapping()


def layout_option(options: Mapping[str, Any]) -> str:
    """The target layout named in ``options`` (``native`` when absent), checked."""
    layout = str(options.get("layout") or "native").lower()
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    return layout


def provider_options(provider: str, options: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """``options`` with the shared field names turned into the provider's own option names.

    ``names`` maps each field option the provider understands to its own option (pgvector:
    ``vector_field`` -> ``vector_column``). A field option the provider has no use for, or one
    that contradicts the provider's own option, is refused rather than ignored.
    """
    result = dict(options)
    for field_name in FIELD_OPTIONS:
        value = options.get(field_name)
        if value in (None, ""):
            continue
        if field_name not in names:
            usable = ", ".join(sorted(names)) or "none"
            raise ConfigError(f"{provider}: the {field_name!r} option does not apply here (usable: {usable})")
        own = names[field_name]
        if own == field_name:
            continue
        if options.get(own) not in (None, "") and options[own] != value:
            raise ConfigError(
                f"{provider}: {field_name}={value!r} contradicts {own}={options[own]!r}; give one of them"
            )
        result[own] = ",".join(value) if isinstance(value, (list, tuple)) else value
        result.pop(field_name, None)
    return result


class DocumentError(ValueError):
    """A record's document text and metadata cannot be put into (or taken from) a layout."""


@dataclass(frozen=True)
class DocumentPayload:
    """A record's metadata as a key-value store keeps it, in one of the layouts.

    ``native``: the metadata as it is, the document text under ``text_key`` (``text_field``,
    default ``DOCUMENT_KEY``). ``langchain``: LangChain's ``{page_content, metadata}`` payload
    (langchain-qdrant's ``CONTENT_KEY``/``METADATA_KEY``). Both directions are exact inverses, so
    a record read back equals the record written.
    """

    layout: str = "native"
    text_key: str = DOCUMENT_KEY

    @property
    def is_identity(self) -> bool:
        return self.layout == "native" and self.text_key == DOCUMENT_KEY

    def encode(self, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        if metadata is None or self.is_identity:
            return metadata
        rest = dict(metadata)
        text = rest.pop(DOCUMENT_KEY, None)
        if self.layout == "langchain":
            payload: dict[str, Any] = {LANGCHAIN_METADATA_KEY: rest}
            if DOCUMENT_KEY in metadata:
                payload[LANGCHAIN_CONTENT_KEY] = text
            return payload
        if DOCUMENT_KEY in metadata:
            if self.text_key in rest:
                raise DocumentError(
                    f"metadata has both the document text ({DOCUMENT_KEY!r}) and the text_field key "
                    f"{self.text_key!r}"
                )
            rest[self.text_key] = text
        return rest

    def decode(self, payload: dict[str, Any] | None) -> dict[str, Any] | None:
        if payload is None or self.is_identity:
            return payload
        if self.layout == "langchain":
            rest = dict(payload)
            inner = rest.pop(LANGCHAIN_METADATA_KEY, None)
            metadata = dict(inner) if isinstance(inner, dict) else {}
            if inner is not None and not isinstance(inner, dict):
                rest[LANGCHAIN_METADATA_KEY] = inner  # not LangChain's shape: kept as it is
            text_key = LANGCHAIN_CONTENT_KEY
        else:
            metadata, rest, text_key = {}, dict(payload), self.text_key
        if text_key in rest:
            if DOCUMENT_KEY in rest and text_key != DOCUMENT_KEY:
                raise DocumentError(f"the payload holds both {text_key!r} and {DOCUMENT_KEY!r}")
            rest[DOCUMENT_KEY] = rest.pop(text_key)
        clash = sorted(set(metadata) & set(rest))
        if clash:
            raise DocumentError(f"the payload holds {clash} both inside and beside its metadata")
        metadata.update(rest)
        return metadata

    def refusals(self, batch: VectorBatch) -> dict[int, str]:
        """Rows whose metadata this layout cannot hold, with the reason."""
        reasons: dict[int, str] = {}
        if self.is_identity:
            return reasons
        for row, metadata in enumerate(batch.metadata):
            try:
                self.encode(metadata)
            except DocumentError as exc:
                reasons[row] = f"layout {self.layout}: {exc}"
        return reasons

    def encode_batch(self, batch: VectorBatch) -> VectorBatch:
        """The batch with its metadata as stored (its rows passed ``refusals``)."""
        if self.is_identity:
            return batch
        metadata = [self.encode(m) for m in batch.metadata]
        return VectorBatch(batch.ids, batch.values, batch.sparse, metadata, batch.namespace)

    def decode_batch(self, batch: VectorBatch, provider: str) -> VectorBatch:
        """The batch with its stored metadata back as records' metadata; a record whose stored
        form is ambiguous stops the read with an error naming it."""
        if self.is_identity:
            return batch
        metadata = []
        for vector_id, stored in zip(batch.ids, batch.metadata):
            try:
                metadata.append(self.decode(stored))
            except DocumentError as exc:
                raise PermanentError(
                    f"{provider}: record {vector_id!r} (layout {self.layout}): {exc}"
                ) from None
        return VectorBatch(batch.ids, batch.values, batch.sparse, metadata, batch.namespace)
