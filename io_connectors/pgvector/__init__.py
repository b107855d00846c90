"""The PostgreSQL/pgvector provider: `PgvectorConnector` and the modules it is made of."""

from io_connectors.pgvector.connector import PgvectorConnector

__all__ = ["PgvectorConnector"]
