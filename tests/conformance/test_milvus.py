"""The conformance suite on milvus-lite, Milvus embedded in this process (a local .db file).

``rows_per_split=5`` makes the planner cut each namespace into several initial key ranges, so
the suite's split checks also cover the sampled boundaries. Milvus refuses negative sparse
weights (a real limit, checked by name below), so the suite's batches carry their absolute values.
"""

import numpy as np
import pytest

from io_connectors import Client, VectorBatch
from io_connectors.core.errors import RecordRejected
from io_connectors.core.records import SparseBlock
from tests.conformance.suite import ConnectorConformance


class TestMilvusLiteConformance(ConnectorConformance):
    @pytest.fixture
    def client(self, tmp_path) -> Client:
        client = Client(provider="milvus", path=str(tmp_path / "milvus.db"), rows_per_split=5)
        yield client
        client.close()

    def batch(self, n: int, namespace: str = "", seed: int = 0) -> VectorBatch:
        batch = super().batch(n, namespace, seed)
        sparse = batch.sparse
        if sparse is not None:
            batch.sparse = SparseBlock(sparse.indptr, sparse.indices, np.abs(sparse.values), sparse.present)
        return batch

    def test_negative_sparse_weights_are_refused_by_name(self, client: Client) -> None:
        index = self.create(client)
        rows = [
            {"id": "ok", "values": [0.5] * 8, "sparse_values": {"indices": [1], "values": [2.0]}},
            {"id": "neg", "values": [0.5] * 8, "sparse_values": {"indices": [1, 2], "values": [2.0, -1.0]}},
        ]
        with pytest.raises(RecordRejected) as raised:
            client.upsert(index=index, vectors=rows)
        assert set(raised.value.reasons) == {"neg"}
        assert "negative" in raised.value.reasons["neg"]
