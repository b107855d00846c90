"""Secrets never travel in the job graph: the serialized pipeline proto a runner receives.

Beam pickles DoFns and their connector configs into the proto, compressed and base64-encoded; a
plain search of the bytes would miss a password that anyone with the job can decode. These
tests decode the proto the way an onlooker would.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import apache_beam as beam
import numpy as np
import pytest

from io_connectors import Client, ConfigError, VectorBatch
from io_connectors.core.contract import ConnectorSpec
from pipelines import Migration
from pipelines.job_graph import secrets_in_job_graph, spec_secrets
from pipelines.transforms import MigrateVectors

RUN_CONFIG = Path(__file__).parents[2] / "run_configs" / "portable-worker-pool.json"


def without_password(dsn: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@{parts.hostname}:{parts.port}"))


def job_graph(source: Client, target: Client) -> beam.Pipeline:
    pipeline = beam.Pipeline()
    _ = pipeline | MigrateVectors(source, target, source_index="docs", target_index="docs")
    return pipeline


@pytest.fixture
def parquet_source(tmp_path) -> Client:
    source = Client(provider="parquet", path=str(tmp_path / "source"))
    source.create_index("docs", 8, "cosine")
    source.connector.write("docs", VectorBatch(["a", "b"], np.ones((2, 8), dtype=np.float32)))
    return source


def test_a_dsn_password_is_readable_from_the_job_graph_and_found(
    parquet_source, pg_password_dsn, pg_password, pg_schema
) -> None:
    target = Client(provider="pgvector", dsn=pg_password_dsn, schema=pg_schema)
    pipeline = job_graph(parquet_source, target)
    raw = pipeline.to_runner_api().SerializeToString()
    assert pg_password.encode() not in raw  # invisible to a plain search ...
    assert secrets_in_job_graph(pipeline, [pg_password]) == [pg_password]  # ... yet there


def test_with_the_password_in_the_environment_the_job_graph_holds_none(
    parquet_source, pg_password_dsn, pg_password, pg_schema, monkeypatch
) -> None:
    monkeypatch.setenv("PGPASSWORD", pg_password)
    target = Client(provider="pgvector", dsn=without_password(pg_password_dsn), schema=pg_schema)
    pipeline = job_graph(parquet_source, target)
    assert secrets_in_job_graph(pipeline, [pg_password]) == []
    assert "vm_secret_user" in secrets_in_job_graph(pipeline, ["vm_secret_user"])  # the scan does see the DSN


def test_a_remote_job_carrying_a_password_is_refused_without_showing_it(
    parquet_source, pg_password_dsn, pg_password, pg_schema, tmp_path
) -> None:
    target = Client(provider="pgvector", dsn=pg_password_dsn, schema=pg_schema)
    migration = Migration(parquet_source, target, RUN_CONFIG, [f"--temp_location={tmp_path}"])
    with pytest.raises(ConfigError, match="pgvector options hold a secret") as refused:
        migration.migrate(source_index="docs", target_index="docs")
    assert pg_password not in str(refused.value)
    assert target.describe_index("docs")["count"] == 0  # created to match, but nothing moved


def test_secret_values_of_specs() -> None:
    assert spec_secrets(ConnectorSpec("pgvector", {"dsn": "postgresql://u:p%40ss@h:5432/db"})) == ["p@ss"]
    assert spec_secrets(ConnectorSpec("pgvector", {"dsn": "host=h user=u password='s e'"})) == ["s e"]
    assert spec_secrets(ConnectorSpec("pgvector", {"dsn": "postgresql://u@h/db"})) == []
    assert spec_secrets(ConnectorSpec("pinecone", {"api_key": "pk-123", "host": "x"})) == ["pk-123"]
