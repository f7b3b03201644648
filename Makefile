# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHP := node_modules/.bin/configurable-http-proxy
# The browser tests drive Debian's chromium; CJK fonts render the zh-TW pages.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The second test environment: exactly the Python packages of the hub image of
# Zero-to-JupyterHub 4.4.0 (JupyterHub 5.5.0, KubeSpawner 7.0.0; psycopg2 left out,
# it builds against libpq), plus twcc-spawner and the test tools, none replacing a pin.
Z2JH ?= ../shared/z2jh
Z2JH_VENV := .venv-z2jh
ZBIN := $(Z2JH_VENV)/bin

.PHONY: demo test test-newest test-z2jh lint docs bench clean screenshots install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,docs,bench]'
	touch $@

$(ZBIN)/python:
	$(PYTHON) -m venv $(Z2JH_VENV)
	$(ZBIN)/pip install --quiet --upgrade pip

$(Z2JH)/hub-requirements.txt:
	@echo "$@ is missing: put the shared folder (with z2jh/) beside this clone" >&2; exit 1

$(Z2JH_VENV)/.installed: $(ZBIN)/python $(Z2JH)/hub-requirements.txt setup.cfg pyproject.toml
	grep -v '^psycopg2==' $(Z2JH)/hub-requirements.txt > $(Z2JH_VENV)/hub-pins.txt
	$(ZBIN)/pip install --quiet -r $(Z2JH_VENV)/hub-pins.txt
	$(ZBIN)/pip install --quiet --no-deps -e .
	$(ZBIN)/pip install --quiet -c $(Z2JH_VENV)/hub-pins.txt -e '.[test,bench]'
	$(ZBIN)/pip check
	touch $@

$(CHP): package.json
	npm install --no-audit --no-fund --silent
	touch $@

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-noto-cjk

install: $(VENV)/.installed $(Z2JH_VENV)/.installed $(CHP)

demo: install
	PATH="$(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m twcc_spawner.simulated.demo

lint: $(VENV)/.installed
	$(BIN)/ruff check twcc_spawner tests docs bench jupyterhub_config.py
	$(BIN)/ruff format --check twcc_spawner tests docs bench jupyterhub_config.py

# The suite in both environments: the newest releases (.venv, with the browser tests
# and the benchmark smoke run) and the chart's hub image packages (.venv-z2jh, with the
# chart's own hub).
test: install $(CHROMIUM) lint docs test-newest test-z2jh

test-newest: install $(CHROMIUM)
	PATH="$(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest \
		-m "not z2jh_hub" $(PYTEST_ARGS)

test-z2jh: install
	PATH="$(CURDIR)/node_modules/.bin:$(CURDIR)/$(ZBIN):$$PATH" $(ZBIN)/python -m pytest \
		-m "not browser and not bench" $(PYTEST_ARGS)

screenshots: install $(CHROMIUM)
	TWCC_SCREENSHOTS=$(CURDIR)/docs/images PATH="$(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$$PATH" \
		$(BIN)/python -m pytest -m browser -q

# TWCCSpawner against plain KubeSpawner; writes docs/benchmarks.md (BENCH_ARGS=--quick: smoke).
bench: install
	PATH="$(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench $(BENCH_ARGS)

docs: $(VENV)/.installed
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) $(Z2JH_VENV) node_modules docs/_build
