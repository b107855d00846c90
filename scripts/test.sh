#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs, lints, runs every test.
# The tests start their own servers (embedded PostgreSQL, local Pinecone, Qdrant's engines, a
# Chroma server).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
.venv/bin/ruff check .
# Two pytest workers (pytest-xdist), one per core: each starts its own servers on free ports.
# Serially the suite takes about 17 minutes here; in two workers about 10.
.venv/bin/python -m pytest -q -p no:cacheprovider -n "${PYTEST_WORKERS:-2}" "$@"
