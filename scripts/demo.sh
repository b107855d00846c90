#!/usr/bin/env bash
# The main job on a fresh machine: installs what it needs, starts an embedded PostgreSQL with
# pgvector, and runs a real migration Parquet -> Qdrant (embedded engine) -> pgvector -> Parquet,
# verified record by record at every hop. Extra arguments go to `vector-migrate demo`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
PGDATA_DIR="${VECTOR_MIGRATE_DEMO_PGDATA:-/tmp/vector-migrate-demo-pg}"
PGPORT="${VECTOR_MIGRATE_DEMO_PGPORT:-55433}"
DSN=$(.venv/bin/python scripts/embedded_postgres.py start --data-dir "$PGDATA_DIR" --port "$PGPORT" | tail -n 1)
trap '.venv/bin/python scripts/embedded_postgres.py stop --data-dir "$PGDATA_DIR" --port "$PGPORT" >/dev/null' EXIT
.venv/bin/vector-migrate demo --postgres-dsn "$DSN" "$@"
