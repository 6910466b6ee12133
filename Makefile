# cashback — the two commands: `make run` (main job on SQLite) and `make test` (all tests, services included).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

include scripts/services.mk

.PHONY: install run test test-unit test-integration lint bench bench-feed bench-portal bench-audit schemas clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with its test tools

run: $(STAMP)  ## the main job on the embedded default (SQLite), on the example inputs
	CASHBACK=$(BIN)/cashback scripts/run_demo.sh

test: $(STAMP) services  ## unit, property and integration tests (starts PostgreSQL and Kafka)
	eval "$$(scripts/services.sh env)" && $(BIN)/python -m pytest -q

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

test-integration: $(STAMP) services
	eval "$$(scripts/services.sh env)" && $(BIN)/python -m pytest -q tests/integration

lint: $(STAMP)  ## ruff and mypy, settings in pyproject.toml
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: bench-feed bench-portal bench-audit  ## every benchmark, each figure beside a same-run reference (about 6 minutes)

bench-feed: $(STAMP) services  ## feed worker end to end beside the library's save paths, raw COPY, raw Kafka; bench/results.json
	eval "$$(scripts/services.sh env)" && $(BIN)/python -m bench.feed_bench --full

bench-portal: $(STAMP)  ## portal overview latency (10,000 devices, 20 clients) beside raw SQL; bench/portal-results.json
	$(BIN)/python -m bench.portal_bench

bench-audit: $(STAMP) services  ## chain verify and replay over 1,000,000 events beside the raw read; bench/audit-results.json
	eval "$$(scripts/services.sh env)" && $(BIN)/python -m bench.audit_bench

schemas: $(STAMP)  ## regenerate the committed JSON Schemas
	$(BIN)/cashback schemas write

clean:
	rm -rf var .pytest_cache .hypothesis
