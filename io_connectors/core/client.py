"""One client API for every provider, usable outside Beam, shaped like the seed library's client.

client = Client(provider="memory")
client.upsert(index="products", vectors=[{"id": "a", "values": [...], "metadata": {...}}])
client.fetch(index="products", ids=["a"])      # {"a": {"id": "a", "values": [...], ...}}
Client.from_uri("parquet:///exports/products")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from io_connectors.core.batching import chunk_batch, ids_as_strings
from io_connectors.core.contract import Connector, ConnectorSpec, IndexInfo, Location
from io_connectors.core.errors import RecordRejected
from io_connectors.core.records import IdValue, VectorBatch
from io_connectors.core.registry import connector_class, make_connector, parse_uri
from io_connectors.core.retry import with_retries
from io_connectors.core.validation import reject_reasons


class Client:
    """A provider client: ``Client(provider="qdrant", host=..., api_key=...)``.

    Options are the provider's own (see the README); secrets among them never appear in
    ``repr`` or error messages.
    """

    def __init__(self, provider: str, **options: Any) -> None:
        given = {k: v for k, v in options.items() if v is not None}
        self.spec = ConnectorSpec(provider, connector_class(provider).client_options(given))
        self._connector: Connector | None = None
        self._dimensions: dict[str, int | None] = {}  # per index, for validating upserts
        self.location: Location | None = None

    @classmethod
    def from_uri(cls, uri: str) -> Client:
        """A client for the provider a URI names; ``client.location`` keeps its index and namespace."""
        location = parse_uri(uri)
        client = cls(location.spec.provider, **dict(location.spec.options))
        client.location = location
        return client

    @property
    def provider(self) -> str:
        return self.spec.provider

    @property
    def connector(self) -> Connector:
        if self._connector is None:
            connector = make_connector(self.spec)
            connector.open()
            self._connector = connector
        return self._connector

    def for_new_index(self) -> Client:
        """This client for writing an index it has just created (see ``Connector.new_index_options``)."""
        extra = self.connector.new_index_options()
        if not extra:
            return self
        client = Client(self.provider, **{**self.spec.options, **extra})
        client.location = self.location
        return client

    def close(self) -> None:
        if self._connector is not None:
            self._connector.close()
            self._connector = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.spec!r})"

    # -- indexes ---------------------------------------------------------------------------
    def list_indexes(self) -> list[dict[str, Any]]:
        return [{"name": name} for name in self.connector.list_indexes()]

    def describe_index(self, index: str) -> dict[str, Any]:
        return self.connector.describe_index(index).as_dict()

    def index_info(self, index: str) -> IndexInfo:
        return self.connector.describe_index(index)

    def stats(self, index: str, namespace: str | None = None) -> dict[str, Any]:
        info = self.connector.describe_index(index)
        namespaces = dict(info.namespaces)
        if namespace is not None:
            namespaces = {namespace: namespaces.get(namespace, 0)}
        return {
            "total_vector_count": info.count if namespace is None else namespaces[namespace],
            "dimension": info.dimension,
            "namespaces": {ns: {"vector_count": n} for ns, n in namespaces.items()},
        }

    def create_index(
        self, name: str, dimension: int | None, metric: str = "cosine", sparse: bool = False
    ) -> None:
        self.connector.create_index(name, dimension, metric, sparse)

    def delete_index(self, name: str) -> None:
        self.connector.delete_index(name)

    # -- vectors ---------------------------------------------------------------------------
    def upsert(
        self,
        index: str,
        vectors: Iterable[Mapping[str, Any]] | VectorBatch,
        namespace: str | None = None,
    ) -> dict[str, int]:
        """Upsert vectors, validated and chunked to the provider's limits.

        An index that does not exist yet is created with the vectors' dimension and the cosine
        metric. Raises ``RecordRejected`` naming every record the provider cannot take; nothing
        of the call is written in that case.
        """
        if isinstance(vectors, VectorBatch):
            batch = vectors if namespace is None else vectors.with_namespace(namespace)
        else:
            batch = VectorBatch.from_dicts(vectors, namespace or "")
        connector = self.connector
        if not connector.capabilities.int_ids:
            batch, _ = ids_as_strings(batch)
        dimension = self._target_dimension(index, batch)
        reasons = reject_reasons(batch, connector.capabilities, dimension)
        reasons.update(connector.reject_reasons(batch))
        if reasons:
            raise RecordRejected({batch.ids[row]: why for row, why in sorted(reasons.items())})
        caps = connector.capabilities
        for chunk in chunk_batch(
            batch, caps.max_batch_count, caps.max_batch_bytes, caps.request_bytes_per_value
        ):
            with_retries(lambda c=chunk: connector.write(index, c), f"upsert into {index!r}")
        return {"upserted_count": len(batch)}

    def _target_dimension(self, index: str, batch: VectorBatch) -> int | None:
        """The index's dimension, looked up once per client (creating the index if missing)."""
        if index not in self._dimensions:
            if index not in self.connector.list_indexes():
                self.connector.create_index(index, batch.dimension, "cosine", batch.sparse is not None)
            self._dimensions[index] = self.connector.describe_index(index).dimension
        return self._dimensions[index]

    def fetch(
        self, index: str, ids: Sequence[IdValue], namespace: str | None = None
    ) -> dict[IdValue, dict[str, Any]]:
        batch = self.connector.fetch(index, list(ids), namespace or "")
        return {row["id"]: row for row in batch.to_dicts()}

    def delete(
        self,
        index: str,
        ids: Sequence[IdValue] | None = None,
        namespace: str | None = None,
        delete_all: bool = False,
    ) -> None:
        self.connector.delete(index, None if ids is None else list(ids), namespace or "", delete_all)
