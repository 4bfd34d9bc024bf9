"""Local leadtrace handles for fixtures (imported by the conftest modules)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import leadtrace
from leadtrace._runtime import Leadtrace
from leadtrace.context import JOURNEY_SPAN


def active_handle(metric_reader: InMemoryMetricReader, **settings: Any) -> Iterator[Leadtrace]:
    """A local test-environment handle reading into ``metric_reader``, active while the
    generator is suspended; shut down afterwards. ``settings`` go to ``configure()``."""
    h = leadtrace.configure(
        **{"service_name": "test-service", **settings},
        environment="test",
        local=True,
        metric_readers=[metric_reader],
        environ={},
    )
    with h.activate():
        yield h
    h.shutdown()


def event_spans(spans: Iterable[Any]) -> list[Any]:
    """``spans`` without the ``journey`` spans that journeys open (the spans under test)."""
    return [s for s in spans if s.name != JOURNEY_SPAN]
