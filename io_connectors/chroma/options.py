"""How a Chroma connector is configured: client options, URI forms, and what each way accepts.

Exactly one way of reaching Chroma:

- a server over HTTP: ``host="localhost"`` (or a URL ``"http://host:8000"``; ``https://`` or
  ``ssl=True`` for TLS), ``port`` (default 8000), and credentials when the server wants them:
  ``api_key`` or ``api_key_env`` (the name of an environment variable holding it, read where the
  connector opens, so the key never travels in the pickled job), sent in the ``x-chroma-token``
  header (``auth_header="authorization"`` sends ``Authorization: Bearer KEY`` instead), or
  ``username`` with ``password``/``password_env`` for basic auth;
- the persistent local client: ``path="/folder"`` (Chroma's own embedded engine, in this
  process).

Shared options: ``tenant`` and ``database`` (Chroma's defaults when absent), ``records_per_split``
(records per initial read range, default 10,000).

URIs: ``chroma://host:8000/COLLECTION`` (http), ``chroma+https://host/COLLECTION``,
``chroma+local:///folder/COLLECTION``; query parameters ``namespace``, ``tenant``,
``database``, ``api_key_env``, ``auth_header``, ``password_env``, ``records_per_split``. A
``user:password@`` in a server URI is basic auth; the password is masked wherever the spec is
shown. An API key is never accepted in a URI (URIs end up in logs and shell history): use
``api_key_env``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from io_connectors.core.contract import Capabilities, ConnectorSpec, Location
from io_connectors.core.errors import ConfigError

DEFAULT_PORT = 8000
DEFAULT_RECORDS_PER_SPLIT = 10_000
MAX_BATCH_BYTES = 24_000_000  # the server's request body limit is far above; keeps requests quick
JSON_BYTES_PER_VALUE = 12.0  # orjson prints a float32 in about 11 characters plus a comma
AUTH_HEADERS = ("x-chroma-token", "authorization")

_URI_OPTIONS = {
    "tenant": str,
    "database": str,
    "api_key_env": str,
    "auth_header": str,
    "password_env": str,
    "records_per_split": int,
}


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@dataclass(frozen=True)
class ChromaSettings:
    mode: str  # "http" | "local"
    host: str | None
    port: int
    ssl: bool
    path: str | None
    tenant: str | None
    database: str | None
    api_key_env: str | None
    auth_header: str
    username: str | None
    password_env: str | None
    records_per_split: int

    def headers(self, options: Mapping[str, Any]) -> dict[str, str]:
        """Request headers carrying the credentials; read here so they stay out of the spec."""
        headers: dict[str, str] = {}
        key = options.get("api_key") or _from_env(self.api_key_env, "api_key_env")
        if key:
            if self.auth_header == "authorization":
                headers["Authorization"] = f"Bearer {key}"
            else:
                headers["x-chroma-token"] = str(key)
        password = options.get("password") or _from_env(self.password_env, "password_env")
        if self.username or password:
            if not (self.username and password):
                raise ConfigError("chroma: basic auth needs both username and password")
            token = base64.b64encode(f"{self.username}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return headers

    def secret_values(self, options: Mapping[str, Any]) -> list[str]:
        """Every credential value, as given and as sent (to mask them wherever text leaves)."""
        values = [str(options.get("api_key") or _from_env(self.api_key_env, "api_key_env") or "")]
        values.append(str(options.get("password") or _from_env(self.password_env, "password_env") or ""))
        values += [v.split(" ", 1)[-1] for v in self.headers(options).values()]
        return [v for v in values if v]

    def capabilities(self) -> Capabilities:
        """Chroma stores no sparse vectors and no namespaces (emulated by collections); it
        normalises cosine vectors internally and gives them back rounded (see the connector);
        the persistent client lives in this process."""
        return Capabilities(
            sparse=False,
            normalizes_cosine=True,
            metrics=("cosine", "euclidean", "dotproduct"),
            namespaces="emulated",
            max_batch_bytes=MAX_BATCH_BYTES,
            request_bytes_per_value=JSON_BYTES_PER_VALUE,
            in_process_only=self.mode == "local",
            default_chunk_size=1000,
        )


def _from_env(variable: str | None, option: str) -> str | None:
    if not variable:
        return None
    value = os.environ.get(variable)
    if not value:
        raise ConfigError(f"chroma: environment variable {variable!r} ({option}) is not set")
    return value


def settings_from(options: Mapping[str, Any]) -> ChromaSettings:
    host, path = options.get("host") or options.get("url"), options.get("path")
    if bool(host) == bool(path):
        raise ConfigError(
            "chroma: give exactly one of host= (a server, e.g. 'localhost' or 'http://host:8000') "
            f"or path= (a persistent local folder); got {'both' if host else 'neither'}"
        )
    auth_header = str(options.get("auth_header") or AUTH_HEADERS[0]).lower()
    if auth_header not in AUTH_HEADERS:
        raise ConfigError(
            f"chroma: auth_header must be one of {', '.join(AUTH_HEADERS)}, not {auth_header!r}"
        )
    per_split = int(options.get("records_per_split") or DEFAULT_RECORDS_PER_SPLIT)
    if per_split < 1:
        raise ConfigError(f"chroma: records_per_split must be at least 1, not {per_split}")
    common: dict[str, Any] = {
        "tenant": options.get("tenant") or None,
        "database": options.get("database") or None,
        "api_key_env": options.get("api_key_env") or None,
        "auth_header": auth_header,
        "username": options.get("username") or None,
        "password_env": options.get("password_env") or None,
        "records_per_split": per_split,
    }
    if path:
        return ChromaSettings("local", None, DEFAULT_PORT, False, str(path), **common)
    server, port, ssl = _server(str(host), options)
    return ChromaSettings("http", server, port, ssl, None, **common)


def _server(host: str, options: Mapping[str, Any]) -> tuple[str, int, bool]:
    """Host name, port and TLS from ``host`` (a name or a URL) and the ``port``/``ssl`` options."""
    ssl = _flag(options.get("ssl") or options.get("https"))
    if "://" in host:
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"chroma: host {host!r} is not an http(s) URL")
        ssl = ssl or parts.scheme == "https"
        port = parts.port or options.get("port") or (443 if ssl else DEFAULT_PORT)
        return parts.hostname, int(port), ssl
    return host, int(options.get("port") or DEFAULT_PORT), ssl


def parse_chroma_uri(uri: str) -> Location:
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if any(k.lower().replace("-", "_") in ("api_key", "password", "token") for k in query):
        raise ConfigError(
            "chroma: credentials do not belong in URI parameters (URIs are logged); put them in an "
            "environment variable and pass its name as ?api_key_env=NAME or ?password_env=NAME"
        )
    namespace = query.pop("namespace", None)
    options: dict[str, Any] = {}
    for name, value in query.items():
        if name not in _URI_OPTIONS:
            known = ", ".join(sorted(["namespace", *_URI_OPTIONS]))
            raise ConfigError(f"chroma: unknown URI parameter {name!r}; known: {known}")
        options[name] = _URI_OPTIONS[name](value)
    if scheme in ("chroma", "chroma+https"):
        if not parts.hostname:
            raise ConfigError(
                f"chroma: {parts.scheme}:// URI names no host; use e.g. chroma://localhost:8000/collection"
            )
        options["host"] = parts.hostname
        options["port"] = parts.port or (443 if scheme == "chroma+https" else DEFAULT_PORT)
        options["ssl"] = scheme == "chroma+https"
        if parts.username:
            options["username"] = unquote(parts.username)
        if parts.password:
            options["password"] = unquote(parts.password)
        segments = [unquote(s) for s in parts.path.split("/") if s]
        if len(segments) > 1:
            raise ConfigError(
                f"chroma: a server URI names one collection: {parts.path!r} has {len(segments)} parts"
            )
        index = segments[0] if segments else None
    elif scheme == "chroma+local":
        path = Path(unquote(parts.netloc + parts.path))
        if not path.name or str(path.parent) in ("", "."):
            raise ConfigError(
                "chroma: chroma+local URIs name a folder and a collection: chroma+local:///folder/collection"
            )
        options["path"] = str(path.parent)
        index = path.name
    else:
        raise ConfigError(f"chroma: unknown URI scheme {scheme!r}")
    return Location(ConnectorSpec("chroma", options), index, namespace)
