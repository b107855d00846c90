"""Shared test set-up. Fixture modules in ``tests/fixtures/`` (one per provider's servers) are
loaded automatically, so a provider adds its fixtures without editing this file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if path.stem != "__init__"
)


@pytest.fixture(autouse=True)
def _quiet_beam_logs() -> None:
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
