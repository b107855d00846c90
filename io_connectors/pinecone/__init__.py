"""The Pinecone provider: `PineconeConnector` and the modules it is made of."""

from io_connectors.pinecone.connector import PineconeConnector

__all__ = ["PineconeConnector"]
