# One command each for a newcomer: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint dev bench clean

$(STAMP): pyproject.toml setup.py constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rtk-pipeline demo

test: $(STAMP)
	$(BIN)/python -m pytest

# Style, types, the import contracts (layers, no cycles, DuckDB and Dagster kept in place), declared vs
# imported dependencies, and the 500-line module rule. Each step runs even if one before it failed.
lint: $(STAMP)
	@status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/mypy || status=1; \
	$(BIN)/lint-imports || status=1; \
	$(BIN)/deptry . || status=1; \
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_structure.py -n 0 || status=1; \
	exit $$status

# Emulator + Dagster UI together, for clicking through the pipeline.
dev: $(STAMP)
	$(BIN)/rtk-pipeline dev

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,bench]"
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) data .pytest_cache
