"""The contract every provider implements, and the plain data that crosses it.

A connector is created from a ``ConnectorSpec`` (plain, picklable data: runners ship it to
workers) and opened in ``DoFn.setup``. It describes, creates and counts indexes, plans a read
as small ``Split`` descriptions, reads one split while claiming positions on a restriction
tracker (so runners can split a running read), and upserts batches idempotently.

Positions are the connector's own: row offsets, row groups, table pages, id ranges. The only
rule is the one Beam's offset trackers impose: before yielding records at a position, claim it
with ``tracker.try_claim(position)``; when a claim fails, stop without yielding those records.
A claimed position owns every record the connector maps to it, so a split at any position loses
and duplicates nothing.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol

from io_connectors.core.errors import ConfigError
from io_connectors.core.records import IdValue, UnreadableRecords, VectorBatch
from io_connectors.core.secrets import SECRET_OPTION_NAMES, redact

METRICS = ("cosine", "euclidean", "dotproduct", "manhattan")


def normalize_metric(metric: str) -> str:
    """Canonical metric names (Pinecone's spelling), accepting each provider's aliases."""
    aliases = {
        "cosine": "cosine",
        "cos": "cosine",
        "euclidean": "euclidean",
        "euclid": "euclidean",
        "l2": "euclidean",
        "dotproduct": "dotproduct",
        "dot": "dotproduct",
        "ip": "dotproduct",
        "inner_product": "dotproduct",
        "manhattan": "manhattan",
        "l1": "manhattan",
    }
    try:
        return aliases[metric.lower()]
    except KeyError:
        raise ConfigError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}") from None


@dataclass(frozen=True)
class Capabilities:
    """What a target accepts, declared once so the pipeline needs no provider branches."""

    max_batch_count: int | None = None
    max_batch_bytes: int | None = None
    max_dimension: int | None = None
    max_id_length: int | None = None
    empty_ids: bool = True  # whether "" is a valid id
    ascii_ids_only: bool = False
    int_ids: bool = True
    sparse: bool = True
    dense_optional: bool = False
    metrics: tuple[str, ...] = METRICS
    namespaces: str = "native"  # "native" | "emulated"
    normalizes_cosine: bool = False
    in_process_only: bool = False
    default_chunk_size: int = 500
    # Bytes one float costs in a write request: 4 for binary protocols, about 12 for JSON text.
    request_bytes_per_value: float = 4.0


@dataclass(frozen=True)
class IndexInfo:
    name: str
    dimension: int | None
    metric: str
    sparse: bool = False
    count: int = 0
    namespaces: Mapping[str, int] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dimension": self.dimension,
            "metric": self.metric,
            "sparse": self.sparse,
            "count": self.count,
            "namespaces": dict(self.namespaces),
            **({"details": dict(self.details)} if self.details else {}),
        }


@dataclass(frozen=True)
class ChangedSince:
    """A hint a read may push into its query: records whose metadata ``field`` is after
    ``after`` (a number or a string) are the ones wanted.

    A connector that can filter in its query reads every record whose ``field`` is missing, is
    not of ``after``'s type, or is greater than ``after`` (numbers by value, strings by code
    point, as Python compares them), and may skip the rest; a connector that cannot ignores the
    hint. Either way the pipeline applies the exact test after the read, so the hint only saves
    reading: it never decides what is written, and a record without the field still reaches the
    check that reports it.
    """

    field: str
    after: int | float | str

    @property
    def number(self) -> int | float | None:
        """``after`` when it is a finite number (not a bool): what a numeric filter can test."""
        after = self.after
        if isinstance(after, bool) or not isinstance(after, (int, float)):
            return None
        return after if math.isfinite(after) else None

    @property
    def text(self) -> str | None:
        """``after`` when it is a string."""
        return self.after if isinstance(self.after, str) else None


@dataclass(frozen=True)
class Split:
    """A small description of part of a read: positions [start, stop) of one namespace.

    ``key`` is the connector's own locator (a file, a table, an id list); it must stay small
    and picklable because splits are shuffled between workers. ``changed_since`` is an optional
    read hint (see ``ChangedSince``).
    """

    index: str
    namespace: str
    start: int
    stop: int
    batch_size: int
    key: Any = None
    estimated_count: int | None = None
    changed_since: ChangedSince | None = None

    def with_range(self, start: int, stop: int) -> Split:
        return replace(self, start=start, stop=stop)


@dataclass(frozen=True)
class ConnectorSpec:
    """Which provider, with which options: plain data that workers rebuild a connector from."""

    provider: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def secrets(self) -> list[str]:
        return [str(v) for k, v in self.options.items() if k in SECRET_OPTION_NAMES and v]

    def redact(self, text: str) -> str:
        return redact(text, self.secrets())

    def __repr__(self) -> str:
        shown = {k: ("***" if k in SECRET_OPTION_NAMES and v else v) for k, v in self.options.items()}
        return self.redact(f"ConnectorSpec({self.provider!r}, {shown!r})")


@dataclass(frozen=True)
class Location:
    """What a URI names: a provider, optionally an index and a namespace in it."""

    spec: ConnectorSpec
    index: str | None = None
    namespace: str | None = None


class Tracker(Protocol):
    def try_claim(self, position: int) -> bool: ...

    def current_restriction(self) -> Any: ...


class Connector(abc.ABC):
    """One provider. Subclasses set ``provider`` and ``capabilities`` and implement the rest."""

    provider: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()
    # Documented changes this target makes to what it stores, which deep verification counts
    # apart from real differences (see pipelines/differences.py), e.g. "float_ulp".
    one_way_changes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, spec: ConnectorSpec) -> None:
        self.spec = spec

    @classmethod
    def client_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """The options a new ``Client`` keeps in its spec; a provider may fill in defaults that
        must be fixed once per client (the memory provider names a private store here)."""
        return dict(options)

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        """Create clients and connections; called once per worker (``DoFn.setup``)."""

    def close(self) -> None:
        """Release what ``open`` created (``DoFn.teardown``)."""

    def __enter__(self) -> Connector:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- URIs ------------------------------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def parse_uri(cls, uri: str) -> Location:
        """Parse this provider's URI form into a spec, index and namespace."""

    # -- indexes ---------------------------------------------------------------------------
    @abc.abstractmethod
    def list_indexes(self) -> list[str]: ...

    @abc.abstractmethod
    def describe_index(self, index: str) -> IndexInfo:
        """Dimension, metric, sparse or not, total count and per-namespace counts."""

    @abc.abstractmethod
    def create_index(self, name: str, dimension: int | None, metric: str, sparse: bool = False) -> None:
        """Create an empty index; an existing index of the same shape is left as it is."""

    def new_index_options(self) -> dict[str, Any]:
        """Options for writing an index ``create_index`` has just made (so it starts empty): a
        connector with a faster path into an empty index turns it on here. Default: none."""
        return {}

    @abc.abstractmethod
    def delete_index(self, name: str) -> None: ...

    def count(self, index: str, namespace: str | None = None) -> int:
        info = self.describe_index(index)
        return info.count if namespace is None else int(info.namespaces.get(namespace, 0))

    # -- reading ---------------------------------------------------------------------------
    @abc.abstractmethod
    def plan(self, index: str, namespace: str | None, batch_size: int) -> list[Split]:
        """Describe the whole read (one namespace, or all when None) as splits."""

    def count_is_exact(self, index: str, namespace: str | None = None) -> bool:
        """Whether ``count`` is the exact number of records ``read`` will meet.

        A migration checks *source count = written + failed* per namespace only where this
        holds; providers whose counts are estimates or eventually consistent return False.
        """
        return True

    @abc.abstractmethod
    def read(self, split: Split, tracker: Tracker) -> Iterator[VectorBatch | UnreadableRecords]:
        """Yield batches of at most ``split.batch_size`` vectors, claiming positions first.

        Record-level isolation: a source row that cannot be decoded (bad JSON, a null or ragged
        vector, a value of the wrong type, an unreadable id) must not take its neighbours down.
        Decode each chunk of rows with ``core.decode.decode_isolated`` (or ``decode_arrow`` for
        Arrow data): it costs nothing extra when every row is good, and otherwise yields the good
        rows as a batch and each bad one as an ``UnreadableRecords`` (its id, or its position
        when the id itself is unreadable, and the reason). A range that cannot be read at all
        (an I/O error after retries) is yielded as ``UnreadableRecords`` with ``count`` = the
        records it held (row-group metadata, page counts, listed ids) and their ids where cheap;
        then carry on with the next range. Exceptions that escape ``read`` fail the rest of the
        split as one report whose size may be unknown, which the source accounting then flags.
        """

    def range_count(self, split: Split, start: int, stop: int) -> int | None:
        """Records at positions [start, stop) of ``split``, if cheap to know (None otherwise).

        Sizes the report of a read that failed with an exception, so the failed count holds
        the records lost; a connector that reports its own unreadable ranges need not bother.
        """
        return None

    def split_restriction(self, split: Split, start: int, stop: int) -> list[tuple[int, int]]:
        """Initial sub-ranges of a split for parallel reading; one range by default."""
        return [(start, stop)]

    # -- writing ---------------------------------------------------------------------------
    @abc.abstractmethod
    def write(self, index: str, batch: VectorBatch) -> None:
        """Upsert the batch: writing the same ids twice leaves the same state.

        Raise ``TransientError`` for what may succeed later (after the connector's own
        retries), ``RecordRejected``/``PermanentError`` for payloads that never will.
        """

    def finalize_index(self, index: str) -> None:
        """Called once after a migration has loaded ``index`` (build vector indexes, analyze)."""

    def check_target(
        self, index: str, source: IndexInfo, on_unsupported: Mapping[str, str] | None = None
    ) -> None:
        """Refuse (``ConfigError``), before any data moves, what this target would refuse for
        every record of a source shaped like ``source`` (its dimension, sparse part, target
        namespaces): an existing index's schema or limits that do not fit, or an index this
        connector would create but could not complete. ``on_unsupported`` are the degradation
        policies (``core.degrade``). The default checks nothing."""

    def reject_reasons(self, batch: VectorBatch) -> dict[int, str]:
        """Rows (by position) this target will refuse, with reasons, checked before writing.

        The default checks are driven by ``capabilities``; connectors add their own rules.
        """
        return {}

    def stored_metadata(self, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        """What a read of this target returns for ``metadata`` written to it: the provider's
        documented metadata transforms (deep verification applies them to the source side)."""
        return metadata

    # -- point access ------------------------------------------------------------------------
    @abc.abstractmethod
    def fetch(self, index: str, ids: Sequence[IdValue], namespace: str = "") -> VectorBatch:
        """The stored vectors among ``ids`` (missing ids are left out)."""

    @abc.abstractmethod
    def delete(
        self, index: str, ids: Sequence[IdValue] | None, namespace: str = "", delete_all: bool = False
    ) -> None: ...
