#!/usr/bin/env bash
# The main job on the embedded default (SQLite, no server), on the example inputs: `cashback demo`.
# A fresh data folder each time; the clock is fixed so the run is reproducible.
set -euo pipefail
cd "$(dirname "$0")/.."
CASHBACK="${CASHBACK:-.venv/bin/cashback}"
exec "$CASHBACK" demo --data-dir "${CASHBACK_DATA_DIR:-var/run}" --at "${CASHBACK_DEMO_NOW:-2026-12-01T09:00:00+01:00}"
