"""The Chroma provider: `ChromaConnector` and the modules it is made of."""

from io_connectors.chroma.connector import ChromaConnector

__all__ = ["ChromaConnector"]
