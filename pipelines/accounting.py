"""Every source record accounted for: *source count = written + failed*, per namespace.

Two parts:

- ``CountWrittenIds``: a keyed pass over the ids the writers report as written (never the vector
  payloads). Ids are spread over ``BUCKETS`` keys per namespace by a stable hash, combined with
  combiner lifting (so a worker sends one list per key and bundle, not one element per id), and
  reduced to per-bucket counts (summed per namespace on the driver) of written copies, distinct
  ids, and the ids written more than once: duplicate ids in one source namespace, or ids the
  target's id mapping made equal (integer 7 and string "7" into a string-id target).
- ``settle``: on the driver, applies the duplicates policy and checks the balance.

Duplicates policy (``duplicates=``):

- ``"fail"`` (default): every copy of a duplicated id is reported failed and the id is deleted
  from the target. Copies are written in parallel, so which one a target would keep is not
  defined by the source's order; keeping one would silently merge records the source holds
  twice. Failing them all keeps the target free of arbitrary choices and tells the user exactly
  which ids to reconcile.
- ``"keep-last"``: the copy the target kept (written last) stays and counts as migrated; the
  other copies are reported failed as superseded. Across splits "last" is the write order, not
  the source's.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from io_connectors.core.contract import Connector
from io_connectors.core.errors import ConfigError
from io_connectors.core.records import IdValue
from pipelines.side_files import WriteLines

BUCKETS = 16
DUPLICATE_POLICIES = ("fail", "keep-last")
ACCOUNTING_FILE = "accounting"
DUPLICATES_FILE = "failures-duplicates.jsonl"  # read back with the failure report


def check_duplicates_policy(policy: str) -> str:
    if policy not in DUPLICATE_POLICIES:
        raise ConfigError(f"duplicates must be one of {', '.join(DUPLICATE_POLICIES)}, not {policy!r}")
    return policy


def _bucket(vector_id: IdValue) -> int:
    """Stable across processes (Python's ``hash`` of a str is salted per process). 7 and "7"
    share a bucket, which is harmless: the tally itself keeps the kinds apart."""
    text = vector_id if type(vector_id) is str else str(vector_id)
    return zlib.crc32(text.encode("utf-8", "surrogatepass")) % BUCKETS


def _bucketed(element: tuple[str, list[IdValue]]) -> Iterator[tuple[tuple[str, int], str]]:
    """One element per bucket a chunk touches, its ids packed as one JSON text: shuffling one
    string costs far less than shuffling a list of many (JSON keeps integers and strings apart)."""
    namespace, ids = element
    groups: dict[int, list[IdValue]] = defaultdict(list)
    for vector_id in ids:
        groups[_bucket(vector_id)].append(vector_id)
    for bucket, members in groups.items():
        yield (namespace, bucket), json.dumps(members)


class _IdTally(beam.CombineFn):
    """Packed ids of one key -> (copies written, distinct ids, [(id, copies)] for ids written
    twice or more). Accumulators stay lists of packed texts until the end."""

    def create_accumulator(self) -> list[str]:
        return []

    def add_input(self, accumulator: list[str], packed: str) -> list[str]:
        accumulator.append(packed)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[list[str]]) -> list[str]:
        merged: list[str] = []
        for packed in accumulators:
            merged.extend(packed)
        return merged

    def extract_output(self, accumulator: list[str]) -> tuple[int, Counter[IdValue]]:
        counts: Counter[IdValue] = Counter()
        for packed in accumulator:
            counts.update(json.loads(packed))
        return sum(counts.values()), counts


def _tally_line(keyed: tuple[tuple[str, int], tuple[int, Counter[IdValue]]], keep_ids: bool) -> str:
    (namespace, bucket), (copies, counts) = keyed
    line: dict[str, Any] = {
        "namespace": namespace,
        "bucket": bucket,
        "copies": copies,
        "distinct": len(counts),
        "duplicates": [(i, n) for i, n in counts.items() if n > 1],
    }
    if keep_ids:
        line["ids"] = list(counts)
    return json.dumps(line)


class CountWrittenIds(beam.PTransform):
    """``(namespace, ids written)`` elements -> one JSON line per namespace and bucket in ``path``
    (``parse_tallies`` sums them: an id always falls in the same bucket, so the buckets' distinct
    counts add up; ``retried_bundles``: see ``pipelines.side_files``).

    ``keep_ids`` also lists each bucket's distinct ids, for a migration run as several jobs
    (checkpointed waves): an id written by two jobs is a duplicate no single job can see, and
    ``parse_tallies`` finds it by comparing the jobs' lists."""

    def __init__(self, path: str, retried_bundles: bool = True, keep_ids: bool = False) -> None:
        super().__init__()
        self._path = path
        self._retried = retried_bundles
        self._keep_ids = keep_ids

    def expand(self, written: beam.PCollection) -> beam.pvalue.PDone:
        return (
            written
            | "Bucket" >> beam.FlatMap(_bucketed)
            | "TallyBuckets" >> beam.CombinePerKey(_IdTally())
            | "Json" >> beam.Map(_tally_line, keep_ids=self._keep_ids)
            | "Write" >> WriteLines(self._path, ".jsonl", self._retried)
        )


@dataclass
class NamespaceWrites:
    """What landed in one target namespace."""

    copies: int = 0
    distinct: int = 0
    duplicates: dict[IdValue, int] = field(default_factory=dict)


def parse_tallies(lines: Iterable[str]) -> dict[str, NamespaceWrites]:
    """Per namespace, the sum of its buckets' lines.

    Lines that list their ids (several jobs, see ``CountWrittenIds``) are merged one bucket at a
    time, so only one bucket's ids are Python objects at once: an id listed by k lines was written
    k times (plus the extra copies a line counted itself)."""
    tallies: dict[str, NamespaceWrites] = {}
    listing: dict[tuple[str, int], list[str]] = defaultdict(list)
    for line in lines:
        if line.strip():
            record = json.loads(line)
            tally = tallies.setdefault(record["namespace"], NamespaceWrites())
            tally.copies += record["copies"]
            if "ids" in record:
                listing[(record["namespace"], record["bucket"])].append(line)
                continue
            tally.distinct += record["distinct"]
            tally.duplicates.update((i, n) for i, n in record["duplicates"])
    for (namespace, _), bucket_lines in listing.items():
        written: Counter[IdValue] = Counter()
        for line in bucket_lines:
            record = json.loads(line)
            written.update(record["ids"])
            written.update({i: n - 1 for i, n in record["duplicates"]})
        tallies[namespace].distinct += len(written)
        tallies[namespace].duplicates.update((i, n) for i, n in written.items() if n > 1)
    return tallies


@dataclass
class DuplicateReport:
    """Copies of one namespace's duplicated ids that did not land as migrated records."""

    namespace: str
    ids: list[IdValue]
    failed_copies: int
    message: str


@dataclass
class Ledger:
    """The balance per target namespace, after the duplicates policy."""

    migrated: dict[str, int]
    failed: dict[str, int]
    source: dict[str, int]  # only namespaces whose source count is exact
    duplicates: list[DuplicateReport]

    def shortfalls(self) -> dict[str, int]:
        """Target namespace -> source records neither written nor reported failed (negative: extra)."""
        return {
            ns: count - self.migrated.get(ns, 0) - self.failed.get(ns, 0)
            for ns, count in self.source.items()
            if count != self.migrated.get(ns, 0) + self.failed.get(ns, 0)
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            ns: {
                "source": self.source.get(ns),
                "written": self.migrated.get(ns, 0),
                "failed": self.failed.get(ns, 0),
            }
            for ns in sorted(set(self.migrated) | set(self.failed) | set(self.source))
        }


def settle(
    tallies: Mapping[str, NamespaceWrites],
    failed_by_namespace: Mapping[str, int],
    exact_source_counts: Mapping[str, int],
    policy: str,
    delete: Callable[[str, list[IdValue]], None],
) -> Ledger:
    """Apply the duplicates policy (``delete(namespace, ids)`` removes ids from the target)."""
    migrated: dict[str, int] = {}
    failed = dict(failed_by_namespace)
    reports = []
    for namespace, tally in tallies.items():
        kept = tally.distinct
        if tally.duplicates:
            ids = sorted(tally.duplicates, key=lambda i: (isinstance(i, str), i))
            if policy == "fail":
                delete(namespace, ids)
                kept -= len(ids)
                lost = sum(tally.duplicates.values())
                message = (
                    f"duplicate id: {lost} source records of this namespace share these {len(ids)} id(s) "
                    "(or the target's id mapping made their ids equal); every copy failed and the ids "
                    "were removed from the target (duplicates=fail)"
                )
            else:
                lost = sum(n - 1 for n in tally.duplicates.values())
                message = (
                    f"duplicate id: {len(ids)} id(s) shared by several source records of this namespace; "
                    f"the copy written last was kept, the other {lost} copies are superseded "
                    "(duplicates=keep-last)"
                )
            failed[namespace] = failed.get(namespace, 0) + lost
            reports.append(DuplicateReport(namespace, ids, lost, message))
        migrated[namespace] = kept
    return Ledger(migrated, failed, dict(exact_source_counts), reports)


def shortfall_message(ledger: Ledger) -> str:
    parts = []
    for namespace, gap in sorted(ledger.shortfalls().items()):
        written, failed = ledger.migrated.get(namespace, 0), ledger.failed.get(namespace, 0)
        what = f"{gap} record(s) unaccounted for" if gap > 0 else f"{-gap} more record(s) than the source"
        parts.append(
            f"namespace {namespace!r}: source holds {ledger.source[namespace]} but {written} were written "
            f"and {failed} reported failed: {what}"
        )
    return "; ".join(parts)


def read_tallies(directory: str) -> dict[str, NamespaceWrites]:
    """The per-namespace lines ``CountWrittenIds`` wrote into ``directory``."""
    lines: list[str] = []
    pattern = FileSystems.join(directory, f"{ACCOUNTING_FILE}*")
    for match in FileSystems.match([pattern])[0].metadata_list:
        with FileSystems.open(match.path) as handle:
            lines.extend(handle.read().decode().splitlines())
    return parse_tallies(lines)


def failed_by_target_namespace(
    failures: Iterable[tuple[str, str, int]], target_namespace: Callable[[str], str]
) -> dict[str, int]:
    """``(stage, namespace, count)`` of each failure -> failed records per target namespace.

    Read and validate failures carry the source namespace; later stages the target one.
    """
    failed: dict[str, int] = defaultdict(int)
    for stage, namespace, count in failures:
        failed[target_namespace(namespace) if stage in ("read", "validate") else namespace] += count
    return dict(failed)


def exact_source_counts(
    connector: Connector, index: str, namespaces: Mapping[str, str], counts: Mapping[str, int]
) -> dict[str, int]:
    """Source counts by target namespace, for the namespaces whose source count is exact."""
    return {
        target: int(counts.get(source, 0))
        for source, target in namespaces.items()
        if connector.count_is_exact(index, source)
    }


def clear_previous(directory: str) -> None:
    """Remove what an earlier run left in a reused failures folder, so it is not read as this one's
    (its failure report too: on the local runner each bundle writes a file of its own name, so a
    new report does not overwrite the old one)."""
    patterns = [
        FileSystems.join(directory, f"{ACCOUNTING_FILE}*"),
        FileSystems.join(directory, "failures*"),
    ]
    stale = [m.path for result in FileSystems.match(patterns) for m in result.metadata_list]
    if stale:
        FileSystems.delete(stale)


def write_duplicate_failures(directory: str, reports: Iterable[DuplicateReport]) -> None:
    """Duplicate reports join the failure report, in its JSON-lines shape."""
    lines = [
        json.dumps(
            {
                "stage": "duplicate",
                "namespace": r.namespace,
                "error_class": "DuplicateId",
                "message": r.message,
                "count": r.failed_copies,
                "ids": r.ids,
            },
            default=str,
        )
        for r in reports
    ]
    if lines:
        with FileSystems.create(FileSystems.join(directory, DUPLICATES_FILE)) as handle:
            handle.write(("\n".join(lines) + "\n").encode())
