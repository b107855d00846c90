"""The Pinecone provider's options and URIs.

``Client(provider="pinecone", **options)``:

=====================  ======================================================================
``api_key``            the API key (secret); default: the environment variable below
``api_key_env``        the environment variable holding the key (``PINECONE_API_KEY``); with a
                       distributed runner the workers need it too
``host``               the control-plane URL (``https://api.pinecone.io``); ``http://`` for a
                       local or compatible server
``cloud``, ``region``  where indexes the tool creates go (``aws``, ``us-east-1``)
``write_concurrency``  upsert requests in flight per connector (8, the SDK's own default for
                       batched upserts: a 1,000-vector chunk of 768 dimensions is ~5 requests)
``read_concurrency``   fetch requests in flight per reader (4)
``list_limit``         ids per list page, 1..100 (100)
``split_size``         ids per read split (2000)
``plan_id_bytes``      bytes of ids a read plan may carry in its splits, sparing readers from
                       listing again (4 MiB; kept small: runners ship splits in the job graph)
``fetch_url_bytes``    query-string budget of one fetch, which carries its ids (16384)
``timeout``            seconds per request attempt (30)
``compact_floats``     send float32 values in their short decimal form (true)
``preserve_types``     record metadata numbers' and lists' types in a reserved field and
                       restore them on read (false; see ``types``)
=====================  ======================================================================

URIs: ``pinecone://<index>?namespace=<ns>`` (the cloud) and
``pinecone+http://<host>:<port>/<index>?namespace=<ns>`` (a control plane over plain HTTP);
``cloud``, ``region``, ``api_key_env``, ``text_field``, ``layout`` and ``preserve_types`` may be
given as query parameters.

The document text of a record travels as the metadata key ``text``, which is also where
LangChain's ``PineconeVectorStore`` keeps it (its ``text_key`` defaults to ``"text"``), so
``layout=native`` and ``layout=langchain`` are one layout here; ``text_field`` names another
metadata key for it (an application's own ``text_key``). An API key in a URI
is refused: URIs end up in logs and shell history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from io_connectors.core.contract import ConnectorSpec, Location
from io_connectors.core.errors import ConfigError

CLOUD_HOST = "https://api.pinecone.io"
URI_OPTIONS = ("cloud", "region", "api_key_env", "text_field", "layout", "preserve_types")


@dataclass(frozen=True)
class PineconeOptions:
    host: str = CLOUD_HOST
    api_key_env: str = "PINECONE_API_KEY"
    cloud: str = "aws"
    region: str = "us-east-1"
    write_concurrency: int = 8
    read_concurrency: int = 4
    list_limit: int = 100
    split_size: int = 2000
    plan_id_bytes: int = 4 * 1024 * 1024
    fetch_url_bytes: int = 16 * 1024
    timeout: float = 30.0
    compact_floats: bool = True
    preserve_types: bool = False

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> PineconeOptions:
        timeout = float(options.get("timeout", cls.timeout))
        if timeout <= 0:
            raise ConfigError(f"pinecone: option timeout must be positive, got {timeout}")
        return cls(
            host=str(options.get("host", CLOUD_HOST)).rstrip("/"),
            api_key_env=str(options.get("api_key_env", cls.api_key_env)),
            cloud=str(options.get("cloud", cls.cloud)),
            region=str(options.get("region", cls.region)),
            write_concurrency=_whole(options, "write_concurrency", cls.write_concurrency),
            read_concurrency=_whole(options, "read_concurrency", cls.read_concurrency),
            list_limit=_whole(options, "list_limit", cls.list_limit, maximum=100),
            split_size=_whole(options, "split_size", cls.split_size),
            plan_id_bytes=_whole(options, "plan_id_bytes", cls.plan_id_bytes, minimum=0),
            fetch_url_bytes=_whole(options, "fetch_url_bytes", cls.fetch_url_bytes),
            timeout=timeout,
            compact_floats=str(options.get("compact_floats", True)).lower() not in ("false", "0", "no"),
            preserve_types=str(options.get("preserve_types", False)).lower() in ("true", "1", "yes", "on"),
        )


def _whole(
    options: Mapping[str, Any], name: str, default: int, maximum: int | None = None, minimum: int = 1
) -> int:
    try:
        value = int(options.get(name, default))
    except (TypeError, ValueError):
        raise ConfigError(f"pinecone: option {name} must be a whole number") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigError(f"pinecone: option {name} must be {bound}, got {value}")
    return value


def parse_uri(uri: str) -> Location:
    parts = urlsplit(uri)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if "api_key" in query:
        raise ConfigError(
            "pinecone: do not put the API key in a URI (it would end up in logs and shell history); "
            "set PINECONE_API_KEY, or name another variable with ?api_key_env="
        )
    options = {k: query[k] for k in URI_OPTIONS if k in query}
    if parts.scheme.lower() == "pinecone+http":
        if not parts.netloc:
            raise ConfigError(f"pinecone: {uri!r} names no host; use pinecone+http://host:port/index")
        options["host"] = f"http://{parts.netloc}"
        index = unquote(parts.path).strip("/") or None
    else:
        index = unquote(parts.netloc + parts.path).strip("/") or None
    return Location(ConnectorSpec("pinecone", options), index, query.get("namespace"))
