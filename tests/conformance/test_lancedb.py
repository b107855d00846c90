"""The conformance suite on LanceDB's embedded engine (a database folder per test).

``rows_per_split=5`` makes the planner group fragments into several splits and cut each into
several initial ranges, so the split checks also cross fragment and range boundaries.
"""

import pytest

from io_connectors import Client
from tests.conformance.suite import ConnectorConformance


class TestLanceDBConformance(ConnectorConformance):
    @pytest.fixture
    def client(self, tmp_path) -> Client:
        return Client(provider="lancedb", uri=str(tmp_path / "lancedb"), rows_per_split=5)
