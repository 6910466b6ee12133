#!/usr/bin/env bash
# The main job on the embedded default (SQLite, no server), on the example inputs.
# A fresh data folder each time; the clock is fixed so the run is reproducible.
set -euo pipefail
cd "$(dirname "$0")/.."
CASHBACK="${CASHBACK:-.venv/bin/cashback}"
export CASHBACK_STORE=sqlite
export CASHBACK_DATA_DIR="${CASHBACK_DATA_DIR:-var/run}"
NOW="${CASHBACK_DEMO_NOW:-2026-12-01T09:00:00+01:00}"
rm -rf "$CASHBACK_DATA_DIR"
mkdir -p "$CASHBACK_DATA_DIR"
cb() { echo; echo "\$ cashback $*"; "$CASHBACK" --now "$NOW" "$@"; }

cb enrol examples/companies.csv
cb ingest feed examples/feed.jsonl
cb template excel "$CASHBACK_DATA_DIR/template.xlsx"
cb ingest excel examples/workbook.xlsx --company 100000 --verdicts "$CASHBACK_DATA_DIR/verdicts.xlsx"
cb ingest excel examples/workbook.xlsx --company 100000 | tail -1   # a re-upload changes nothing
cb register --company 100037 --serial "3 229 477 322" --type "stp 10.0-3av-40" --installed-on 19/05/2026
cb register --company 100074 --serial 3229477322 --type STP10.0-3AV-40 --installed-on 2026-05-19   # a second company: refused
cb status --company 100000 --limit 10
cb stats
cb payment-run --out "$CASHBACK_DATA_DIR/payouts.jsonl"
cb payouts confirm "$CASHBACK_DATA_DIR/payouts.jsonl"
cb payment-run
cb status --company 100000 --limit 0
cb stats
cb inspect parked --limit 5
cb inspect dead-letters --limit 5
echo
echo "done: data in $CASHBACK_DATA_DIR (events.sqlite, overview.sqlite, payouts.jsonl, verdicts.xlsx)"
