# The two commands at the top of the README: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NODE := scripts/opensearch-local

.PHONY: install system-deps test test-unit test-faults lint demo bench profile node-start node-stop clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev,aws]'
	touch $@

# nginx (a TLS-terminating proxy with basic auth for the secure-connection tests) and openssl;
# chromium and chromium-driver (the search page's test in a headless browser, driven by Selenium
# through Debian's chromedriver, so nothing is downloaded at test time).
SYSTEM_PACKAGES := nginx-light openssl chromium chromium-driver
system-deps:
	@command -v nginx >/dev/null && command -v openssl >/dev/null \
	  && command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q $(SYSTEM_PACKAGES); \
	  else echo "install them: apt-get install $(SYSTEM_PACKAGES)" >&2; exit 1; fi; }

lint: install
	$(BIN)/ruff check .

# Unit and integration tests on a real OpenSearch node (started by tests/conftest.py).
test: install system-deps lint
	$(BIN)/pytest -m "not faults"

test-unit: install
	$(BIN)/pytest -m "not integration and not faults"

test-faults: install
	$(BIN)/pytest -m faults tests/faults

demo: install
	$(BIN)/python scripts/demo.py

bench: install
	$(BIN)/pip install -q -e '.[dev,aws,bench]'
	$(BIN)/python bench/json_choice.py
	$(BIN)/python bench/run.py
	$(BIN)/python bench/resync_bench.py
	$(BIN)/python bench/search_cost.py
	$(BIN)/python bench/search_bench.py
	$(BIN)/python bench/serve_bench.py
	$(BIN)/python bench/alerts_bench.py

# The indexer's CPU per job by stage (decode, transform, encode) in about 30 s, with a profile.
profile: install
	$(BIN)/pip install -q -e '.[dev,aws,bench]'
	$(BIN)/python bench/profile_transform.py --profile

node-start:
	$(NODE) start

node-stop:
	$(NODE) stop

clean:
	-$(NODE) stop
	rm -rf $(VENV) .pytest_cache .ruff_cache
