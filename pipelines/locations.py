"""Where a job's side files go: failure reports and verify scratch space.

These files are written by workers and read back by the driver, so they must live where both
can reach them. Local runners run their workers on this machine, so a temporary folder is fine.
A remote runner (Dataflow, Flink, Spark, or Beam's portable runner with workers started
elsewhere) writes them on other machines: a local path there is a folder the driver never looks
in, and failed records would vanish from ``result.errors``. Such runners need a shared URI
(``gs://``, ``s3://``, ...) from ``--temp_location`` or given explicitly; a local path is
refused before any data moves, unless the run declares ``--workers_share_local_disk`` (workers
started on this machine, as the test worker pool is, or a shared network mount).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from urllib.parse import urlsplit

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions

from io_connectors.core.errors import ConfigError


class SharedLocationOptions(PipelineOptions):
    """Declared as a Beam option class so run configs and the CLI accept it like Beam's own."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--workers_share_local_disk",
            action="store_true",
            default=False,
            help="the runner's workers see this machine's disk (workers started here, or a shared "
            "mount): local paths are then allowed for failure reports and scratch space",
        )


def is_local_path(location: str) -> bool:
    """True for paths on this machine's disk (no scheme, or ``file://``)."""
    scheme = urlsplit(location).scheme
    return scheme in ("", "file") or len(scheme) == 1  # one letter: a Windows drive


def shared_root(options: PipelineOptions, remote: bool, explicit: str | None, purpose: str) -> str | None:
    """The folder under which ``purpose`` files go, or None for a fresh local temporary folder.

    ``explicit`` (a path the user gave) wins over ``--temp_location``. For a remote runner the
    result must be a URI every worker and the driver share.
    """
    location = explicit or options.view_as(GoogleCloudOptions).temp_location
    if not remote:
        return location
    if not location:
        raise ConfigError(
            f"the runner starts workers on other machines, which write the {purpose} this driver "
            "reads back; give a location they all share with --temp_location=gs://bucket/tmp "
            "(or s3://...), or --workers_share_local_disk if the workers run on this machine"
        )
    if is_local_path(location) and not options.view_as(SharedLocationOptions).workers_share_local_disk:
        raise ConfigError(
            f"{location!r} is a local path, but the runner starts workers on other machines: the "
            f"{purpose} they write there would never reach this driver. Use a location they all "
            "share (gs://bucket/tmp, s3://...), or --workers_share_local_disk if the workers run "
            "on this machine"
        )
    return location


def scratch_dir(root: str | None, prefix: str) -> str:
    """A new, uniquely named folder under ``root`` (a local temporary folder when None)."""
    if root is None:
        return tempfile.mkdtemp(prefix=f"{prefix}-")
    return FileSystems.join(root, f"{prefix}-{uuid.uuid4().hex[:12]}")


def remove_dir(location: str) -> None:
    """Delete a scratch folder and what it holds; a folder that was never written is fine."""
    if is_local_path(location):
        shutil.rmtree(location, ignore_errors=True)
        return
    matches = FileSystems.match([FileSystems.join(location, "*")])[0].metadata_list
    if matches:
        FileSystems.delete([m.path for m in matches])
