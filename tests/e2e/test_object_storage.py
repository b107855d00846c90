"""Parquet indexes, failure reports and dead letters on S3, against a real S3-compatible server
(moto's server mode, started by the ``s3_server`` fixture)."""

from __future__ import annotations

import json

import pytest

import tests.fault_providers  # noqa: F401 - registers the fault-injecting providers
from io_connectors import Client
from io_connectors.core.errors import VectorMigrateError
from pipelines import Migration
from tests.conformance.suite import by_id, make_batch, read_split, unique_name
from tests.fixtures.s3 import S3Server


def _s3_parquet(server: S3Server, bucket: str, prefix: str = "exports") -> Client:
    return Client(
        provider="parquet",
        path=f"s3://{bucket}/{prefix}",
        endpoint_url=server.endpoint_url,
        access_key=server.access_key,
        secret_key=server.secret_key,
        region="us-east-1",
    )


def _read_all(client: Client, index: str) -> dict:
    connector = client.connector
    return by_id(b for split in connector.plan(index, None, 500) for b in read_split(connector, split))


def _filled_memory(n: int = 600) -> Client:
    source = Client(provider="memory")
    source.create_index("idx", 16, "dotproduct", sparse=True)
    for namespace, kinds in (("", ("str", "int")), ("tenant-a", ("unicode", "uuid"))):
        batch = make_batch(n // 2, namespace, id_kinds=kinds, dimension=16, seed=len(namespace))
        source.upsert(index="idx", vectors=batch)
    return source


def test_memory_to_s3_parquet_and_back_is_exact(s3_server: S3Server, s3_bucket: str) -> None:
    source = _filled_memory()
    on_s3 = _s3_parquet(s3_server, s3_bucket)
    out = Migration(source, on_s3).migrate(source_index="idx", target_index="idx", chunk_size=100)
    assert (out.migrated_count, out.errors) == (600, [])
    keys = s3_server.keys(s3_bucket, "exports/idx/")
    assert "exports/idx/_index.json" in keys
    assert {k.split("/")[2] for k in keys} == {"_index.json", "__default__", "tenant-a"}
    assert all(k.endswith(".parquet") for k in keys if k != "exports/idx/_index.json")
    assert on_s3.describe_index("idx")["namespaces"] == {"": 300, "tenant-a": 300}

    back = Client(provider="memory")
    again = Migration(on_s3, back).migrate(source_index="idx", target_index="idx")
    assert (again.migrated_count, again.errors) == (600, [])
    assert _read_all(back, "idx") == _read_all(source, "idx")
    assert Migration(source, on_s3).verify(source_index="idx", target_index="idx", deep=True).match

    existing = next(k[1] for k in _read_all(source, "idx") if k[0] == "")
    on_s3.upsert(index="idx", vectors=[{"id": existing, "values": [1.0] * 16}])  # replaces, adds nothing
    assert on_s3.describe_index("idx")["count"] == 600
    assert on_s3.fetch(index="idx", ids=[existing])[existing]["values"] == [1.0] * 16


def test_uri_form_reads_credentials_from_the_environment(s3_env: S3Server, s3_bucket: str) -> None:
    source = _filled_memory(200)
    target = Client.from_uri(f"parquet+s3://{s3_bucket}/deep/prefix/copy")
    assert target.location is not None and target.location.index == "copy"
    out = Migration(source, target).migrate(source_index="idx", target_index="copy")
    assert (out.migrated_count, out.errors) == (200, [])
    assert s3_env.keys(s3_bucket, "deep/prefix/copy/_index.json") == ["deep/prefix/copy/_index.json"]
    with pytest.raises(VectorMigrateError, match="take no credentials"):
        Client.from_uri(f"parquet+s3://{s3_bucket}/x/idx?secret_key=abc")


def test_failure_report_and_dead_letters_on_s3(s3_env: S3Server, s3_bucket: str) -> None:
    source = Client(provider="memory")
    source.upsert(index="idx", vectors=make_batch(300, id_kinds=("str",), dimension=8))
    refused = ["doc-00007", "doc-00150", "doc-00299"]
    target = Client(provider="rejecting-memory", store=unique_name("t"), reject_ids=refused)
    dead = Client(provider="parquet", path=f"s3://{s3_bucket}/dead")
    report = f"s3://{s3_bucket}/reports/run-1"
    result = Migration(source, target).migrate(
        source_index="idx", target_index="idx", failures_path=report, dead_letter=dead, chunk_size=50
    )
    assert result.failures_path == report
    assert sorted(i for e in result.errors for i in e.ids) == refused
    assert result.migrated_count == 297 and result.failed_count == 3
    keys = s3_env.keys(s3_bucket, "reports/run-1/")
    reports = [k for k in keys if k.startswith("reports/run-1/failures")]
    assert reports and all(  # the failure report and the per-namespace tally of written ids
        k in reports or k.startswith("reports/run-1/accounting") for k in keys
    )
    body = "".join(
        s3_env.client().get_object(Bucket=s3_bucket, Key=k)["Body"].read().decode() for k in reports
    )
    assert sorted(i for line in body.splitlines() for i in json.loads(line)["ids"]) == refused
    assert sorted(r[1] for r in _read_all(dead, "dead-letter")) == refused


def test_credentials_never_show(s3_server: S3Server) -> None:
    client = _s3_parquet(s3_server, "no-such-bucket-here")
    assert s3_server.secret_key not in repr(client) and s3_server.access_key not in repr(client)
    with pytest.raises(Exception) as caught:
        client.describe_index("idx")
    assert s3_server.secret_key not in str(caught.value)
