"""Ready for Dataflow without a cloud: the job translates offline, and the package it ships works.

* DataflowRunner with ``--dry_run`` translates the migration into the Dataflow job description
  it would submit, stopping before any request (``--no_auth``: no credentials are looked for).
* Submission's next step runs offline with a local folder as the staging bucket: the job's full
  description, the staged pipeline and the package workers install from ``--setup_file``; that
  very tarball is installed with every extra into a fresh venv, which then runs a migration and a
  deep verify from outside the source tree: a module or file missing from the package fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import GoogleCloudOptions
from apache_beam.runners.dataflow.internal import apiclient

from io_connectors import Client, ConfigError, VectorBatch
from pipelines import Migration
from pipelines.runner import RunConfig, choose_runner
from pipelines.transforms import MigrateVectors

ROOT = Path(__file__).parents[2]
DRY_RUN = [
    "--project=vector-migrate-offline",
    "--temp_location=gs://vector-migrate-offline/tmp",
    "--staging_location=gs://vector-migrate-offline/staging",
    "--job_name=vector-migrate-dry-run",
    f"--setup_file={ROOT / 'setup.py'}",
    "--sdk_location=container",
    "--no_auth",
    "--dry_run=True",
]


def parquet_source(root: Path, n: int = 300) -> Client:
    client = Client(provider="parquet", path=str(root))
    client.create_index("docs", 16, "cosine")
    ids = [f"doc-{i}" for i in range(n)]
    values = np.random.default_rng(1).standard_normal((n, 16), dtype=np.float32)
    client.connector.write("docs", VectorBatch(ids, values, None, [{"i": i} for i in range(n)]))
    return client


@pytest.mark.packaging
def test_the_job_translates_offline_and_its_staged_package_installs_and_migrates(tmp_path) -> None:
    runner = choose_runner(RunConfig.load(ROOT / "run_configs" / "dataflow.json"), DRY_RUN)
    assert runner.remote
    pipeline = beam.Pipeline(runner=runner.runner, options=runner.options)
    source = parquet_source(tmp_path / "source")
    _ = pipeline | MigrateVectors(
        source, f"parquet://{tmp_path}/out", source_index="docs", target_index="docs"
    )
    job = pipeline.run().job  # --dry_run: translated, not submitted
    transforms = {t.unique_name for t in job.proto_pipeline.components.transforms.values()}
    assert any(name.startswith("MigrateVectors/") for name in transforms), sorted(transforms)

    # What submission would do next, with a local folder for the staging bucket: stage the
    # pipeline and the package built from --setup_file, and describe the job's environment.
    staging = tmp_path / "staging"
    staging.mkdir()
    job.options.view_as(GoogleCloudOptions).staging_location = str(staging)
    apiclient.DataflowApplicationClient(job.options, str(staging)).create_job_description(job)
    description = json.loads(job.json())
    assert description["name"] == "vector-migrate-dry-run" and description["type"] == "JOB_TYPE_BATCH"
    options = description["environment"]["sdkPipelineOptions"]["options"]
    assert options["setup_file"].endswith("setup.py") and options["project"] == "vector-migrate-offline"
    tarball = staging / "workflow.tar.gz"
    assert tarball.exists() and (staging / "pipeline.pb").exists()

    with pytest.raises(ConfigError, match="local path"):  # Dataflow workers never see this disk
        Migration(
            source,
            source,
            RunConfig.load(ROOT / "run_configs" / "dataflow.json"),
            [*DRY_RUN[:1], f"--temp_location={tmp_path}"],
        ).migrate(source_index="docs", target_index="copy")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"vector-migrate[all] @ file://{tarball}"],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout

    parquet_source(tmp_path / "data")
    script = textwrap.dedent(
        f"""
        import pipelines, sys
        assert "site-packages" in pipelines.__file__, pipelines.__file__
        from io_connectors import Client
        from pipelines import Migration
        source = Client(provider="parquet", path={str(tmp_path / "data")!r})
        target = Client(provider="parquet", path={str(tmp_path / "copy")!r})
        result = Migration(source, target).migrate(source_index="docs", target_index="docs")
        assert (result.migrated_count, result.errors) == (300, []), result.summary()
        check = Migration(source, target).verify(source_index="docs", target_index="docs", deep=True)
        assert check.match and check.checked == 300, check.summary()
        print("migrated", result.migrated_count)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([str(python), "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert run.returncode == 0 and "migrated 300" in run.stdout, run.stdout + run.stderr[-3000:]
    cli = subprocess.run([str(venv / "bin" / "vector-migrate"), "--help"], capture_output=True, text=True)
    assert cli.returncode == 0 and "migrate" in cli.stdout
