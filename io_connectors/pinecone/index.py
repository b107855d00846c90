"""Pinecone indexes as the connector sees them: shape from a description, schema for a creation.

Only vector indexes are served: their schema is the reserved ``_values`` (dense) and/or
``_sparse_values`` (sparse) fields that ``dimension``/``metric`` creations produce. A sparse-only
index has no dimension and always scores by dot product. Sparse values next to dense ones are
accepted only when the dense metric is dotproduct.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import Any

from pinecone import DenseVectorField, PodDeployment, RetryConfig

from io_connectors.core.errors import ConfigError

LOG = logging.getLogger(__name__)
METRICS = ("cosine", "euclidean", "dotproduct")
MAX_DIMENSION = 20_000
WIRE_DEFAULT_NAMESPACE = "__default__"  # how stats and listings name the default namespace ""
_JSON = {"Content-Type": "application/json"}
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?\Z")


@dataclass(frozen=True)
class IndexHandle:
    """An open index: its data-plane client (``pinecone.Index``) and its shape."""

    name: str
    data: Any
    dimension: int | None
    metric: str
    pod: bool

    @property
    def holds_sparse(self) -> bool:
        """Sparse values fit a sparse index, or a dense one scored by dot product."""
        return self.dimension is None or self.metric == "dotproduct"


def open_handle(name: str, model: Any, client: Any) -> IndexHandle:
    """A handle on the index ``model`` (an ``IndexModel``) describes, opened with ``client``."""
    fields = model.schema.fields
    if set(fields) - {"_values", "_sparse_values"}:
        raise ConfigError(
            f"pinecone: index {name!r} is a document index (fields {sorted(fields)}); this "
            "connector reads and writes vector indexes, created with a dimension and a metric"
        )
    if model.host is None:
        raise ConfigError(f"pinecone: index {name!r} has no host yet (is it still initializing?)")
    dense = fields.get("_values")
    dimension, metric = None, "dotproduct"
    if isinstance(dense, DenseVectorField):
        dimension, metric = dense.dimension, dense.metric
    data = client.Index(host=model.host)
    switch_off_sdk_retries(data)
    if not callable(getattr(getattr(data, "_http", None), "post", None)):
        raise ConfigError(
            "pinecone: this version of the pinecone SDK has no HTTP client on its Index "
            "(Index._http); the connector needs pinecone>=10.2,<11"
        )
    return IndexHandle(name, data, dimension, metric, isinstance(model.deployment, PodDeployment))


def switch_off_sdk_retries(index: Any) -> None:
    """pinecone 10.2's data-plane REST client takes no retry policy, and its retries draw on a
    budget shared by every client of a host in the process (past ~50 failures it stops retrying,
    unseen). The connector retries for itself, counted and honouring Retry-After, so it sets the
    SDK transport's policy to no retries."""
    transport = getattr(getattr(getattr(index, "_http", None), "_client", None), "_transport", None)
    config = getattr(transport, "_config", None)
    if isinstance(config, RetryConfig):
        transport._config = replace(config, max_retries=0)  # type: ignore[union-attr]
    else:
        LOG.warning("pinecone: cannot switch off the SDK's own retries; they add to the connector's")


def post_upsert(index: Any, body: bytes) -> None:
    """Send a ready upsert body through the index's SDK HTTP client: its pooled connections,
    credentials and API-version headers, and its typed errors (which ``errors`` translates).

    ``Index.upsert`` takes Python objects only: it would rebuild and re-check every vector and
    encode them again, work the connector has done once already (``wire``). pinecone 10.2's
    ``HTTPClient.post`` sends ``content=`` bytes as they are."""
    index._http.post("/vectors/upsert", content=body, headers=_JSON)


def schema_for(name: str, dimension: int | None, metric: str, sparse: bool) -> dict[str, Any]:
    """The creation schema of an index shaped like a source, or a ConfigError saying why not."""
    if not _NAME.match(name):
        raise ConfigError(
            f"pinecone: {name!r} is not a valid index name: 1-45 lowercase letters, digits and "
            "hyphens, starting and ending with a letter or digit"
        )
    if dimension is None:
        if not sparse:
            raise ConfigError(f"pinecone: index {name!r} would hold neither dense nor sparse vectors")
        if metric != "dotproduct":
            LOG.info("pinecone: %r holds sparse vectors only, scored by dotproduct (not %s)", name, metric)
        return {"fields": {"_sparse_values": {"type": "sparse_vector"}}}
    if metric not in METRICS:
        raise ConfigError(
            f"pinecone: the source uses the {metric} metric; Pinecone supports {', '.join(METRICS)}. "
            "Create the target index yourself with one of them and migrate with create_target off"
        )
    if not 1 <= dimension <= MAX_DIMENSION:
        raise ConfigError(f"pinecone: dimension {dimension} is outside Pinecone's 1..{MAX_DIMENSION}")
    fields: dict[str, Any] = {"_values": {"type": "dense_vector", "dimension": dimension, "metric": metric}}
    if sparse:
        if metric != "dotproduct":
            raise ConfigError(
                f"pinecone: the source has sparse values next to {metric} dense vectors; Pinecone "
                "keeps sparse values only in dotproduct indexes. Create a dotproduct target index "
                "yourself (values are copied unchanged) and migrate with create_target off"
            )
        fields["_sparse_values"] = {"type": "sparse_vector"}
    return {"fields": fields}


def pod_refusal(name: str) -> ConfigError:
    return ConfigError(
        f"pinecone: index {name!r} is pod-based, and Pinecone's list API (the only way to enumerate "
        "ids) serves serverless indexes only, so it cannot be exported whole. Move it to a "
        "serverless index first (Pinecone's pod-to-serverless migration, or a collection), or "
        "read the ids you know with Client.fetch(index=..., ids=[...])"
    )


def namespace_from_wire(name: str) -> str:
    return "" if name == WIRE_DEFAULT_NAMESPACE else name
