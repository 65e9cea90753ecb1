# connector: run `make help` for the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.DEFAULT_GOAL := help
.PHONY: help install dev demo test test-postgres lint run bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[demo]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## Install the service into .venv

dev: $(VENV)/.installed-dev ## Install the service with test and lint tools

demo: install ## Run the main job on embedded defaults (SQLite, local storage)
	$(PY) demo/demo.py

test: dev ## Run the test suite (SQLite)
	$(PY) -m pytest -q

test-postgres: dev ## Run the test suite against PostgreSQL (the database PG_TEST_URL names)
	CONNECTOR_TEST_DATABASE_URL=$(PG_TEST_URL) $(PY) -m pytest -q

lint: dev ## ruff and the import-layer contracts
	$(VENV)/bin/ruff check connector tests bench demo
	$(VENV)/bin/lint-imports

run: install ## Serve the API on 127.0.0.1:8080
	$(VENV)/bin/connector serve

bench: dev ## Benchmarks (each writes its section of docs/benchmarks.md; about an hour and a half)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/policy_eval.py
	$(PY) bench/catalog_search.py
	$(PY) bench/staging.py
	$(PY) bench/faults.py

clean: ## Remove the virtualenv and local state
	rm -rf $(VENV) instance build *.egg-info .pytest_cache
