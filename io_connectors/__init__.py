"""Vector store connectors: shared core, Beam glue, and one package (or module) per provider."""

from io_connectors.core import _quiet_imports  # noqa: F401  (first: silences a Beam import notice)
from io_connectors.core.client import Client
from io_connectors.core.contract import Capabilities, Connector, ConnectorSpec, IndexInfo, Location, Split
from io_connectors.core.errors import (
    ConfigError,
    IndexNotFound,
    MissingExtraError,
    PermanentError,
    RecordRejected,
    TransientError,
    VectorMigrateError,
)
from io_connectors.core.records import RecordError, SparseBlock, VectorBatch
from io_connectors.core.registry import make_connector, parse_uri, register_provider

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
