"""Which runs are remote, and where their side files may go (pipelines/locations.py)."""

from __future__ import annotations

import pytest

from io_connectors.core.errors import ConfigError
from pipelines.locations import is_local_path, scratch_dir
from pipelines.runner import RunConfig, choose_runner


@pytest.mark.parametrize(
    ("args", "remote"),
    [
        ([], False),
        (["--direct_running_mode=multi_processing"], False),
        (["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"], False),
        (["--environment_type=EXTERNAL", "--environment_config=localhost:50000"], True),
        (["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=EXTERNAL"], True),
        (["--runner=FlinkRunner"], True),
        (["--runner=DataflowRunner"], True),
    ],
)
def test_remote_is_a_property_of_the_runner_choice(args: list[str], remote: bool) -> None:
    choice = choose_runner(RunConfig(), args)
    assert choice.remote is remote
    assert not (remote and choice.in_process)


def test_remote_runs_need_a_shared_location() -> None:
    remote = choose_runner(RunConfig(), ["--runner=DataflowRunner", "--temp_location=gs://bucket/tmp"])
    assert remote.side_file_root(None, "failure reports") == "gs://bucket/tmp"
    assert remote.side_file_root("s3://other/failures", "failure reports") == "s3://other/failures"
    assert scratch_dir("gs://bucket/tmp", "x").startswith("gs://bucket/tmp/x-")
    with pytest.raises(ConfigError, match="local path"):
        remote.side_file_root("/tmp/failures", "failure reports")
    with pytest.raises(ConfigError, match="local path"):
        remote.side_file_root("file:///tmp/failures", "failure reports")
    shared = choose_runner(
        RunConfig(), ["--runner=FlinkRunner", "--temp_location=/mnt/shared", "--workers_share_local_disk"]
    )
    assert shared.side_file_root(None, "failure reports") == "/mnt/shared"
    local = choose_runner(RunConfig(), [])
    assert local.side_file_root(None, "failure reports") is None  # a fresh temporary folder
    assert is_local_path("C:/data") and not is_local_path("gs://b/p")
