# Developer entry points. Each target installs what it needs into .venv by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# One test worker more than cores: many tests wait on processes and timers, not on a core.
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')

.PHONY: run test lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: tickwork's scheduler and worker on the embedded SQLite store with the example config
run: $(STAMP)
	$(BIN)/tickwork run --config examples/tickwork.toml

## test: the whole suite (PostgreSQL tests run when TICKWORK_TEST_PG_URL is set)
test: $(STAMP)
	$(BIN)/ruff check src tests bench examples scripts
	$(BIN)/ruff format --check src tests bench examples scripts
	$(BIN)/mypy
	$(BIN)/lint-imports
	# Compiled once here: where PYTHONDONTWRITEBYTECODE is set, every tickwork process the tests
	# start would otherwise compile the sources again (~0.4 s of CPU each).
	$(BIN)/python -m compileall -q src tests examples
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

## lint: ruff, and the import rules of pyproject.toml ([tool.importlinter])
lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples scripts
	$(BIN)/ruff format --check src tests bench examples scripts
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

## bench: store (~5 min), REST API and command-line benchmarks on SQLite; see docs/benchmarks.md
bench: $(STAMP)
	$(BIN)/python bench/bench_store.py
	$(BIN)/python bench/bench_api.py
	$(BIN)/python bench/bench_cli.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
