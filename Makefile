# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: test demo bench lint typecheck docs dist clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.dev-installed: $(BIN)/python pyproject.toml
	$(PIP) install -q -e '.[dev]'
	touch $@

$(VENV)/.demo-installed: $(BIN)/python pyproject.toml
	$(PIP) install -q -e '.[demo]'
	touch $@

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

demo: $(VENV)/.demo-installed
	$(BIN)/leadtrace demo

bench: $(VENV)/.dev-installed
	$(BIN)/python -m benchmarks

docs: $(VENV)/.dev-installed
	$(BIN)/python -m leadtrace._docgen

dist: $(BIN)/python
	$(PIP) wheel -q --no-deps -w dist .
	@ls dist/*.whl

clean:
	rm -rf $(VENV) .leadtrace build dist
