# One command to run the console, one to run the tests; both create .venv and install into it.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test install install-dev headless bench clean

run: $(VENV)/.installed          ## install and start the console with demo panels
	$(BIN)/centinela --demo

headless: $(VENV)/.installed     ## the same receiver and workers with no UI
	$(BIN)/centinela --headless --demo

# python -m: the event writer's processes fork from a server that would otherwise re-run the
# pytest script (and import pytest) for each of the hundreds of stores the tests open.
test: $(VENV)/.installed-dev     ## install what the tests need and run the whole suite
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-bench  ## print the performance figures (not part of the tests)
	$(BIN)/python bench/ack_latency.py
	$(BIN)/python bench/receiver.py
	$(BIN)/python bench/console.py
	$(BIN)/python bench/billing.py
	$(BIN)/python bench/sync.py

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Centinela needs Python 3.11 or newer; set PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@ $(VENV)/.installed $(VENV)/.installed-dev

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
