"""Whole jobs: migrate and verify, as a Python API (``Migration``), a composite Beam transform
(``MigrateVectors``) and a CLI (``vector-migrate``)."""

import io_connectors.core._quiet_imports  # noqa: F401  (first: silences a Beam import notice)
from pipelines.migration import Migration, MigrationError, MigrationResult
from pipelines.planning import MigrationPlan, plan_migration
from pipelines.runner import RunConfig
from pipelines.transforms import MigrateResult, MigrateVectors
from pipelines.verify import VerificationResult

__all__ = [
    "MigrateResult",
    "MigrateVectors",
    "Migration",
    "MigrationError",
    "MigrationPlan",
    "MigrationResult",
    "RunConfig",
    "VerificationResult",
    "plan_migration",
]
