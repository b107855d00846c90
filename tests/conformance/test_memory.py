import pytest

from io_connectors import Client
from tests.conformance.suite import ConnectorConformance, unique_name


class TestMemoryConformance(ConnectorConformance):
    @pytest.fixture
    def client(self) -> Client:
        return Client(provider="memory", store=unique_name("store"))
