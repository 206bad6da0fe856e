# The two commands at the top of the README: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NODE := scripts/opensearch-local

.PHONY: install test test-unit test-faults lint demo bench node-start node-stop clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

lint: install
	$(BIN)/ruff check .

# Unit and integration tests on a real OpenSearch node (started by tests/conftest.py).
test: install lint
	$(BIN)/pytest -m "not faults"

test-unit: install
	$(BIN)/pytest -m "not integration and not faults"

test-faults: install
	$(BIN)/pytest -m faults

demo: install
	$(BIN)/python scripts/demo.py

bench: install
	$(BIN)/python bench/run.py

node-start:
	$(NODE) start

node-stop:
	$(NODE) stop

clean:
	-$(NODE) stop
	rm -rf $(VENV) .pytest_cache .ruff_cache
