"""The SQL filters Lance evaluates for us: one namespace, a list of ids.

Lance filters are DataFusion SQL: identifiers in backticks, string literals in single quotes
with a quote doubled inside. Ids go into ``IN`` lists of at most ``IDS_PER_FILTER`` values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from io_connectors.core.records import IdValue
from io_connectors.lancedb.schema import ID, ID_IS_INT, Layout

IDS_PER_FILTER = 1000


def quote_identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def quote_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def namespace_filter(layout: Layout, namespace: str) -> str | None:
    """The filter selecting one namespace (None when the table has no namespace column).

    A foreign table's null namespaces belong to the default namespace ``""``.
    """
    if layout.namespace_column is None:
        return None
    column = quote_identifier(layout.namespace_column)
    condition = f"{column} = {quote_string(namespace)}"
    if namespace == "" and not layout.native:
        condition = f"({condition} OR {column} IS NULL)"
    return condition


def ids_filters(layout: Layout, ids: Sequence[IdValue], id_is_int_column: bool) -> Iterator[str]:
    """Filters matching ``ids`` in chunks of ``IDS_PER_FILTER``; ids of a kind the id column
    cannot hold match nothing (a foreign integer id column holds no string ids)."""
    for start in range(0, len(ids), IDS_PER_FILTER):
        chunk = ids[start : start + IDS_PER_FILTER]
        ints = [i for i in chunk if isinstance(i, int)]
        strs = [i for i in chunk if isinstance(i, str)]
        column = quote_identifier(layout.id_column)
        parts = []
        if layout.native:
            flag = quote_identifier(ID_IS_INT)
            if ints:
                parts.append(f"({quote_identifier(ID)} IN ({_strings(map(str, ints))}) AND {flag} = true)")
            if strs:
                parts.append(f"({quote_identifier(ID)} IN ({_strings(strs)}) AND {flag} = false)")
        elif id_is_int_column and ints:
            parts.append(f"{column} IN ({', '.join(str(int(i)) for i in ints)})")
        elif not id_is_int_column and strs:
            parts.append(f"{column} IN ({_strings(strs)})")
        if parts:
            yield " OR ".join(parts)


def scoped(namespace_condition: str | None, condition: str) -> str:
    return condition if namespace_condition is None else f"{namespace_condition} AND ({condition})"


def _strings(values) -> str:
    return ", ".join(quote_string(v) for v in values)
