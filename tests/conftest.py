"""Shared fixtures: a local (non-global) leadtrace handle with in-memory exporters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from _handles import active_handle
from leadtrace._runtime import Leadtrace


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    """An in-memory metric reader for the handle under test."""
    return InMemoryMetricReader()


@pytest.fixture
def handle(metric_reader: InMemoryMetricReader) -> Iterator[Leadtrace]:
    """A local strict-mode handle, active for the test; spans stay in memory."""
    yield from active_handle(metric_reader)


@pytest.fixture
def lenient(metric_reader: InMemoryMetricReader) -> Iterator[Leadtrace]:
    """A local lenient-mode handle (as in production), active for the test."""
    yield from active_handle(metric_reader, validation="lenient")
