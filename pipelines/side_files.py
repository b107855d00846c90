"""Writing a job's small side files (its failure report, its write tally) as JSON lines.

``beam.io.WriteToText`` writes each bundle to a temporary file and moves the files of committed
bundles into place in a finalising step, so a bundle a runner retries leaves no second copy.
That safety costs a dozen transforms and six more stages per sink: on a small migration the two
sinks were about a third of the pipeline's fixed cost. Beam's local runner (the FnApiRunner,
whatever its running mode or worker environment) never retries a bundle: a failed bundle fails
the job. There each bundle that has lines writes them straight to a file of its own, named
``PREFIX-<random>SUFFIX``; runners that retry bundles keep ``WriteToText``. Readers match
``PREFIX*`` either way.
"""

from __future__ import annotations

import uuid
from typing import IO, Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems


class _BundleFileFn(beam.DoFn):
    """Streams a bundle's lines into one file, opened at its first line, closed at its end."""

    def __init__(self, prefix: str, suffix: str) -> None:
        self._prefix = prefix
        self._suffix = suffix
        self._handle: IO[bytes] | None = None

    def start_bundle(self) -> None:
        self._handle = None

    def process(self, line: str) -> None:
        if self._handle is None:
            self._handle = FileSystems.create(f"{self._prefix}-{uuid.uuid4().hex}{self._suffix}")
        self._handle.write(line.encode("utf-8") + b"\n")

    def finish_bundle(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class WriteLines(beam.PTransform):
    """``lines | WriteLines(prefix, ".jsonl", retried_bundles)``: one file per bundle, or
    ``WriteToText`` when the runner may run a bundle twice (``retried_bundles``)."""

    def __init__(self, prefix: str, suffix: str, retried_bundles: bool) -> None:
        super().__init__()
        self._prefix = prefix
        self._suffix = suffix
        self._retried = retried_bundles

    def expand(self, lines: beam.PCollection) -> Any:
        if self._retried:
            return lines | beam.io.WriteToText(self._prefix, file_name_suffix=self._suffix)
        return lines | beam.ParDo(_BundleFileFn(self._prefix, self._suffix))
