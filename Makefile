# The two commands of the quick start (`make demo`, `make test`) and a few more.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean screenshots

$(BIN)/python:
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

## Install and run the service on the embedded SQLite default with demo data.
demo: $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	$(BIN)/aggregator serve --demo

## Install the test extras (and Debian's Chromium for browser tests), lint, type-check, run every test.
test: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	bash scripts/install-browser.sh
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(BIN)/python
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/linkage.py --quick

clean:
	rm -rf $(VENV) aggregator.db* artifacts .pytest_cache .mypy_cache

## Refresh the README's screenshots from the last browser-test run.
screenshots:
	cp artifacts/screenshots/alert-inbox.png artifacts/screenshots/child-page.png \
	   artifacts/screenshots/review-queue.png artifacts/screenshots/alert-casework.png \
	   artifacts/screenshots/my-work.png docs/screenshots/
