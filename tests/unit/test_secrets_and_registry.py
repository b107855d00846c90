import pytest

from io_connectors import Client, ConfigError
from io_connectors.core.contract import ConnectorSpec
from io_connectors.core.registry import parse_uri
from io_connectors.core.secrets import mask_uri, redact


def test_uri_passwords_and_secret_parameters_are_masked() -> None:
    text = "connect postgresql://user:s3cr3t@db:5432/x?api_key=abc123&table=t failed; password=hunter2"
    masked = mask_uri(text)
    assert "s3cr3t" not in masked and "abc123" not in masked and "hunter2" not in masked
    assert "postgresql://user:***@db:5432/x" in masked and "table=t" in masked


def test_known_secret_values_are_redacted_anywhere() -> None:
    assert redact("key pk-live-XYZ rejected", ["pk-live-XYZ"]) == "key *** rejected"


def test_spec_and_client_repr_hide_secrets() -> None:
    spec = ConnectorSpec("qdrant", {"host": "h", "api_key": "topsecret"})
    assert "topsecret" not in repr(spec)
    assert "topsecret" not in repr(Client(provider="memory", api_key="topsecret"))


def test_uri_registry_parses_memory_and_parquet() -> None:
    at = parse_uri("memory://products?namespace=t1&store=s")
    assert (at.spec.provider, at.index, at.namespace, at.spec.options["store"]) == (
        "memory",
        "products",
        "t1",
        "s",
    )
    at = parse_uri("parquet:///tmp/exports/products")
    assert (at.spec.options["path"], at.index) == ("/tmp/exports", "products")


def test_unknown_scheme_and_provider_say_what_is_known() -> None:
    with pytest.raises(ConfigError, match=r"known: .*parquet"):
        parse_uri("nosuch://x")
    with pytest.raises(ConfigError, match="unknown provider"):
        Client(provider="nosuch").list_indexes()
    with pytest.raises(ConfigError) as raised:
        parse_uri("user:pw-123@host/x")
    assert "pw-123" not in str(raised.value)
    with pytest.raises(ConfigError, match="is not a URI"):
        parse_uri("/data/no-scheme")
