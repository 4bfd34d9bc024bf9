"""leadtrace.describe(): what the setup records and where it goes, as a newcomer reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

import leadtrace
from leadtrace import _active


def test_a_local_handle_says_spans_stay_in_memory() -> None:
    """A configure(local=True) handle keeps spans in memory and writes no audit log."""
    handle = leadtrace.configure(service_name="svc", environment="test", local=True, environ={})
    with handle.activate():
        text = leadtrace.describe()
    assert text.splitlines()[0] == (
        "leadtrace 0.1.0: service 'svc', environment 'test', validation strict"
    )
    assert "spans:    kept in memory" in text
    assert "consent:  audit log off" in text
    assert "public development key" in text


def test_an_endpoint_names_the_collector(tmp_path: Path) -> None:
    """With an OTLP endpoint, spans and metrics are said to go there."""
    handle = leadtrace.configure(
        service_name="svc",
        endpoint="http://127.0.0.1:4318",
        consent_audit_log=str(tmp_path / "audit.jsonl"),
        hash_key="k" * 32,
        local=True,
        environ={},
    )
    with handle.activate():
        text = leadtrace.describe()
    handle.shutdown()
    assert "spans:    over OTLP (http/protobuf) to http://127.0.0.1:4318" in text
    assert "metrics:  over OTLP to http://127.0.0.1:4318" in text
    assert f"consent:  audit log {tmp_path / 'audit.jsonl'}" in text
    assert "hashed with your LEADTRACE_HASH_KEY" in text


def test_an_apps_own_provider_is_named() -> None:
    """A reused application TracerProvider is where spans go."""
    handle = leadtrace.configure(
        service_name="svc", local=True, tracer_provider=TracerProvider(), environ={}
    )
    with handle.activate():
        assert "spans:    to the exporters of the application's own TracerProvider" in (
            leadtrace.describe()
        )


def test_before_configure_it_says_nothing_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no configure() and no SDK, describe() names the fix instead of a destination."""
    monkeypatch.setattr(_active, "_unconfigured", None)
    monkeypatch.setattr(_active, "_global", None)
    assert "spans:    recorded nowhere: call leadtrace.configure()" in leadtrace.describe()
