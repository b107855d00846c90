"""How a Qdrant connector is configured: client options, URI forms, and what each way accepts.

Exactly one way of reaching Qdrant:

- a server: ``host="http://localhost:6333"`` (or ``url=``; a bare host name gets ``http://``,
  or ``https://`` with ``https=True``), ``port``, ``prefix``, ``timeout`` (seconds, default 60),
  ``api_key`` or ``api_key_env`` (the name of an environment variable holding the key, read
  where the connector opens, so the key never travels in the pickled job), ``prefer_grpc=True``
  (and ``grpc_port``, default 6334) for gRPC;
- qdrant-client's local mode: ``location=":memory:"`` (``store=`` names the in-process store,
  default ``"default"``) or ``path="/folder"``;
- the embedded engine: ``edge_path="/folder"`` (one shard directory per collection).

Shared options: ``namespace_mode`` (``"field"``, the default, or ``"collection"``),
``namespace_field`` (default ``_vm_namespace``), ``vector_name`` (the dense named vector; default
the unnamed one), ``sparse_vector_name`` (default ``"sparse"``), ``points_per_split`` (points per
initial read range, default 20,000). The shared field options (``core.fields``) map onto these:
``vector_field`` = ``vector_name``, ``sparse_field`` = ``sparse_vector_name``, ``namespace_field``;
``text_field`` is the payload key of the document text (default ``text``). ``layout=langchain``
keeps payloads as langchain-qdrant does: ``{"page_content": text, "metadata": {...}}``.

URIs: ``qdrant://host:6333/COLLECTION`` (http), ``qdrant+https://host:6333/COLLECTION``,
``qdrant+local:///folder/COLLECTION``, ``qdrant+local://:memory:/COLLECTION``,
``qdrant+edge:///folder/COLLECTION``; query parameters ``namespace``, ``api_key_env``,
``grpc=1``, ``grpc_port``, ``timeout``, ``store`` and the shared options above. An API key is
never accepted in a URI (URIs end up in logs and shell history): use ``api_key_env``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from io_connectors.core.contract import Capabilities, ConnectorSpec, Location
from io_connectors.core.errors import ConfigError
from io_connectors.core.fields import DOCUMENT_KEY, DocumentPayload, layout_option, provider_options

DEFAULT_NAMESPACE_FIELD = "_vm_namespace"
DEFAULT_SPARSE_NAME = "sparse"
DEFAULT_POINTS_PER_SPLIT = 20_000
DEFAULT_TIMEOUT = 60  # seconds a server request may take
MAX_DIMENSION = 65_536
REST_MAX_BATCH_BYTES = 24_000_000  # the server refuses REST bodies over 32 MiB by default
GRPC_MAX_BATCH_BYTES = 3_500_000  # gRPC messages are capped at 4 MiB
JSON_BYTES_PER_VALUE = 20.0  # a float32 widened to a Python float prints ~19 digits and a comma

_URI_OPTIONS = {
    "api_key_env": str,
    "grpc_port": int,
    "timeout": int,
    "store": str,
    "namespace_mode": str,
    "namespace_field": str,
    "vector_name": str,
    "sparse_vector_name": str,
    "points_per_split": int,
    "layout": str,
    "vector_field": str,
    "sparse_field": str,
    "text_field": str,
}
# The shared field options (core.fields) and the Qdrant options they set.
FIELD_NAMES = {
    "vector_field": "vector_name",
    "sparse_field": "sparse_vector_name",
    "namespace_field": "namespace_field",
    "text_field": "text_field",
}


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@dataclass(frozen=True)
class QdrantSettings:
    mode: str  # "server" | "local" | "edge"
    server: Mapping[str, Any] | None  # QdrantClient arguments, without the API key
    local: str | None  # ":memory:<store>" or a folder
    edge_root: str | None
    api_key_env: str | None
    namespace_mode: str
    namespace_field: str
    vector_name: str | None
    sparse_vector_name: str | None
    points_per_split: int
    payload: DocumentPayload = field(default_factory=DocumentPayload)

    @property
    def grpc(self) -> bool:
        return bool(self.server and self.server.get("prefer_grpc"))

    def api_key(self, options: Mapping[str, Any]) -> str | None:
        """The key from ``api_key``, or from the environment variable ``api_key_env`` names."""
        if options.get("api_key"):
            return str(options["api_key"])
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise ConfigError(
                    f"qdrant: environment variable {self.api_key_env!r} (api_key_env) is not set"
                )
            return key
        return None

    def capabilities(self) -> Capabilities:
        """Server requests are capped in bytes (REST JSON or gRPC protobuf); embedded stores live
        in this process (one process can hold them)."""
        common: dict[str, Any] = {
            "normalizes_cosine": True,
            "namespaces": "emulated",
            "max_dimension": MAX_DIMENSION,
        }
        if self.mode == "server" and self.grpc:
            return Capabilities(
                **common,
                max_batch_bytes=GRPC_MAX_BATCH_BYTES,
                request_bytes_per_value=4.0,
                default_chunk_size=256,
            )
        if self.mode == "server":
            return Capabilities(
                **common,
                max_batch_bytes=REST_MAX_BATCH_BYTES,
                request_bytes_per_value=JSON_BYTES_PER_VALUE,
                default_chunk_size=256,
            )
        return Capabilities(**common, in_process_only=True, default_chunk_size=1000)


def settings_from(options: Mapping[str, Any]) -> QdrantSettings:
    options = provider_options("qdrant", options, FIELD_NAMES)
    layout = layout_option(options)
    if layout == "llamaindex":
        raise ConfigError("qdrant: layout=llamaindex is not supported; use layout=native or layout=langchain")
    server_url = options.get("url") or options.get("host")
    location = options.get("location")
    if location is not None and location != ":memory:":
        server_url = server_url or location
        location = None
    ways = [
        w
        for w, v in (
            ("host/url", server_url),
            ("location", location),
            ("path", options.get("path")),
            ("edge_path", options.get("edge_path")),
        )
        if v
    ]
    if len(ways) != 1:
        raise ConfigError(
            "qdrant: give exactly one of host= (a server URL), location=':memory:', path= (local "
            f"mode folder) or edge_path= (embedded engine folder); got {ways or 'none'}"
        )
    namespace_mode = str(options.get("namespace_mode", "field"))
    if namespace_mode not in ("field", "collection"):
        raise ConfigError(f"qdrant: namespace_mode must be 'field' or 'collection', not {namespace_mode!r}")
    common = {
        "api_key_env": options.get("api_key_env"),
        "namespace_mode": namespace_mode,
        "namespace_field": str(options.get("namespace_field", DEFAULT_NAMESPACE_FIELD)),
        "vector_name": options.get("vector_name"),
        "sparse_vector_name": options.get("sparse_vector_name"),
        "points_per_split": max(1, int(options.get("points_per_split", DEFAULT_POINTS_PER_SPLIT))),
        "payload": DocumentPayload(layout, str(options.get("text_field") or DOCUMENT_KEY)),
    }
    if server_url:
        return QdrantSettings("server", _server_arguments(str(server_url), options), None, None, **common)
    if location:
        return QdrantSettings("local", None, f":memory:{options.get('store', 'default')}", None, **common)
    if options.get("path"):
        return QdrantSettings("local", None, str(options["path"]), None, **common)
    return QdrantSettings("edge", None, None, str(options["edge_path"]), **common)


def _server_arguments(url: str, options: Mapping[str, Any]) -> dict[str, Any]:
    if "://" not in url:
        url = f"{'https' if _flag(options.get('https')) else 'http'}://{url}"
    arguments: dict[str, Any] = {
        "url": url,
        "prefer_grpc": _flag(options.get("prefer_grpc") or options.get("grpc")),
    }
    for name in ("port", "grpc_port"):
        if options.get(name) is not None:
            arguments[name] = int(options[name])
    # qdrant-client's own default (5 s) is short for upserts that wait for the server to apply them
    arguments["timeout"] = int(options.get("timeout") or DEFAULT_TIMEOUT)
    if options.get("prefix"):
        arguments["prefix"] = str(options["prefix"])
    return arguments


def parse_qdrant_uri(uri: str) -> Location:
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if any(k.lower().replace("-", "_") == "api_key" for k in query):
        raise ConfigError(
            "qdrant: an API key does not belong in a URI (URIs are logged); put it in an environment "
            "variable and pass its name as ?api_key_env=NAME"
        )
    namespace = query.pop("namespace", None)
    options: dict[str, Any] = {}
    for name, value in query.items():
        if name == "grpc":
            options["prefer_grpc"] = _flag(value)
        elif name in _URI_OPTIONS:
            options[name] = _URI_OPTIONS[name](value)
        else:
            known = ", ".join(sorted(["namespace", "grpc", *_URI_OPTIONS]))
            raise ConfigError(f"qdrant: unknown URI parameter {name!r}; known: {known}")
    if scheme in ("qdrant", "qdrant+https"):
        if not parts.netloc:
            raise ConfigError(f"qdrant: {uri!r} names no host; use e.g. qdrant://localhost:6333/collection")
        segments = [unquote(s) for s in parts.path.split("/") if s]
        options["url"] = f"{'https' if scheme == 'qdrant+https' else 'http'}://{parts.netloc}"
        if len(segments) > 1:
            options["prefix"] = "/" + "/".join(segments[:-1])
        index = segments[-1] if segments else None
    elif scheme == "qdrant+local" and parts.netloc == ":memory:":
        options["location"] = ":memory:"
        index = unquote(parts.path).strip("/") or None
    elif scheme in ("qdrant+local", "qdrant+edge"):
        path = Path(unquote(parts.netloc + parts.path))
        if not path.name:
            raise ConfigError(f"qdrant: {uri!r} names no collection; use {scheme}:///folder/collection")
        options["path" if scheme == "qdrant+local" else "edge_path"] = str(path.parent)
        index = path.name
    else:
        raise ConfigError(f"qdrant: unknown URI scheme {scheme!r}")
    return Location(ConnectorSpec("qdrant", options), index, namespace)
