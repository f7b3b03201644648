# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHP := node_modules/.bin/configurable-http-proxy
# The browser tests drive Debian's chromium; CJK fonts render the zh-TW pages.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint docs bench clean screenshots install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,docs,bench]'
	touch $@

$(CHP): package.json
	npm install --no-audit --no-fund --silent
	touch $@

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-noto-cjk

install: $(VENV)/.installed $(CHP)

demo: install
	PATH="$(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m twcc_spawner.simulated.demo

lint: $(VENV)/.installed
	$(BIN)/ruff check twcc_spawner tests docs bench jupyterhub_config.py
	$(BIN)/ruff format --check twcc_spawner tests docs bench jupyterhub_config.py

test: install $(CHROMIUM) lint docs
	PATH="$(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

screenshots: install $(CHROMIUM)
	TWCC_SCREENSHOTS=$(CURDIR)/docs/images PATH="$(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$$PATH" \
		$(BIN)/python -m pytest -m browser -q

# TWCCSpawner against plain KubeSpawner; writes docs/benchmarks.md (BENCH_ARGS=--quick: smoke).
bench: install
	PATH="$(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench $(BENCH_ARGS)

docs: $(VENV)/.installed
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) node_modules docs/_build
