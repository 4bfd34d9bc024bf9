"""Shared fixtures: a local (non-global) leadtrace handle with in-memory exporters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import leadtrace
from leadtrace._runtime import Leadtrace


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    """An in-memory metric reader for the handle under test."""
    return InMemoryMetricReader()


@pytest.fixture
def handle(metric_reader: InMemoryMetricReader) -> Iterator[Leadtrace]:
    """A local strict-mode handle, active for the test; spans stay in memory."""
    h = leadtrace.configure(
        service_name="test-service",
        environment="test",
        local=True,
        metric_readers=[metric_reader],
        environ={},
    )
    with h.activate():
        yield h
    h.shutdown()


@pytest.fixture
def lenient(metric_reader: InMemoryMetricReader) -> Iterator[Leadtrace]:
    """A local lenient-mode handle (as in production), active for the test."""
    h = leadtrace.configure(
        service_name="test-service",
        environment="test",
        validation="lenient",
        local=True,
        metric_readers=[metric_reader],
        environ={},
    )
    with h.activate():
        yield h
    h.shutdown()
