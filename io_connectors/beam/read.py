"""The generic splittable read: any connector's splits become a PCollection of VectorBatch.

Splits (small descriptions) are planned on the driver and shuffled; each is read by a
splittable DoFn whose restriction is an offset range over the connector's positions, so Beam
can split it further at start (``split_restriction``) and while it runs (dynamic splitting).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider

from io_connectors.core.coder import batches
from io_connectors.core.contract import Connector, ConnectorSpec, Split
from io_connectors.core.errors import ConfigError
from io_connectors.core.failures import FAILED_TAG, FailedRecords
from io_connectors.core.records import UnreadableRecords
from io_connectors.core.registry import make_connector
from io_connectors.core.retry import METRICS_NAMESPACE

LOG = logging.getLogger(__name__)


class _ClaimRecorder:
    """Wraps the tracker to know whether the connector ran out of records before its range did."""

    def __init__(self, tracker: Any) -> None:
        self._tracker = tracker
        self.last_attempt: int | None = None
        self.refused = False
        self.yielded_since_claim = False

    def try_claim(self, position: int) -> bool:
        self.last_attempt = position
        self.yielded_since_claim = False
        claimed = self._tracker.try_claim(position)
        self.refused = not claimed
        return claimed

    def current_restriction(self) -> OffsetRange:
        return self._tracker.current_restriction()

    def unread_start(self) -> int:
        """The first position whose records were not all yielded (a best guess after a failure)."""
        if self.last_attempt is None:
            return self._tracker.current_restriction().start
        return self.last_attempt + 1 if self.yielded_since_claim else self.last_attempt

    def finish(self) -> None:
        """Claim the end of the range so the runner sees the whole restriction done."""
        if not self.refused:
            stop = self._tracker.current_restriction().stop
            if self.last_attempt is None or self.last_attempt < stop:
                self._tracker.try_claim(stop)


class ReadSplitsFn(beam.DoFn, RestrictionProvider):
    """Reads splits into batches; a split that cannot be read goes to the failed output.

    A connector's ``read`` may also yield ``UnreadableRecords`` (rows it could not decode, ranges
    it could not read): they go to the failed output (stage "read") and count in
    ``vectors_unreadable``, and the rest of the split carries on.
    """

    def __init__(self, spec: ConnectorSpec) -> None:
        self._spec = spec
        self._splitter: Connector | None = None
        self._vectors = Metrics.counter(METRICS_NAMESPACE, "vectors_read")
        self._batches = Metrics.counter(METRICS_NAMESPACE, "batches_read")
        self._failed = Metrics.counter(METRICS_NAMESPACE, "read_failures")
        self._unreadable_records = Metrics.counter(METRICS_NAMESPACE, "vectors_unreadable")
        self.connector: Connector | None = None

    def setup(self) -> None:
        self.connector = make_connector(self._spec)
        self.connector.open()

    def teardown(self) -> None:
        if self.connector is not None:
            self.connector.close()

    # -- restriction provider: the DoFn is its own (it needs the spec to split) ------------------
    def _planner(self) -> Connector:
        if self._splitter is None:
            self._splitter = make_connector(self._spec)  # constructors do no I/O
        return self._splitter

    def initial_restriction(self, element: Split) -> OffsetRange:
        return OffsetRange(element.start, element.stop)

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return OffsetRestrictionTracker(restriction)

    def split(self, element: Split, restriction: OffsetRange) -> Iterator[OffsetRange]:
        for start, stop in self._planner().split_restriction(element, restriction.start, restriction.stop):
            yield OffsetRange(start, stop)

    def restriction_size(self, element: Split, restriction: OffsetRange) -> float:
        """Estimated records, not positions: position spaces (id ranges) can be huge and sparse."""
        span = max(element.stop - element.start, 1)
        if element.estimated_count is None:
            return float(min(restriction.size(), 2**53))
        return element.estimated_count * (restriction.size() / span)

    def process(self, split: Split, tracker=beam.DoFn.RestrictionParam()) -> Iterator[Any]:  # noqa: B008
        assert self.connector is not None
        claims = _ClaimRecorder(tracker)
        try:
            for item in self.connector.read(split, claims):
                if isinstance(item, UnreadableRecords):
                    yield self._unreadable(split, item)
                    continue
                self._vectors.inc(len(item))
                self._batches.inc()
                claims.yielded_since_claim = True
                yield item
        except ConfigError:
            raise
        except Exception as exc:  # a split we cannot read is reported, never skipped silently
            self._failed.inc()
            first, stop = claims.unread_start(), claims.current_restriction().stop
            lost = self._range_count(split, first, stop)
            held = "an unknown number of records" if lost is None else f"{lost} record(s)"
            message = self._spec.redact(
                f"reading {split.index!r} namespace {split.namespace!r} positions "
                f"[{first}, {stop}) of split {split.key!r} ({held}) failed: {exc}"
            )
            LOG.error(message)
            self._unreadable_records.inc(lost or 0)
            yield beam.pvalue.TaggedOutput(
                FAILED_TAG,
                FailedRecords("read", split.namespace, [], type(exc).__name__, message, count=lost or 0),
            )
        claims.finish()

    def _range_count(self, split: Split, start: int, stop: int) -> int | None:
        assert self.connector is not None
        try:
            return self.connector.range_count(split, start, stop)
        except Exception:  # sizing a failed read is best effort; the accounting flags a gap
            return None

    def _unreadable(self, split: Split, records: UnreadableRecords) -> beam.pvalue.TaggedOutput:
        """Records the connector could not decode (or a range it could not read): failed, counted."""
        self._unreadable_records.inc(records.count or 0)
        message = self._spec.redact(f"reading {split.index!r}: {records.message()}")
        return beam.pvalue.TaggedOutput(
            FAILED_TAG,
            FailedRecords(
                "read",
                records.namespace,
                list(records.ids),
                records.error_class,
                message,
                count=records.count,
            ),
        )


class ReadVectors(beam.PTransform):
    """``splits | ReadVectors(spec)`` -> tagged outputs ``batches`` and ``failed``."""

    def __init__(self, spec: ConnectorSpec) -> None:
        super().__init__()
        self._spec = spec

    def expand(self, splits: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return splits | batches(beam.ParDo(ReadSplitsFn(self._spec))).with_outputs(FAILED_TAG, main="batches")
