"""The LanceDB provider: `LanceDBConnector` and the modules it is made of."""

from io_connectors.lancedb.connector import LanceDBConnector

__all__ = ["LanceDBConnector"]
