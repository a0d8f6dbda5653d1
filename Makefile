# Two commands matter: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run serve test lint format bench clean deploy-schema

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (found %s)" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## run: set up .venv and start Loadsense on embedded storage (http://127.0.0.1:4318)
run: $(STAMP)
	$(BIN)/loadsense serve

## test: set up .venv with dev extras and run the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest -q

## lint: ruff, ruff format --check, mypy --strict
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: ingest throughput benchmark (numbers go to docs/performance.md)
bench: $(STAMP)
	$(BIN)/python -m bench.ingest

clean:
	rm -rf $(VENV) .loadsense .pytest_cache .mypy_cache .ruff_cache

## deploy-schema: regenerate deploy/clickhouse/cluster-schema.sql (cluster "loadsense")
deploy-schema: $(STAMP)
	$(BIN)/loadsense schema --cluster loadsense --database loadsense > deploy/clickhouse/cluster-schema.sql
