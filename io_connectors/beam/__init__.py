"""The Beam glue every provider uses: the generic splittable read, the batched write, and the
public transforms built on them (``ReadFromVectorStore``, ``WriteToVectorStore``)."""

from io_connectors.beam.transforms import ReadFromVectorStore, WriteResult, WriteToVectorStore
from transforms.dicts import ToVectorDicts

__all__ = ["ReadFromVectorStore", "ToVectorDicts", "WriteResult", "WriteToVectorStore"]
