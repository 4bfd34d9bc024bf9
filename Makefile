# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: test test-otel-lowest demo bench lint typecheck docs dist clean

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

# The core suites on the lowest OpenTelemetry release leadtrace supports (pyproject.toml's
# range; docs/compatibility.md). The web, vendor and dashboard suites need newer
# instrumentation packages and run in `make test` on the newest release.
OTEL_LOWEST := 1.30.0
LOWEST      := .venv-otel-lowest
LOWEST_TESTS := tests/test_sdk_adapter.py tests/test_spanattrs.py tests/test_scrubbing.py \
	tests/test_scrubbing_cache.py tests/test_no_pii_export.py tests/test_emit.py \
	tests/test_emit_attributes_after_start.py tests/test_stage.py tests/test_trace_model.py \
	tests/test_privacy.py tests/test_context.py tests/test_runtime.py tests/test_export.py \
	tests/test_export_encodable.py tests/test_spool.py tests/test_events.py \
	tests/test_consent.py tests/test_audit.py tests/test_metrics.py tests/test_sampling.py \
	tests/test_unconfigured.py tests/test_propagation_boundary.py

$(LOWEST)/.installed: pyproject.toml
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install -q --upgrade pip
	$(LOWEST)/bin/python -m pip install -q -e '.[testing,yaml,cli,slo]' pytest pytest-asyncio \
		hypothesis httpx requests opentelemetry-api==$(OTEL_LOWEST) opentelemetry-sdk==$(OTEL_LOWEST) \
		opentelemetry-exporter-otlp==$(OTEL_LOWEST)
	touch $@

test-otel-lowest: $(LOWEST)/.installed
	$(LOWEST)/bin/python -c "import opentelemetry.sdk.version as v; print('opentelemetry-sdk', v.__version__)"
	$(LOWEST)/bin/python -m pytest -q $(LOWEST_TESTS)

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
	rm -rf $(VENV) $(LOWEST) .leadtrace build dist
