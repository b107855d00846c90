"""Nothing vanishes: every record read ends up in the target or in the failure report."""

from __future__ import annotations

import time

import numpy as np
import pytest

from io_connectors import Client, ConfigError, VectorBatch
from io_connectors.core.registry import register_provider
from io_connectors.memory import MemoryConnector
from pipelines import Migration
from tests import fault_providers  # noqa: F401  (registers the fault-injecting providers)
from tests.conformance.suite import unique_name
from tests.e2e.test_seed_examples import fill


def test_a_batch_refused_as_a_whole_is_bisected_down_to_the_bad_record() -> None:
    source = Client(provider="memory", store=unique_name("s"))
    fill(source, "idx", 800)
    target = Client(provider="poison-memory", store=unique_name("t"), poison_ids=["vec-77", "vec-640"])
    result = Migration(source, target).migrate(source_index="idx", target_index="idx", chunk_size=200)
    assert sorted(i for e in result.errors for i in e.ids) == ["vec-640", "vec-77"]
    assert all(e.error_class == "PermanentError" and e.stage == "write" for e in result.errors)
    assert target.stats(index="idx")["total_vector_count"] == 798 == result.migrated_count


def test_transient_failures_are_retried_and_counted() -> None:
    source = Client(provider="memory", store=unique_name("s"))
    fill(source, "idx", 1000)
    target = Client(provider="flaky-memory", store=unique_name("t"), flaky_key=unique_name(), fail_every=3)
    result = Migration(source, target).migrate(source_index="idx", target_index="idx", chunk_size=50)
    assert result.errors == [] and result.migrated_count == 1000
    assert result.metrics["retries"] >= 20 / 3


def test_invalid_records_are_reported_with_their_reason_and_the_rest_land() -> None:
    source = Client(provider="memory", store=unique_name("s"))
    values = np.ones((5, 4), dtype=np.float32)
    values[2, 1] = np.nan
    source.create_index("idx", 4)
    source.connector.write(
        "idx", VectorBatch([f"v{i}" for i in range(5)], values)
    )  # the client would refuse it
    target = Client(provider="memory", store=unique_name("t"))
    result = Migration(source, target).migrate(source_index="idx", target_index="idx")
    assert [(e.stage, e.ids, e.message) for e in result.errors] == [
        ("validate", ["v2"], "dense values contain NaN or infinity")
    ]
    assert result.migrated_count == 4 and result.failed_count == 1


def test_failed_records_can_be_dead_lettered_for_replay(tmp_path) -> None:
    source = Client(provider="memory", store=unique_name("s"))
    fill(source, "idx", 300)
    target = Client(provider="rejecting-memory", store=unique_name("t"), reject_ids=["vec-5", "vec-6"])
    dead = Client(provider="parquet", path=str(tmp_path))
    result = Migration(source, target).migrate(
        source_index="idx", target_index="idx", dead_letter=dead, dead_letter_index="failed"
    )
    assert result.migrated_count == 298
    replay = dead.fetch(index="failed", ids=["vec-5", "vec-6"])
    assert set(replay) == {"vec-5", "vec-6"}
    assert replay["vec-5"] == source.fetch(index="idx", ids=["vec-5"])["vec-5"]


class _BrokenReadConnector(MemoryConnector):
    def read(self, split, tracker):
        yield from []
        raise OSError("disk on fire")


register_provider("broken-read-memory", f"{__name__}:_BrokenReadConnector")


def test_a_split_that_cannot_be_read_is_reported_not_skipped() -> None:
    source = Client(provider="broken-read-memory", store=unique_name("s"))
    fill(Client(provider="memory", store=source.spec.options["store"]), "idx", 10)
    result = Migration(source, Client(provider="memory", store=unique_name("t"))).migrate(
        source_index="idx", target_index="idx"
    )
    assert [(e.stage, e.error_class) for e in result.errors] == [("read", "OSError")]
    assert "disk on fire" in result.errors[0].message and not result.ok


def test_memory_stores_refuse_multi_process_runners() -> None:
    source = Client(provider="memory", store=unique_name("s"))
    fill(source, "idx", 10)
    migration = Migration(
        source, Client(provider="memory"), pipeline_args=["--direct_running_mode=multi_processing"]
    )
    with pytest.raises(ConfigError, match="lives in this process"):
        migration.migrate(source_index="idx", target_index="idx")


def test_merging_namespaces_is_refused_because_ids_would_collide() -> None:
    source = Client(provider="memory", store=unique_name("s"))
    fill(source, "idx", 10, namespace="a")
    fill(source, "idx", 10, namespace="b")
    migration = Migration(source, Client(provider="memory", store=unique_name("t")))
    with pytest.raises(ConfigError, match="overwrite"):
        migration.migrate(source_index="idx", target_index="idx", target_namespace="all")
    with pytest.raises(ConfigError, match="overwrite"):
        migration.migrate(source_index="idx", target_index="idx", namespace_map={"a": "b"})


def test_target_dimension_mismatch_fails_before_moving_data() -> None:
    source = Client(provider="memory", store=unique_name("s"))
    fill(source, "idx", 10, dim=16)
    target = Client(provider="memory", store=unique_name("t"))
    target.create_index("idx", 8)
    with pytest.raises(ConfigError, match="dimension 8"):
        Migration(source, target).migrate(source_index="idx", target_index="idx")


def test_a_refusal_of_every_record_for_one_reason_fails_fast_with_one_error() -> None:
    source = Client(provider="memory", store=unique_name("s"))
    fill(source, "idx", 20_000)
    target = Client(provider="constrained-memory", store=unique_name("t"))
    started = time.monotonic()
    with pytest.raises(Exception, match=r"the target .idx. refuses every record for the same reason") as info:
        Migration(source, target).migrate(source_index="idx", target_index="idx")
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert message.count('null value in column "text" of relation "data_docs"') == 1
    assert target.stats(index="idx")["total_vector_count"] == 0


def test_probes_that_land_are_counted_and_the_rest_is_still_bisected() -> None:
    source = Client(provider="memory", store=unique_name("s"))
    fill(source, "idx", 400)
    # vec-0 is the first record of the only batch: a probe, refused while the other probes land
    target = Client(provider="poison-memory", store=unique_name("t"), poison_ids=["vec-0", "vec-123"])
    result = Migration(source, target).migrate(source_index="idx", target_index="idx", chunk_size=400)
    assert sorted(i for e in result.errors for i in e.ids) == ["vec-0", "vec-123"]
    assert target.stats(index="idx")["total_vector_count"] == 398 == result.migrated_count
