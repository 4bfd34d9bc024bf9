"""SLIs over recorded journeys, from the same SLI file the in-process counters and the
Prometheus rules use (``leadtrace/default_slis.yaml`` or yours)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from leadtrace import semconv
from leadtrace.report._health import Ratio, elapsed_s
from leadtrace.report._status import SliStatus
from leadtrace.testing._records import SpanRecord

if TYPE_CHECKING:
    from leadtrace.slo.spec import SliFile

__all__ = ["GROUPS", "file_slis", "grouped_slis"]

GROUPS = {"campaign": semconv.CAMPAIGN_ID, "channel": semconv.CAMPAIGN_CHANNEL}
"""What ``leadtrace report --by`` can split the SLIs by, and the attribute each reads."""


def file_slis(records: Iterable[SpanRecord], slis: SliFile) -> list[SliStatus]:
    """Each SLI of ``slis`` counted over the stage spans in ``records``: an event counts
    toward an SLI of its stage when its ``where`` holds, and is good when its ``good`` does.

    Synthetic journeys are left out when the file says ``exclude_synthetic``. A stage span
    without ``martech.journey.elapsed`` (a ``@stage`` span) gets it from its start time. A
    failed stage (``martech.failure.layer``) is never good and not counted by every-event
    SLIs, as the in-process counters do.
    """
    checks = [
        (
            sli,
            "*" in sli.events,
            frozenset(sli.events),
            [p.compile() for p in sli.where],
            [p.compile() for p in sli.good],
        )
        for sli in slis.slis
    ]
    counts = {sli.name: [0, 0] for sli in slis.slis}
    for record in records:
        stage = record.stage
        if not stage or not record.journey_id:
            continue
        attributes = record.attributes
        if slis.exclude_synthetic and attributes.get(semconv.JOURNEY_SYNTHETIC) is True:
            continue
        if semconv.JOURNEY_ELAPSED not in attributes:
            elapsed = elapsed_s(record)
            if elapsed is not None:
                attributes = {**attributes, semconv.JOURNEY_ELAPSED: elapsed}
        failed = attributes.get(semconv.FAILURE_LAYER) is not None
        for sli, every, events, where, good in checks:
            if failed and every:
                continue  # a stage that raised validated no event
            if not (every or stage in events) or not all(check(attributes) for check in where):
                continue
            tally = counts[sli.name]
            tally[1] += 1
            if not failed and all(check(attributes) for check in good):
                tally[0] += 1
    return [SliStatus(sli.name, Ratio(*counts[sli.name]), sli.objective / 100) for sli in slis.slis]


def grouped_slis(
    records: Iterable[SpanRecord], slis: SliFile, by: str
) -> dict[str, list[SliStatus]]:
    """:func:`file_slis` per campaign id or channel (``by`` is a key of :data:`GROUPS`);
    stage events without one are grouped under ``(none)``."""
    key = GROUPS[by]
    groups: dict[str, list[SpanRecord]] = {}
    for record in records:
        if not record.stage:
            continue
        value = record.attributes.get(key)
        groups.setdefault(str(value) if value else "(none)", []).append(record)
    return {name: file_slis(members, slis) for name, members in sorted(groups.items())}
