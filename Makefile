# SimpleTrust Integrations: `make run` and `make test` are all a new machine needs.
# Both create (or refresh, when pyproject.toml changes) the virtualenv in .venv first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
EXTRAS ?= dev,console
# make test runs the Qt-free suite in parallel worker processes (pytest-xdist; TEST_WORKERS=0
# runs it in one), then the console's Qt tests in a process of their own: Qt state left by
# widget tests (posted events, notifiers) must not be processed inside later, Qt-free tests.
TEST_WORKERS ?= 2

.PHONY: run agent test lint fuzz bench screenshots clean help

help:
	@echo "make run          start the agent (SQLite default) and the console where a display exists"
	@echo "make test         the whole test suite, on SQLite and PostgreSQL"
	@echo "make lint         ruff, mypy and the import contracts"
	@echo "make fuzz         schemathesis over the agent's OpenAPI document"
	@echo "make bench        benchmarks: sync vs dlt and COPY, webhook ingest, 200 rate-limited tenants"
	@echo "make screenshots  render the console's screens into docs/images/"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/simpletrust run

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -p no:pytest-qt --ignore=tests/console $(PYTEST_ARGS)
	$(BIN)/python -m pytest tests/console $(CONSOLE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fuzz: $(STAMP)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} $(BIN)/python -m pytest tests/fuzz $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.sync_bench $(BENCH_ARGS)
	$(BIN)/python -m bench.webhook_bench
	$(BIN)/python -m bench.ratelimit_bench

screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python packaging/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
