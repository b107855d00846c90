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

from io_connectors.core.errors import ConfigError

DOCUMENT_KEY = "text"
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
