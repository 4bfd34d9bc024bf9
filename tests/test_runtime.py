"""configure(): providers reused or created, once globally, local handles for tests."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import leadtrace
from leadtrace import _active, _runtime, _sdk, semconv
from leadtrace.errors import ConfigError

FAST_PATH = pytest.mark.skipif(
    not _sdk.PRIVATES, reason="a property of the SDK-fields fast path (privates off)"
)


@pytest.fixture
def clean_globals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reset leadtrace's and OpenTelemetry's global providers around a test, run in tmp_path
    (a global setup writes its default files, such as the consent audit log, there)."""
    monkeypatch.chdir(tmp_path)
    from opentelemetry import metrics
    from opentelemetry.metrics import _internal as metrics_internal
    from opentelemetry.trace import _TRACER_PROVIDER_SET_ONCE

    def reset() -> None:
        _runtime._reset_for_tests()
        trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
        _TRACER_PROVIDER_SET_ONCE._done = False  # type: ignore[attr-defined]
        metrics_internal._METER_PROVIDER = None  # type: ignore[attr-defined]
        metrics_internal._METER_PROVIDER_SET_ONCE._done = False  # type: ignore[attr-defined]

    reset()
    assert metrics.get_meter_provider() is not None
    yield
    handle = _active.global_handle()
    if handle is not None:
        handle.shutdown()
    reset()


@FAST_PATH
def test_reuses_the_apps_tracer_provider(clean_globals: None) -> None:
    """An app-installed SDK provider is kept; our processors (scrubbing too) run first."""
    exporter = InMemorySpanExporter()
    app_provider = TracerProvider()
    app_provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(app_provider)
    handle = leadtrace.configure(service_name="svc", environ={})
    assert handle.tracer_provider is app_provider
    with (
        leadtrace.journey(campaign=leadtrace.Campaign(id="c")),
        trace.get_tracer("app").start_as_current_span(
            "GET /", attributes={"url.query": "email=jane@example.com"}
        ),
    ):
        pass
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "GET /"]
    assert span.attributes[semconv.CAMPAIGN_ID] == "c"
    assert span.attributes["url.query"] == "email=[redacted]"


def test_second_configure_warns_and_changes_nothing(clean_globals: None, tmp_path: Path) -> None:
    """A second global configure() warns and returns the first handle."""
    first = leadtrace.configure(service_name="one", local_dir=str(tmp_path), environ={})
    with pytest.warns(RuntimeWarning, match="already called"):
        second = leadtrace.configure(service_name="two", environ={})
    assert second is first
    assert second.settings.service_name == "one"


def test_local_default_writes_readable_json_lines(clean_globals: None, tmp_path: Path) -> None:
    """Without an endpoint, spans land as JSON lines under local_dir."""
    handle = leadtrace.configure(service_name="svc", local_dir=str(tmp_path), environ={})
    with leadtrace.journey(campaign=leadtrace.Campaign(id="c")) as j:
        leadtrace.emit("form_viewed", form_id="demo")
    handle.force_flush()
    records = [json.loads(line) for line in (tmp_path / "spans.jsonl").read_text().splitlines()]
    assert [r["name"] for r in records] == ["form_viewed", "journey"]
    record = records[0]
    assert record["attributes"][semconv.JOURNEY_ID] == j.journey_id
    assert record["resource"]["service.name"] == "svc"
    assert record["resource"]["deployment.environment.name"] == "development"


def test_local_handle_touches_no_globals(clean_globals: None) -> None:
    """configure(local=True) leaves the global provider and handle alone."""
    before = trace.get_tracer_provider()
    handle = leadtrace.configure(service_name="svc", local=True, environ={})
    assert trace.get_tracer_provider() is before
    assert _active.global_handle() is None
    with handle.activate():
        leadtrace.emit("form_viewed", form_id="f")
    assert [s.name for s in handle.finished_spans()] == ["form_viewed"]
    handle.clear()
    assert handle.finished_spans() == []


def test_bad_setting_raises_config_error(clean_globals: None) -> None:
    """configure() is loud at setup."""
    with pytest.raises(ConfigError, match="protocol"):
        leadtrace.configure(service_name="svc", protocol="carrier-pigeon", environ={})


def test_finished_spans_needs_memory_exporter(clean_globals: None) -> None:
    """finished_spans() on a handle that exports elsewhere explains itself."""
    handle = leadtrace.configure(
        service_name="svc", local=True, span_exporters=[InMemorySpanExporter()], environ={}
    )
    with pytest.raises(ConfigError, match="finished_spans"):
        handle.finished_spans()


def test_unconfigured_runtime_reads_environment(
    clean_globals: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before configure(), the module-level API follows LEADTRACE_* variables."""
    monkeypatch.setenv("LEADTRACE_VALIDATION", "lenient")
    assert _runtime.current().settings.validation == "lenient"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert leadtrace.emit("lead_routed")  # invalid, but lenient: no exception


def test_activate_is_local_to_its_thread(clean_globals: None) -> None:
    """activate() in one thread does not route another thread's emit() to that handle."""
    import threading

    mine = leadtrace.configure(service_name="a", local=True, environ={})
    other_done = threading.Event()
    activated = threading.Event()

    def other_thread() -> None:
        activated.wait(timeout=5)
        leadtrace.emit("form_viewed", form_id="elsewhere")
        other_done.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with mine.activate():
        activated.set()
        assert other_done.wait(timeout=5)
        leadtrace.emit("form_viewed", form_id="here")
    thread.join(timeout=5)
    assert [s.attributes[semconv.FORM_ID] for s in mine.finished_spans()] == ["here"]
