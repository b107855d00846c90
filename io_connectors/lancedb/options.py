"""LanceDB URIs and connector options.

``lancedb:///path/to/db/table?namespace=ns`` names a database folder (what ``lancedb.connect``
opens), a table in it and optionally a namespace. ``lancedb+s3://bucket/prefix/table`` (and
``lancedb+gs``, ``lancedb+az``) name a database on an object store; credentials then come from
the environment (every worker needs them), never from the URI or the options; the
``storage_options`` option of the Python API carries other object-store settings (region,
endpoint) and refuses credential-like keys.
Field-mapping options (``vector_field``, ``id_field``...) and ``rows_per_split`` may be given as
URI query parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from io_connectors.core.contract import ConnectorSpec, Location
from io_connectors.core.errors import ConfigError
from io_connectors.core.fields import FIELD_OPTIONS, FieldMapping

OBJECT_STORES = {"lancedb+s3": "s3", "lancedb+gs": "gs", "lancedb+az": "az"}
SCHEMES = ("lancedb", *OBJECT_STORES)
QUERY_OPTIONS = (*FIELD_OPTIONS, "rows_per_split")
DEFAULT_ROWS_PER_SPLIT = 50_000
SECRET_HINTS = ("key", "secret", "token", "password", "credential", "sas")


@dataclass(frozen=True)
class LanceOptions:
    """What a LanceDB connector is configured with, checked once."""

    uri: str
    rows_per_split: int = DEFAULT_ROWS_PER_SPLIT
    fields: FieldMapping = field(default_factory=FieldMapping)
    storage_options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> LanceOptions:
        uri = options.get("uri") or options.get("path")
        if not uri:
            raise ConfigError(
                "lancedb: the 'uri' option (the database folder or object-store URI) is required"
            )
        try:
            rows_per_split = int(options.get("rows_per_split", DEFAULT_ROWS_PER_SPLIT))
        except (TypeError, ValueError):
            raise ConfigError(
                f"lancedb: rows_per_split must be a positive integer, not {options['rows_per_split']!r}"
            ) from None
        if rows_per_split < 1:
            raise ConfigError(f"lancedb: rows_per_split must be a positive integer, not {rows_per_split}")
        storage = options.get("storage_options") or {}
        if not isinstance(storage, Mapping):
            raise ConfigError("lancedb: storage_options must be a mapping of object-store settings")
        secret = sorted(k for k in storage if any(h in str(k).lower() for h in SECRET_HINTS))
        if secret:
            raise ConfigError(
                f"lancedb: storage_options {', '.join(secret)} look like credentials; options travel "
                "with the job and end up in logs: set them as environment variables instead "
                "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, GOOGLE_SERVICE_ACCOUNT, "
                "AZURE_STORAGE_ACCOUNT_KEY...)"
            )
        return cls(str(uri), rows_per_split, FieldMapping.from_options(options), dict(storage))


def parse_lancedb_uri(uri: str) -> Location:
    """``lancedb:///db/table?namespace=..`` -> spec with ``uri=/db``, index ``table``."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigError(f"lancedb: unknown URI scheme {parts.scheme!r}; use one of {', '.join(SCHEMES)}")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = sorted(set(query) - {"namespace", *QUERY_OPTIONS})
    if unknown:
        raise ConfigError(
            f"lancedb: unknown URI parameter(s) {', '.join(unknown)}; "
            f"known: namespace, {', '.join(QUERY_OPTIONS)}"
        )
    path = unquote(parts.path).rstrip("/")
    if scheme == "lancedb":
        full = unquote(parts.netloc) + path
        database, _, table = full.rpartition("/")
        database = database or ("/" if full.startswith("/") else ".")
    else:
        if not parts.netloc:
            raise ConfigError(f"lancedb: {uri!r} names no bucket; use {scheme}://bucket/prefix/table")
        prefix, _, table = path.rpartition("/")
        database = f"{OBJECT_STORES[scheme]}://{parts.netloc}{prefix}"
    if not table or table in (".", ".."):
        raise ConfigError(f"lancedb: {uri!r} names no table; use lancedb:///path/to/db/table")
    options: dict[str, Any] = {"uri": database}
    options.update({k: v for k, v in query.items() if k in QUERY_OPTIONS and v})
    return Location(ConnectorSpec("lancedb", options), table, query.get("namespace"))
