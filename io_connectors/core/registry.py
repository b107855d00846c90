"""Lazy registry of providers: a provider name (and its URI schemes) maps to
``"module:Class"``; the module is imported only when that provider is used, so a missing
optional dependency breaks only its own provider, with an install hint."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from io_connectors.core.contract import Connector, ConnectorSpec, Location
from io_connectors.core.errors import ConfigError, MissingExtraError
from io_connectors.core.secrets import mask_uri


@dataclass(frozen=True)
class ProviderEntry:
    target: str  # "module:Class"
    extra: str | None  # the setup.py extra that installs its dependencies
    schemes: tuple[str, ...]


PROVIDERS: dict[str, ProviderEntry] = {
    "memory": ProviderEntry("io_connectors.memory:MemoryConnector", None, ("memory",)),
    "parquet": ProviderEntry(
        "io_connectors.parquet:ParquetConnector", None, ("parquet", "parquet+s3", "parquet+gs")
    ),
    "pgvector": ProviderEntry(
        "io_connectors.pgvector:PgvectorConnector", "pgvector", ("pgvector", "postgresql", "postgres")
    ),
    "qdrant": ProviderEntry(
        "io_connectors.qdrant:QdrantConnector",
        "qdrant",
        ("qdrant", "qdrant+local", "qdrant+edge", "qdrant+https"),
    ),
    "pinecone": ProviderEntry(
        "io_connectors.pinecone:PineconeConnector", "pinecone", ("pinecone", "pinecone+http")
    ),
    "lancedb": ProviderEntry(
        "io_connectors.lancedb:LanceDBConnector",
        "lancedb",
        ("lancedb", "lancedb+s3", "lancedb+gs", "lancedb+az"),
    ),
    "chroma": ProviderEntry(
        "io_connectors.chroma:ChromaConnector", "chroma", ("chroma", "chroma+https", "chroma+local")
    ),
    "milvus": ProviderEntry(
        "io_connectors.milvus:MilvusConnector", "milvus", ("milvus", "milvus+https", "milvus+lite")
    ),
}


def register_provider(
    name: str, target: str, extra: str | None = None, schemes: tuple[str, ...] = ()
) -> None:
    """Add a provider from outside this package (a plugin)."""
    PROVIDERS[name] = ProviderEntry(target, extra, schemes or (name,))


def connector_class(provider: str) -> type[Connector]:
    try:
        entry = PROVIDERS[provider]
    except KeyError:
        raise ConfigError(f"unknown provider {provider!r}; known: {', '.join(sorted(PROVIDERS))}") from None
    module_name, class_name = entry.target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and not exc.name.startswith(module_name.split(".")[0]) and entry.extra:
            raise MissingExtraError(provider, entry.extra, exc.name) from exc
        raise
    return getattr(module, class_name)


def provider_for_scheme(scheme: str) -> str:
    for name, entry in PROVIDERS.items():
        if scheme in entry.schemes:
            return name
    known = sorted(s for e in PROVIDERS.values() for s in e.schemes)
    raise ConfigError(f"unknown URI scheme {scheme!r}; known: {', '.join(known)}")


def parse_uri(uri: str) -> Location:
    """Split a URI into provider spec, index and namespace, by the provider's own parser."""
    scheme = urlsplit(uri).scheme
    if not scheme:
        raise ConfigError(
            f"{mask_uri(uri)!r} is not a URI; expected e.g. parquet:///path/index or memory://index"
        )
    return connector_class(provider_for_scheme(scheme.lower())).parse_uri(uri)


def make_connector(spec: ConnectorSpec) -> Connector:
    return connector_class(spec.provider)(spec)
