"""Namespaces on Qdrant, which has none: a payload field, or a collection per namespace.

- ``namespace_mode="field"`` (default): every namespace of an index shares its collection; a
  point of namespace NS carries ``namespace_field: NS`` in its payload (``_vm_namespace`` by
  default, keyword-indexed and marked as the tenant key where the backend has payload indexes),
  and the default namespace is the points without the field, so collections written with the
  default namespace only look like any Qdrant collection. Ids of a named namespace are always
  mapped to UUIDs that include the namespace (``ids``): equal ids in two namespaces stay
  two points. Per-namespace counts: one count for the default namespace, then the facet API on
  the field (exact); where the field has no index (a collection another tool wrote), or when
  there are more namespaces than one facet request returns, one scroll over that payload field.
- ``namespace_mode="collection"``: namespace NS of index INDEX is the collection
  ``INDEX__NS`` (NS percent-encoded), the default namespace is INDEX itself; ids pass as they
  are. Index names must not contain ``__`` in this mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from io_connectors.core.errors import PermanentError
from io_connectors.qdrant.backend import FACET_LIMIT, Backend, FieldFilter

T = TypeVar("T")
Retrying = Callable[[str, Callable[[], T]], T]
SEPARATOR = "__"


@dataclass(frozen=True)
class Place:
    """Where a namespace of an index lives: a collection, a filter in it, and how ids map."""

    collection: str
    where: FieldFilter | None
    id_key: str  # mixed into derived point ids when namespaces share a collection
    field: str | None  # the namespace payload field, when namespaces share a collection

    def holds(self, payload: dict[str, Any]) -> bool:
        """Whether a point with this payload belongs to this namespace."""
        if self.where is None:
            return True
        return (payload.get(self.where.field) or "") == self.where.value

    def unfiltered(self) -> Place:
        return replace(self, where=None)


@dataclass(frozen=True)
class NamespaceLayout:
    mode: str  # "field" | "collection"
    field: str
    backend: Backend
    retrying: Retrying

    def place(self, index: str, namespace: str) -> Place:
        if self.mode == "collection":
            collection = index if not namespace else f"{index}{SEPARATOR}{quote(namespace, safe='')}"
            return Place(collection, None, "", None)
        return Place(index, FieldFilter(self.field, namespace), namespace, self.field)

    def indexes(self) -> list[str]:
        names = self.retrying("list collections", self.backend.collections)
        if self.mode == "field":
            return names
        present = set(names)
        return [n for n in names if SEPARATOR not in n or n.split(SEPARATOR, 1)[0] not in present]

    def namespace_collections(self, index: str) -> dict[str, str]:
        """Namespace -> collection, for the named namespaces of ``index`` (collection mode)."""
        prefix = f"{index}{SEPARATOR}"
        names = self.retrying("list collections", self.backend.collections)
        return {unquote(c[len(prefix) :]): c for c in names if c.startswith(prefix) and len(c) > len(prefix)}

    def counts(self, index: str) -> dict[str, int]:
        """Points per non-empty namespace of ``index``."""
        if self.mode == "collection":
            places = {"": index, **self.namespace_collections(index)}
            counts = {
                ns: self.retrying(f"count {c!r}", lambda c=c: self.backend.count(c, None))
                for ns, c in places.items()
            }
        else:
            counts = self._field_counts(index)
        return {ns: n for ns, n in sorted(counts.items()) if n}

    def _field_counts(self, index: str) -> dict[str, int]:
        backend, field = self.backend, self.field
        total = self.retrying(f"count {index!r}", lambda: backend.count(index, None))
        default = self.retrying(f"count {index!r}", lambda: backend.count(index, FieldFilter(field, "")))
        counts = {"": default}
        if total > default:
            try:
                tagged = self.retrying(f"facet {index!r}", lambda: backend.facet(index, field))
            except PermanentError:  # no payload index on the field
                tagged = {}
            if not tagged or len(tagged) >= FACET_LIMIT:  # one pass over that payload field
                tagged = self.retrying(f"scan {index!r}", lambda: backend.field_values(index, field))
            counts.update(tagged)
        return counts
