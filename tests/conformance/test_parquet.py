import pytest

from io_connectors import Client
from tests.conformance.suite import ConnectorConformance


class TestParquetConformance(ConnectorConformance):
    @pytest.fixture
    def client(self, tmp_path) -> Client:
        return Client(provider="parquet", path=str(tmp_path / "indexes"))
