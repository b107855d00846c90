"""Keeping secrets out of the job graph a runner receives.

A job is submitted as a serialized pipeline proto. Its DoFns and their configs are pickled into
it, compressed and base64-encoded: unreadable at a glance, but anyone who can see the job (its
description in a console, a saved template, the staging bucket) can decode them. A password or
API key in a connector option travels that way. This module decodes the proto as an onlooker
would and reports which secrets it finds, so a remote job carrying one is refused before it is
submitted; the remedy is to pass the secret to workers through their environment
(``PGPASSWORD``, ``api_key_env``) or a secret manager.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import re
import zlib
from collections.abc import Iterable, Iterator
from urllib.parse import unquote, urlsplit

import apache_beam as beam

from io_connectors.core.contract import ConnectorSpec
from io_connectors.core.errors import ConfigError
from io_connectors.core.secrets import SECRET_OPTION_NAMES

_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{32,}={0,2}")
_CONNECTION_OPTIONS = {"dsn"}
_KEYWORD_PASSWORD = re.compile(r"password\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))", re.IGNORECASE)


def _connection_password(dsn: str) -> str | None:
    """The password in a ``scheme://user:pw@host`` or ``key=value`` connection string."""
    if "://" in dsn:
        password = urlsplit(dsn).password
        return unquote(password) if password else None
    match = _KEYWORD_PASSWORD.search(dsn)
    return (match.group(1) or match.group(2)) if match else None


def spec_secrets(spec: ConnectorSpec) -> list[str]:
    """The secret values in a spec's options. A connection string is secret only for the
    password in it: the rest (host, database, user) is what the workers are meant to get."""
    found = []
    for key, value in spec.options.items():
        if key not in SECRET_OPTION_NAMES or not value:
            continue
        if key in _CONNECTION_OPTIONS:
            password = _connection_password(str(value))
            if password:
                found.append(str(password))
        else:
            found.append(str(value))
    return found


def _decoded_views(data: bytes) -> Iterator[bytes]:
    """``data`` itself and every base64 run in it decoded and, when compressed, decompressed."""
    yield data
    for run in _BASE64_RUN.findall(data):
        try:
            raw = base64.b64decode(run + b"=" * (-len(run) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        yield raw
        for decompress in (zlib.decompress, bz2.decompress):
            try:
                yield decompress(raw)
            except (zlib.error, OSError, ValueError):
                continue


def secrets_in_job_graph(pipeline: beam.Pipeline, secrets: Iterable[str]) -> list[str]:
    """The subset of ``secrets`` readable from the pipeline proto the runner would be sent."""
    wanted = {s for s in secrets if s and len(s) >= 4}
    if not wanted:
        return []
    proto = pipeline.to_runner_api().SerializeToString()
    found: set[str] = set()
    for view in _decoded_views(proto):
        found.update(s for s in wanted if s.encode() in view)
    return sorted(found)


def refuse_secrets_in_job_graph(pipeline: beam.Pipeline, specs: Iterable[ConnectorSpec]) -> None:
    """Raise ``ConfigError`` (naming providers, never the values) when a secret is in the graph."""
    leaking = [spec.provider for spec in specs if secrets_in_job_graph(pipeline, spec_secrets(spec))]
    if leaking:
        raise ConfigError(
            f"the {' and '.join(sorted(set(leaking)))} options hold a secret (a password or API key) "
            "that would be pickled into the job graph sent to remote workers, where anyone who can "
            "see the job can read it. Give it to the workers through their environment instead: "
            "PGPASSWORD for pgvector (and a DSN without the password), api_key_env for Qdrant and "
            "Pinecone"
        )
