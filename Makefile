# evolink-mock: `make serve` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -n 2
CLIENTS := .clients
#: EvoLink's MCP server, driven by tests/test_e2e_clients.py (installed by .ci/run and make e2e-clients).
MCP_PACKAGE := @evolinkai/evolink-media@1.2.1

.PHONY: install serve test test-deep e2e-clients lint bench bench-against screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the emulator on $EVOLINK_MOCK_HOST:$EVOLINK_MOCK_PORT (default 127.0.0.1:8000), in-memory state.
serve: $(STAMP)
	exec $(BIN)/evolink-mock serve

## Lint, types and architecture rules, then the whole test suite.
test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## The deep run: every per-model case on every model, schemathesis' coverage phase over every model's
## schema and 100 fuzzed requests per model (several times longer than make test).
test-deep: lint
	EVOLINK_CONTRACT_DEEP=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

## Install EvoLink's own clients (its MCP server, from npm; needs node and npm) and run them end to end
## against the emulator (tests/test_e2e_clients.py; make test runs them too once they are installed).
e2e-clients: $(STAMP)
	npm install --prefix $(CLIENTS) --no-audit --no-fund --loglevel=error $(MCP_PACKAGE)
	$(BIN)/python -m pytest -p no:cacheprovider tests/test_e2e_clients.py

## ruff, mypy (strict for the core and the stores) and the import rules of pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(CLIENTS) build dist .pytest_cache .hypothesis .mypy_cache .ruff_cache .import_linter_cache

## Regenerate the dashboard screenshots in examples/dashboard/ (the browser tests write them).
screenshots: $(STAMP)
	EVOLINK_MOCK_SCREENSHOTS=examples/dashboard $(BIN)/python -m pytest -q tests/test_dashboard_browser.py

## Benchmarks (installs wrk, valgrind and Prism if missing); writes bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python bench/run.py

## This tree against commit REF in the same interleaved rounds (GET and POST CPU and instructions per request);
## writes bench/against-<commit>.md.
bench-against: $(STAMP)
	@test -n "$(REF)" || { echo "usage: make bench-against REF=<commit>" >&2; exit 2; }
	$(BIN)/python bench/against.py $(REF)
