"""Vector store connectors: one module per provider behind one contract, and one client API."""

from io_connectors import _quiet_imports  # noqa: F401  (first: silences a Beam import notice)
from io_connectors.client import Client
from io_connectors.contract import Capabilities, Connector, ConnectorSpec, IndexInfo, Location, Split
from io_connectors.errors import (
    ConfigError,
    IndexNotFound,
    MissingExtraError,
    PermanentError,
    RecordRejected,
    TransientError,
    VectorMigrateError,
)
from io_connectors.records import RecordError, SparseBlock, VectorBatch
from io_connectors.registry import make_connector, parse_uri, register_provider

__all__ = [
    "Capabilities",
    "Client",
    "ConfigError",
    "Connector",
    "ConnectorSpec",
    "IndexInfo",
    "IndexNotFound",
    "Location",
    "MissingExtraError",
    "PermanentError",
    "RecordError",
    "RecordRejected",
    "SparseBlock",
    "Split",
    "TransientError",
    "VectorBatch",
    "VectorMigrateError",
    "make_connector",
    "parse_uri",
    "register_provider",
]
