# evolink-mock: `make serve` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -n 2

.PHONY: install serve test lint bench screenshots clean

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

## ruff, mypy (strict for the core and the stores) and the import rules of pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build dist .pytest_cache .hypothesis .mypy_cache .ruff_cache .import_linter_cache

## Regenerate the dashboard screenshots in examples/dashboard/ (the browser tests write them).
screenshots: $(STAMP)
	EVOLINK_MOCK_SCREENSHOTS=examples/dashboard $(BIN)/python -m pytest -q tests/test_dashboard_browser.py

## Benchmarks (installs wrk and Prism if missing); writes bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python bench/run.py
