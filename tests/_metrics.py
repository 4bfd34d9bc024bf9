"""Reading metric points in tests (imported by the test modules)."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader

Points = dict[tuple[tuple[str, Any], ...], int]


def counter_points(reader: InMemoryMetricReader, name: str) -> Points:
    """Current value of each data point of counter ``name``, keyed by sorted attributes."""
    data = reader.get_metrics_data()
    points: Points = {}
    if data is None:
        return points
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    for p in metric.data.data_points:
                        points[tuple(sorted(p.attributes.items()))] = p.value
    return points
