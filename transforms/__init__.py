"""Provider-agnostic PTransforms over VectorBatch: validate, remap namespaces, map ids, rechunk,
and plain dicts per vector <-> batches."""

import io_connectors.core._quiet_imports  # noqa: F401  (first: silences a Beam import notice)
from transforms.dicts import AsBatches, ToVectorDicts
from transforms.map_ids import MapIdsForTarget
from transforms.rechunk import Rechunk
from transforms.remap import NamespaceMap, RemapNamespaces
from transforms.validate import Validate

__all__ = [
    "AsBatches",
    "MapIdsForTarget",
    "NamespaceMap",
    "Rechunk",
    "RemapNamespaces",
    "ToVectorDicts",
    "Validate",
]
