"""Namespaces on Chroma, which has none: one collection per namespace.

Namespace NS of index INDEX is the collection ``INDEX__NS``; the default namespace is the
collection INDEX itself, so an index written with the default namespace only is a plain Chroma
collection that any other tool reads, and any existing collection reads as an index. A namespace
that is not a valid collection-name part (Chroma allows ``[a-zA-Z0-9._-]``, starting and ending
with a letter or digit, no ``..``) is hex-encoded behind one more underscore: ``INDEX___<hex>``
(a plain namespace never starts with ``_``, so the two forms never meet). Index names must not
contain ``__``.

Why collections rather than a reserved metadata field with ``where`` filters: Chroma has no
"field is absent" filter (``$ne`` matches records without the field too, and there is no
``$exists``), no facet or filtered count, and one id space per collection. A field would need a
full metadata scan to count namespaces and rewritten ids to keep equal ids of two namespaces
apart. A collection per namespace gives exact counts in one call, unfiltered offset reads, and
ids stored as they are. Namespace collections are created on first write with the index's
distance and dimension.
"""

from __future__ import annotations

import re

from io_connectors.core.errors import ConfigError, PermanentError

SEPARATOR = "__"
HEX_MARK = "_"
MAX_NAME = 512
_PLAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


def check_index_name(index: str) -> None:
    if SEPARATOR in index:
        raise ConfigError(
            f"chroma: index name {index!r} contains {SEPARATOR!r}, which separates an index from its "
            "namespaces' collections; choose another name"
        )


def collection_name(index: str, namespace: str) -> str:
    """The collection holding ``namespace`` of ``index``."""
    if not namespace:
        return index
    if _PLAIN.fullmatch(namespace) and ".." not in namespace:
        name = f"{index}{SEPARATOR}{namespace}"
    else:
        name = f"{index}{SEPARATOR}{HEX_MARK}{namespace.encode().hex()}"
    if len(name) > MAX_NAME:
        raise PermanentError(
            f"chroma: namespace {namespace!r} of index {index!r} makes the collection name {len(name)} "
            f"characters long; Chroma allows {MAX_NAME}"
        )
    return name


def namespace_of(index: str, collection: str) -> str | None:
    """The namespace of ``index`` that ``collection`` holds, or None when it holds none."""
    if collection == index:
        return ""
    prefix = f"{index}{SEPARATOR}"
    if not collection.startswith(prefix) or len(collection) == len(prefix):
        return None
    rest = collection[len(prefix) :]
    if not rest.startswith(HEX_MARK):
        return rest
    try:
        return bytes.fromhex(rest[len(HEX_MARK) :]).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def index_collections(index: str, collections: list[str]) -> dict[str, str]:
    """Namespace -> collection, for every namespace of ``index`` among ``collections``."""
    found = {}
    for name in collections:
        namespace = namespace_of(index, name)
        if namespace is not None:
            found[namespace] = name
    return dict(sorted(found.items()))


def indexes(collections: list[str]) -> list[str]:
    """The indexes among ``collections``: every collection that is no namespace of another."""
    present = set(collections)
    return sorted(
        name for name in collections if SEPARATOR not in name or name.split(SEPARATOR, 1)[0] not in present
    )
