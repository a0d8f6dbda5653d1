# Two commands matter: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run serve test test-fast peers lint format bench bench-scenarios clean deploy-schema mypy-tree chromium

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (found %s)" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing Loadsense and its dependencies into $(VENV) (a first install takes a minute or two)..."
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]' | grep -E --line-buffered '^(Collecting|Successfully installed)' || true
	@$(BIN)/python -c 'import loadsense.api.cli, streamlit' || (echo "install failed: run $(BIN)/python -m pip install -e '.[dev]' to see why" && exit 1)
	@touch $(STAMP)

## run: set up .venv and start Loadsense, its dashboard and the live demo on embedded storage
run: $(STAMP)
	$(BIN)/loadsense up --demo

## test: set up .venv with dev extras and run the whole test suite (e2e needs chromium)
test: $(STAMP) peers chromium
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# The alerting tests run Debian's Prometheus, promtool and Alertmanager as real peers
# (tests start them on ephemeral ports), and the deploy tests validate deploy/compose.yaml
# with Debian's docker-compose (no engine needed); install them once when missing (as
# root, no stdin).
PEERS := promtool prometheus prometheus-alertmanager docker-compose
peers:
	@for b in $(PEERS); do command -v $$b >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian's prometheus, prometheus-alertmanager and docker-compose for the tests"; \
	  apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager docker-compose >/dev/null; \
	fi

## test-fast: the suite without the slow and end-to-end tests (CI runs them all)
test-fast: $(STAMP) peers
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m "not slow and not e2e"

# The e2e tests drive Debian's Chromium (Playwright's own browser download cannot work here).
chromium:
	@command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)

## lint: ruff, ruff format --check, mypy --strict
lint: $(STAMP) mypy-tree
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# mypy does not follow setuptools' editable import hook, which maps loadsense.api to api/
# and so on: give it the same names as a tree of links (on mypy_path in pyproject.toml).
ROOMS := agent api bench collectors correlator dashboard signals storage
mypy-tree:
	@rm -rf .mypy-tree && mkdir -p .mypy-tree/loadsense
	@for f in loadsense/*; do ln -s ../../$$f .mypy-tree/loadsense/; done
	@for r in $(ROOMS); do ln -s ../../$$r .mypy-tree/loadsense/$$r; done

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: ingest throughput benchmark (numbers go to docs/performance.md)
bench: $(STAMP)
	$(BIN)/python -m loadsense.bench.ingest

## bench-scenarios: every scenario under every policy -> bench/results/scenarios.md and plots
bench-scenarios: $(STAMP)
	$(BIN)/python -m loadsense.bench.scenarios --all

clean:
	rm -rf $(VENV) .loadsense .pytest_cache .mypy_cache .mypy-tree .ruff_cache

## deploy-schema: regenerate deploy/clickhouse/cluster-schema.sql (cluster "loadsense")
deploy-schema: $(STAMP)
	$(BIN)/loadsense schema --cluster loadsense --database loadsense > deploy/clickhouse/cluster-schema.sql
