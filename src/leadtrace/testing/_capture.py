"""In-memory capture: a local leadtrace setup with deterministic ids and clock, for one test."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    InMemoryMetricReader,
    Sum,
)
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator

from leadtrace import events
from leadtrace._runtime import Leadtrace, configure
from leadtrace.privacy import DEVELOPMENT_HASH_KEY
from leadtrace.quality import Contracts
from leadtrace.testing._journey import SpanSource
from leadtrace.testing._records import SpanRecord, from_readable

__all__ = ["Capture", "FrozenClock", "MetricPoint", "SequentialIdGenerator"]

DEFAULT_START = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
"""Where the capture's clock starts: a fixed instant, so timestamps repeat run after run."""


class FrozenClock:
    """A clock that stands still until told to move; pass it to ``events.set_clock``.

    Args:
        start: the first instant (timezone-aware).
    """

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start, e.g. tzinfo=timezone.utc")
        self._now = start

    def __call__(self) -> datetime:
        """The current instant."""
        return self._now

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by ``seconds``; return the new instant."""
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, instant: datetime) -> None:
        """Jump to ``instant`` (timezone-aware)."""
        if instant.tzinfo is None:
            raise ValueError("FrozenClock.set needs a timezone-aware datetime")
        self._now = instant


class SequentialIdGenerator(IdGenerator):
    """OpenTelemetry trace and span ids 1, 2, 3, ... so exported ids repeat run after run."""

    def __init__(self) -> None:
        self._spans = itertools.count(1)
        self._traces = itertools.count(1)
        self._lock = threading.Lock()

    def generate_span_id(self) -> int:
        """The next span id."""
        with self._lock:
            return next(self._spans)

    def generate_trace_id(self) -> int:
        """The next trace id."""
        with self._lock:
            return next(self._traces)


class _StartOrder(SpanProcessor):
    """Numbers spans as they start, so journeys read in start order whatever the clock."""

    def __init__(self) -> None:
        self.order: dict[int, int] = {}
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        with self._lock:
            self.order[span.context.span_id] = next(self._counter)

    def on_end(self, span: ReadableSpan) -> None:
        """Nothing to do at the end of a span."""

    def clear(self) -> None:
        with self._lock:
            self.order.clear()


@dataclass(frozen=True)
class MetricPoint:
    """One metric data point.

    Attributes:
        name: instrument name.
        attributes: point attributes.
        value: the sum or gauge value; the count of a histogram.
        sum: the histogram sum (None for sums and gauges).
    """

    name: str
    attributes: dict[str, Any]
    value: float
    sum: float | None = None


class Capture(SpanSource):
    """A local leadtrace setup that keeps spans and metrics in memory, for one test.

    It touches no global OpenTelemetry state. Inside :meth:`activate` (or ``with capture:``)
    the module-level API (``leadtrace.emit``, ``@leadtrace.stage``, ``leadtrace.journey``)
    uses it, event and journey ids are ``id-0001``, ``id-0002``, ..., trace and span ids
    count from 1, and timestamps come from :attr:`clock` (a :class:`FrozenClock`). Identity
    hashes use the public development key, so they repeat run after run too.

    Args:
        service_name: ``service.name`` of the captured spans.
        environment: deployment environment.
        validation: ``strict`` (raise on invalid events) or ``lenient`` (record them).
        contracts: a contracts YAML path or :class:`~leadtrace.quality.Contracts`; defaults
            to the built-in contracts.
        deterministic: False keeps random ids and the real clock.
        clock_start: the instant the clock starts at.
    """

    def __init__(
        self,
        *,
        service_name: str = "test-service",
        environment: str = "test",
        validation: str = "strict",
        contracts: str | Path | Contracts | None = None,
        deterministic: bool = True,
        clock_start: datetime = DEFAULT_START,
    ) -> None:
        self.metric_reader = InMemoryMetricReader()
        self.deterministic = deterministic
        self.clock = FrozenClock(clock_start)
        self._ids = itertools.count(1)
        path = None if contracts is None or isinstance(contracts, Contracts) else str(contracts)
        self.handle: Leadtrace = configure(
            service_name=service_name,
            environment=environment,
            validation=validation,
            contracts=path,
            hash_key=DEVELOPMENT_HASH_KEY,
            local=True,
            metric_readers=[self.metric_reader],
            id_generator=SequentialIdGenerator() if deterministic else None,
            environ={},
        )
        if isinstance(contracts, Contracts):
            self.handle.contracts = contracts
        self.contracts = self.handle.contracts
        self._order = _StartOrder()
        provider = self.handle.tracer_provider
        if isinstance(provider, SdkTracerProvider):
            provider.add_span_processor(self._order)

    def __repr__(self) -> str:
        return f"<Capture spans={len(self.handle.finished_spans())} journeys={self.journeys()}>"

    def new_id(self) -> str:
        """The next deterministic event / journey id: ``id-0001``, ``id-0002``, ..."""
        return f"id-{next(self._ids):04d}"

    @contextmanager
    def activate(self) -> Iterator[Capture]:
        """Route the module-level API to this capture and install its ids and clock."""
        if self.deterministic:
            events.set_id_factory(self.new_id)
            events.set_clock(self.clock)
        try:
            with self.handle.activate():
                yield self
        finally:
            if self.deterministic:
                events.set_id_factory(None)
                events.set_clock(None)

    def __enter__(self) -> Capture:
        self._activation = self.activate()
        return self._activation.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._activation.__exit__(exc_type, exc, tb)
        self.close()

    def close(self) -> None:
        """Shut the capture's providers down."""
        self.handle.shutdown()

    def records(self) -> list[SpanRecord]:
        """Every finished span, in the order the spans started."""
        order = self._order.order
        spans = self.handle.finished_spans()
        fallback = len(order)
        records = [
            from_readable(s, order.get(s.context.span_id, fallback + i) if s.context else i)
            for i, s in enumerate(spans)
        ]
        records.sort(key=lambda r: r.sequence)
        return records

    def reset(self) -> None:
        """Forget the spans captured so far (ids and clock carry on)."""
        self.handle.clear()
        self._order.clear()

    def metric_points(self, name: str) -> list[MetricPoint]:
        """Current data points of the metric ``name`` (cumulative since the capture began)."""
        data = self.metric_reader.get_metrics_data()
        points: list[MetricPoint] = []
        for resource_metrics in data.resource_metrics if data is not None else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name != name:
                        continue
                    if isinstance(metric.data, (Sum, Gauge)):
                        points.extend(
                            MetricPoint(name, dict(p.attributes or {}), float(p.value))
                            for p in metric.data.data_points
                        )
                    elif isinstance(metric.data, Histogram):
                        points.extend(
                            MetricPoint(name, dict(p.attributes or {}), float(p.count), p.sum)
                            for p in metric.data.data_points
                        )
        return points
