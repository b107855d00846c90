"""The Qdrant provider: `QdrantConnector` and the modules it is made of."""

from io_connectors.qdrant.connector import QdrantConnector

__all__ = ["QdrantConnector"]
