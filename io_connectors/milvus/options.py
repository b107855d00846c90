"""How a Milvus connector is configured: options, URI forms, and the limits it declares.

Exactly one way of reaching Milvus:

- a server: ``uri="http://host:19530"`` (or ``host=`` and ``port=``), with ``token`` (or
  ``user`` and ``password``) for authentication, or ``token_env`` naming an environment
  variable that holds the token (read where the connector opens, so it never travels in the
  pickled job); ``db_name`` chooses the database, ``timeout`` the seconds per request (60);
- milvus-lite, Milvus embedded in this process: ``path="/folder/file.db"``.

Shared options: ``namespace_field`` (the VARCHAR field holding a record's namespace,
``namespace``), ``vector_field`` and ``sparse_field`` (which vector fields to use when a
collection has several), ``rows_per_split`` (records per initial read range, 20,000).

URIs: ``milvus://host:19530/COLLECTION?namespace=NS`` (``milvus+https://`` for TLS) and
``milvus+lite:///folder/file.db/COLLECTION``; query parameters ``namespace``, ``db_name``,
``token_env``, ``timeout`` and the shared options. A password or token in a URI is refused (URIs
end up in logs and shell history): use ``token_env``.

Limits (Milvus' documented ones, https://milvus.io/docs/limitations.md): 64 MB per insert
request (we stay at 16 MB), dimension 32,768, VARCHAR 65,535 bytes, names of 255 characters.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from io_connectors.core.contract import Capabilities, ConnectorSpec, Location
from io_connectors.core.errors import ConfigError

DEFAULT_PORT = 19530
DEFAULT_TIMEOUT = 60.0
DEFAULT_ROWS_PER_SPLIT = 20_000
MAX_DIMENSION = 32_768
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # a quarter of Milvus' 64 MB cap: room for framing
MAX_QUERY_LIMIT = 16_384  # Milvus refuses query limits above this
MAX_ID_BYTES = 2048  # our VARCHAR primary key holds namespace and id in 4096 bytes
MAX_NAMESPACE_BYTES = 1024
MAX_METADATA_BYTES = 65_536  # Milvus' default cap on one JSON value

_URI_OPTIONS = {
    "db_name": str,
    "token_env": str,
    "timeout": float,
    "namespace_field": str,
    "vector_field": str,
    "sparse_field": str,
    "rows_per_split": int,
}


@dataclass(frozen=True)
class MilvusSettings:
    mode: str  # "server" | "lite"
    uri: str  # the server URL or the milvus-lite file
    db_name: str
    user: str
    token_env: str | None
    timeout: float
    namespace_field: str
    vector_field: str | None
    sparse_field: str | None
    rows_per_split: int

    def client_arguments(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """``MilvusClient`` keyword arguments, secrets included (never log them)."""
        arguments: dict[str, Any] = {"uri": self.uri}
        if self.mode == "lite":
            return arguments
        arguments["timeout"] = self.timeout
        if self.db_name:
            arguments["db_name"] = self.db_name
        token = self.token(options)
        if token:
            arguments["token"] = token
        elif self.user:
            arguments["user"] = self.user
            arguments["password"] = str(options.get("password") or "")
        return arguments

    def token(self, options: Mapping[str, Any]) -> str | None:
        if options.get("token"):
            return str(options["token"])
        if self.token_env:
            value = os.environ.get(self.token_env)
            if not value:
                raise ConfigError(f"milvus: environment variable {self.token_env!r} (token_env) is not set")
            return value
        return None

    def capabilities(self) -> Capabilities:
        return Capabilities(
            max_batch_count=MAX_QUERY_LIMIT,
            max_batch_bytes=MAX_REQUEST_BYTES,
            max_dimension=MAX_DIMENSION,
            max_id_length=MAX_ID_BYTES,  # characters; the UTF-8 byte limit is checked per record
            metrics=("cosine", "euclidean", "dotproduct"),
            namespaces="emulated",
            in_process_only=self.mode == "lite",
            default_chunk_size=1000,
            request_bytes_per_value=4.0,
        )


def settings_from(options: Mapping[str, Any]) -> MilvusSettings:
    server = options.get("uri") or options.get("host")
    ways = [w for w, v in (("uri/host", server), ("path", options.get("path"))) if v]
    if len(ways) != 1:
        raise ConfigError(
            "milvus: give exactly one of uri= (a server, e.g. http://localhost:19530) or path= "
            f"(a milvus-lite .db file); got {ways or 'none'}"
        )
    timeout = float(options.get("timeout") or DEFAULT_TIMEOUT)
    rows_per_split = int(options.get("rows_per_split") or DEFAULT_ROWS_PER_SPLIT)
    if timeout <= 0 or rows_per_split < 1:
        raise ConfigError("milvus: timeout and rows_per_split must be positive")
    common: dict[str, Any] = {
        "db_name": str(options.get("db_name") or ""),
        "user": str(options.get("user") or ""),
        "token_env": options.get("token_env"),
        "timeout": timeout,
        "namespace_field": str(options.get("namespace_field") or "namespace"),
        "vector_field": options.get("vector_field"),
        "sparse_field": options.get("sparse_field"),
        "rows_per_split": rows_per_split,
    }
    if server:
        return MilvusSettings("server", _server_url(str(server), options.get("port")), **common)
    path = str(options["path"])
    if not path.endswith(".db"):
        raise ConfigError(f"milvus: a milvus-lite path must name a .db file, not {path!r}")
    return MilvusSettings("lite", path, **common)


def _server_url(server: str, port: Any) -> str:
    if "://" not in server:
        server = f"http://{server}"
    parts = urlsplit(server)
    if parts.username or parts.password:
        raise ConfigError("milvus: credentials do not belong in the server URL; use token= or token_env=")
    if port is not None and parts.port is None:
        return f"{parts.scheme}://{parts.hostname}:{int(port)}"
    if parts.port is None:
        return f"{parts.scheme}://{parts.hostname}:{DEFAULT_PORT}"
    return f"{parts.scheme}://{parts.netloc}"


def parse_milvus_uri(uri: str) -> Location:
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    if parts.password or any(k.lower() in ("token", "password", "api_key") for k in query):
        raise ConfigError(
            "milvus: a password or token does not belong in a URI (URIs are logged); put it in an "
            "environment variable and pass its name as ?token_env=NAME"
        )
    namespace = query.pop("namespace", None)
    options: dict[str, Any] = {}
    for name, value in query.items():
        if name not in _URI_OPTIONS:
            known = ", ".join(sorted(["namespace", *_URI_OPTIONS]))
            raise ConfigError(f"milvus: unknown URI parameter {name!r}; known: {known}")
        try:
            options[name] = _URI_OPTIONS[name](value)
        except ValueError:
            raise ConfigError(f"milvus: URI parameter {name}={value!r} is not a valid value") from None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if scheme in ("milvus", "milvus+https"):
        if not parts.hostname:
            raise ConfigError(f"milvus: {uri!r} names no host; use e.g. milvus://localhost:19530/collection")
        if len(segments) > 1:
            raise ConfigError(
                f"milvus: {uri!r}: the path is one collection name (use ?db_name= for a database)"
            )
        port = parts.port or DEFAULT_PORT
        options["uri"] = f"{'https' if scheme == 'milvus+https' else 'http'}://{parts.hostname}:{port}"
        if parts.username:
            options["user"] = unquote(parts.username)
        index = segments[0] if segments else None
    elif scheme == "milvus+lite":
        path = PurePosixPath("/" + "/".join([unquote(parts.netloc), *segments]).strip("/"))
        if path.suffix == ".db":
            options["path"], index = str(path), None
        elif path.parent.suffix == ".db":
            options["path"], index = str(path.parent), path.name
        else:
            raise ConfigError(
                f"milvus: {uri!r} names no .db file; use milvus+lite:///folder/file.db/collection"
            )
    else:
        raise ConfigError(f"milvus: unknown URI scheme {scheme!r}")
    return Location(ConnectorSpec("milvus", options), index, namespace)
