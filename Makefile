# notifier — every set-up step behind one command. `make help` lists the targets.
#
# The virtualenv is created once; the package is reinstalled whenever pyproject.toml
# changes (the stamp file records the last install).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-pyproject
BENCH_ARGS ?=
# Two tests at a time (pytest-xdist): most of the suite waits on real workers, receivers
# and browsers; a test file stays on one worker (its fixtures are per file).
PYTEST_ARGS ?= -n 2 --dist loadfile

# The Procfile runs `waitress-serve` and `celery` by name: the venv's bin must come first.
export PATH := $(abspath $(BIN)):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help install run test lint fmt bench i18n i18n-update clean

help: ## Show the targets and what they do
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-zA-Z0-9_-]*:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "notifier needs Python 3.11+; set PYTHON=python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP) i18n ## Create .venv, install notifier with dev tools, compile catalogs

i18n: $(STAMP) ## Compile the gettext catalogs (locales/*/LC_MESSAGES/*.po -> .mo)
	$(BIN)/notifier i18n compile

i18n-update: $(STAMP) ## Re-extract messages from templates into locales/messages.pot and merge into each .po
	$(BIN)/notifier i18n extract
	$(BIN)/notifier i18n update

run: install ## Run web + worker + beat on the embedded defaults (SQLite + broker under var/)
	$(BIN)/notifier db upgrade
	$(BIN)/notifier run

lint: $(STAMP) ## ruff check, ruff format --check, mypy notifier
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy notifier

# Lint and tests both run even if one fails, so one CI run shows every problem.
# pytest exits 5 when it collected nothing: that is a failure here, and says so.
test: install ## Install, lint, then the whole test suite (needs Redis and PostgreSQL)
	@rc=0; \
	$(MAKE) --no-print-directory lint || rc=1; \
	$(BIN)/pytest $(PYTEST_ARGS) || { code=$$?; rc=1; \
		[ $$code -ne 5 ] || echo "make test: pytest collected NO tests (exit 5)" >&2; }; \
	[ $$rc -eq 0 ] || echo "make test: FAILED (see lint and pytest output above)" >&2; \
	exit $$rc

fmt: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## Benchmark the pipeline on Redis + SQLite (needs Redis); BENCH_ARGS=--help
	$(BIN)/python bench/bench_pipeline.py $(BENCH_ARGS)

clean: ## Remove var/ (database, broker files, secret key) and caches; keeps .venv
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
