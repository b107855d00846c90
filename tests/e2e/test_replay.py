"""``replay``: a dead letter written back into the target once the failures' cause is fixed;
records that fail again stay in the dead letter, and source = target + dead letter throughout."""

from __future__ import annotations

from io_connectors import Client
from pipelines import Migration
from tests import fault_providers  # noqa: F401  (registers rejecting-memory)
from tests.conformance.suite import read_split, unique_name
from tests.e2e.test_seed_examples import fill

REFUSED = ["vec-5", "vec-6", "vec-17", "vec-250"]


def ids_of(client: Client, index: str) -> set:
    connector = client.connector
    if index not in connector.list_indexes():
        return set()
    return {
        i for split in connector.plan(index, None, 100) for b in read_split(connector, split) for i in b.ids
    }


def test_replay_writes_fixed_records_and_keeps_those_that_still_fail(tmp_path) -> None:
    source = Client(provider="memory", store=unique_name("s"))
    fill(source, "idx", 300)
    store = unique_name("t")
    broken = Client(provider="rejecting-memory", store=store, reject_ids=REFUSED)
    dead = Client(provider="parquet", path=str(tmp_path / "dead"))
    first = Migration(source, broken).migrate("idx", "idx", dead_letter=dead, dead_letter_index="failed")
    assert first.failed_count == len(REFUSED)
    all_ids = ids_of(source, "idx")
    assert ids_of(broken, "idx") | ids_of(dead, "failed") == all_ids

    # half fixed: the target still refuses two of them
    half = Client(provider="rejecting-memory", store=store, reject_ids=REFUSED[:2])
    partly = Migration(source, half).replay(dead, "idx", dead_letter_index="failed")
    assert (partly.read_count, partly.replayed_count, partly.failed_count) == (4, 2, 2)
    assert sorted(i for e in partly.errors for i in e.ids) == sorted(REFUSED[:2])
    assert ids_of(dead, "failed") == set(REFUSED[:2])
    assert ids_of(half, "idx") | ids_of(dead, "failed") == all_ids
    assert ids_of(half, "idx").isdisjoint(ids_of(dead, "failed"))

    fixed = Client(provider="memory", store=store)
    done = Migration(source, fixed).replay(dead, "idx", dead_letter_index="failed")
    assert (done.replayed_count, done.failed_count) == (2, 0)
    assert ids_of(dead, "failed") == set()
    verification = Migration(source, fixed).verify("idx", "idx", deep=True)
    assert verification.match, verification.summary()
