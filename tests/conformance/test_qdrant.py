"""The conformance suite on Qdrant's local mode (qdrant-client) and on its embedded Rust engine.

``points_per_split=5`` makes the planner cut each namespace into several initial ranges, so the
suite's split checks also cover the sampled range boundaries.
"""

import pytest

from io_connectors import Client
from tests.conformance.suite import ConnectorConformance, unique_name


class TestQdrantLocalMemoryConformance(ConnectorConformance):
    @pytest.fixture
    def client(self) -> Client:
        return Client(provider="qdrant", location=":memory:", store=unique_name("store"), points_per_split=5)


class TestQdrantLocalPathConformance(ConnectorConformance):
    @pytest.fixture
    def client(self, tmp_path) -> Client:
        return Client(provider="qdrant", path=str(tmp_path / "qdrant-local"))


class TestQdrantEdgeConformance(ConnectorConformance):
    @pytest.fixture
    def client(self, tmp_path) -> Client:
        return Client(provider="qdrant", edge_path=str(tmp_path / "qdrant-edge"), points_per_split=5)


class TestQdrantEdgeCollectionPerNamespaceConformance(ConnectorConformance):
    @pytest.fixture
    def client(self, tmp_path) -> Client:
        return Client(provider="qdrant", edge_path=str(tmp_path / "qdrant-edge"), namespace_mode="collection")


class TestQdrantEdgeNamedVectorsConformance(ConnectorConformance):
    @pytest.fixture
    def client(self, tmp_path) -> Client:
        return Client(
            provider="qdrant",
            edge_path=str(tmp_path / "qdrant-edge"),
            vector_name="dense",
            sparse_vector_name="bm25",
        )
