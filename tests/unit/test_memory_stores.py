"""Memory clients: each one its own store, unless ``store=`` or a URI names a shared one."""

from io_connectors import Client
from pipelines import Migration
from tests.conformance.suite import unique_name

VECTOR = {"id": "a", "values": [1.0, 0.0]}


def test_two_default_clients_are_two_stores() -> None:
    a, b = Client(provider="memory"), Client(provider="memory")
    a.upsert(index="products", vectors=[VECTOR])
    assert a.fetch(index="products", ids=["a"])["a"]["values"] == [1.0, 0.0]
    assert b.list_indexes() == []
    assert a.spec.options["store"] != b.spec.options["store"]


def test_a_named_store_is_shared() -> None:
    store = unique_name("shared")
    Client(provider="memory", store=store).upsert(index="products", vectors=[VECTOR])
    assert Client(provider="memory", store=store).list_indexes() == [{"name": "products"}]
    assert Client.from_uri(f"memory://products?store={store}").list_indexes() == [{"name": "products"}]


def test_uris_without_store_name_the_shared_default_store() -> None:
    index = unique_name("uri")
    Client.from_uri(f"memory://{index}").upsert(index=index, vectors=[VECTOR])
    assert {"name": index} in Client.from_uri("memory://other").list_indexes()
    assert {"name": index} not in Client(provider="memory").list_indexes()
    Client.from_uri("memory://").delete_index(index)


def test_a_private_store_reaches_the_beam_workers() -> None:
    """The private store's name travels in the spec, so the pipeline reads and writes it."""
    source, target = Client(provider="memory"), Client(provider="memory")
    source.upsert(index="idx", vectors=[{"id": i, "values": [float(i), 1.0]} for i in range(30)])
    result = Migration(source, target).migrate(source_index="idx", target_index="idx")
    assert result.migrated_count == 30
    assert target.stats(index="idx")["total_vector_count"] == 30
    assert Client(provider="memory").list_indexes() == []
