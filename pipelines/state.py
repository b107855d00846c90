"""Where a checkpointed migration (and a sync) keeps what it has done, through Beam's ``FileSystems``.

A state location is a local folder (the default, derived from source and target, under
``$VECTOR_MIGRATE_STATE_DIR`` or ``~/.cache/vector-migrate/state``) or any URI Beam's
``FileSystems`` can write (``gs://``, ``s3://``), so remote runners and their drivers share it:

    manifest.json        what was planned: a fingerprint of source, target and options, runs
    pieces.pickle        the planned pieces (``Split``s), reused as they are on resume
    done/<wave>.json     one marker per finished wave: its piece numbers and job counters
    failures/            the failure report of every wave
    sync.json            the last sync's watermark for ``--changed-since``

Nothing here holds a secret: connector options are stored with secrets masked
(``describe_spec``), and the pieces are split descriptions (files, pages, id ranges, ids).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

from apache_beam.io.filesystems import FileSystems

from io_connectors.core.contract import ConnectorSpec, Split
from io_connectors.core.secrets import MASK, SECRET_OPTION_NAMES, mask_uri

MANIFEST = "manifest.json"
PIECES = "pieces.pickle"
DONE = "done"
FAILURES = "failures"


def describe_spec(spec: ConnectorSpec) -> dict[str, Any]:
    """A connector spec as plain JSON with its secrets masked (a DSN keeps its host and database)."""
    options: dict[str, Any] = {}
    for key, value in sorted(spec.options.items()):
        if key in SECRET_OPTION_NAMES and value:
            options[key] = mask_uri(str(value)) if key == "dsn" else MASK
        else:
            options[key] = json.loads(json.dumps(value, default=str))
    return {"provider": spec.provider, "options": spec.redact(json.dumps(options, sort_keys=True))}


def default_location(
    source: ConnectorSpec, source_index: str, target: ConnectorSpec, target_index: str
) -> str:
    """A local folder named for the (masked) source and target, so the same pair finds its state."""
    key = json.dumps(
        [describe_spec(source), source_index, describe_spec(target), target_index], sort_keys=True
    )
    root = os.environ.get("VECTOR_MIGRATE_STATE_DIR") or str(
        Path.home() / ".cache" / "vector-migrate" / "state"
    )
    return str(Path(root) / hashlib.sha256(key.encode()).hexdigest()[:16])


class StateStore:
    """Reads and writes the files of one state location."""

    def __init__(self, location: str) -> None:
        self.location = location

    def path(self, *parts: str) -> str:
        return FileSystems.join(self.location, *parts)

    # -- plain files -------------------------------------------------------------------------
    def _write(self, path: str, data: bytes) -> None:
        """Write ``data`` under a temporary name, then rename it into place: a reader (or a
        resumed run after a kill) sees the old file or the new one, never half of one."""
        directory = path.rsplit("/", 1)[0]
        if not FileSystems.exists(directory):
            FileSystems.mkdirs(directory)
        temporary = f"{path}.tmp-{os.getpid()}"
        with FileSystems.create(temporary) as handle:
            handle.write(data)
        FileSystems.rename([temporary], [path])

    def _read(self, path: str) -> bytes | None:
        if not FileSystems.exists(path):
            return None
        with FileSystems.open(path) as handle:
            return handle.read()

    def read_json(self, name: str) -> dict[str, Any] | None:
        data = self._read(self.path(name))
        return None if data is None else json.loads(data.decode())

    def write_json(self, name: str, value: dict[str, Any]) -> None:
        self._write(self.path(name), json.dumps(value, indent=2, sort_keys=True, default=str).encode())

    # -- the plan ------------------------------------------------------------------------------
    def read_pieces(self) -> list[Split] | None:
        data = self._read(self.path(PIECES))
        return None if data is None else pickle.loads(data)

    def write_pieces(self, pieces: list[Split]) -> None:
        self._write(self.path(PIECES), pickle.dumps(list(pieces)))

    # -- markers -------------------------------------------------------------------------------
    def markers(self) -> list[dict[str, Any]]:
        """Every finished wave's marker, in name order."""
        pattern = self.path(DONE, "*.json")
        found = FileSystems.match([pattern])[0].metadata_list
        markers = []
        for meta in sorted(found, key=lambda m: m.path):
            data = self._read(meta.path)
            if data is not None:
                markers.append(json.loads(data.decode()))
        return markers

    def write_marker(self, wave: str, value: dict[str, Any]) -> None:
        self._write(self.path(DONE, f"{wave}.json"), json.dumps(value, sort_keys=True).encode())

    def failures_dir(self) -> str:
        return self.path(FAILURES)

    def remove(self, pattern: str) -> None:
        """Delete the files matching ``pattern`` (a glob under this location)."""
        found = FileSystems.match([self.path(pattern)])[0].metadata_list
        if found:
            FileSystems.delete([m.path for m in found])

    def reset(self) -> None:
        """Forget a previous migration: its plan, markers and failure report."""
        for pattern in (MANIFEST, PIECES, f"{DONE}/*", f"{FAILURES}/*"):
            self.remove(pattern)
