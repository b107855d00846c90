"""The Parquet provider: `ParquetConnector` and the modules it is made of."""

from io_connectors.parquet.connector import ParquetConnector

__all__ = ["ParquetConnector"]
