"""The Milvus provider: `MilvusConnector` and the modules it is made of."""

from io_connectors.milvus.connector import MilvusConnector

__all__ = ["MilvusConnector"]
