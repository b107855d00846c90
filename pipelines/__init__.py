"""Whole jobs: migrate and verify, as a Python API (``Migration``) and a CLI (``vector-migrate``)."""

import io_connectors.core._quiet_imports  # noqa: F401  (first: silences a Beam import notice)
from pipelines.migration import Migration, MigrationError, MigrationResult
from pipelines.runner import RunConfig
from pipelines.verify import VerificationResult

__all__ = ["Migration", "MigrationError", "MigrationResult", "RunConfig", "VerificationResult"]
