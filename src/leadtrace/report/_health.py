"""The health report: what recorded journeys say about a campaign's signal.

Built from finished spans (:class:`~leadtrace.testing.SpanRecord`, from the local store or an
OTLP receiver), with the same verdicts the journey assertions use: a journey is broken at its
first stage with a problem (a failed step, a schema violation, a bad business outcome, a
contract's missing field), and that stage's layer is where it broke.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from leadtrace import semconv
from leadtrace.events import CANONICAL_EVENTS
from leadtrace.quality import Contracts, load_contracts
from leadtrace.testing._journey import Failure, problem_of
from leadtrace.testing._records import SpanRecord

__all__ = [
    "CONSENT_CHECKPOINTS",
    "FUNNEL",
    "Breakage",
    "HealthReport",
    "JourneySummary",
    "Ratio",
    "build_report",
]

FUNNEL: tuple[str, ...] = tuple(cls.event_name for cls in CANONICAL_EVENTS)
"""Canonical stages in revenue-path order: the funnel's steps."""

CONSENT_CHECKPOINTS: tuple[tuple[str, str], ...] = (
    ("submission", "form_submitted"),
    ("routing", "lead_routed"),
    ("first sales contact", "sales_acknowledged"),
)
"""Where consent must be valid, and the stage that stands for each checkpoint."""

ROUTING_SLO_S = 300.0
"""Routing within 300 s of journey start (the domain brief's routing-latency SLO)."""


@dataclass(frozen=True)
class Ratio:
    """A share of good events: ``good`` out of ``total``."""

    good: int
    total: int

    @property
    def value(self) -> float | None:
        """``good / total``, or None when nothing counted."""
        return self.good / self.total if self.total else None


@dataclass(frozen=True)
class JourneySummary:
    """One journey as the report sees it."""

    journey_id: str
    stages: tuple[str, ...]
    """Stages that arrived, in the order they started."""
    campaign_id: str | None
    channel: str | None
    synthetic: bool
    started_ns: int
    failure: Failure | None
    """The first stage with a problem; None for a healthy journey."""

    @property
    def healthy(self) -> bool:
        """Whether no stage of the journey has a problem."""
        return self.failure is None


@dataclass(frozen=True)
class Breakage:
    """Journeys that broke the same way: same layer, stage and problem."""

    layer: str
    stage: str
    problem: str
    journeys: int
    example: str
    """One journey id to look at (``leadtrace journey ID``)."""
    detail: str
    """What arrived at that stage in the example journey."""


@dataclass(frozen=True)
class HealthReport:
    """Everything the text and HTML reports show."""

    journeys: tuple[JourneySummary, ...]
    funnel: tuple[tuple[str, int], ...]
    """(stage, journeys that reached it), in revenue-path order."""
    breakages: tuple[Breakage, ...]
    """Broken journeys grouped by where and why, most common first."""
    routing_latency_s: tuple[float, ...]
    """Seconds from journey start to routing, one per routed journey."""
    consent: tuple[tuple[str, Ratio], ...]
    """Consent validity at each checkpoint: stage spans whose consent was granted."""
    layers: tuple[tuple[str, int], ...] = field(default=())
    """(layer, broken journeys), every layer listed."""

    @property
    def broken(self) -> int:
        """Journeys with a problem."""
        return sum(1 for j in self.journeys if not j.healthy)

    def routing_percentile(self, q: float) -> float | None:
        """The ``q`` quantile (0-1) of routing latency in seconds, None with no routing."""
        values = sorted(self.routing_latency_s)
        if not values:
            return None
        if len(values) == 1:
            return values[0]
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        return cuts[min(98, max(0, round(q * 100) - 1))]

    @property
    def routing_within_slo(self) -> Ratio:
        """Routed journeys routed within :data:`ROUTING_SLO_S` of their start."""
        values = self.routing_latency_s
        return Ratio(sum(1 for v in values if v <= ROUTING_SLO_S), len(values))


def elapsed_s(record: SpanRecord) -> float | None:
    """Seconds from the journey's start to this span: ``martech.journey.elapsed`` (emit), or
    the span's start against ``martech.journey.started_at`` (stage spans)."""
    elapsed = record.attributes.get(semconv.JOURNEY_ELAPSED)
    if isinstance(elapsed, (int, float)):
        return float(elapsed)
    started = record.attributes.get(semconv.JOURNEY_STARTED_AT)
    if not isinstance(started, str):
        return None
    try:
        start = datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, record.start_ns / 1e9 - start.timestamp())


def _journeys(records: Iterable[SpanRecord]) -> dict[str, list[SpanRecord]]:
    by_journey: dict[str, list[SpanRecord]] = defaultdict(list)
    for record in records:
        journey_id = record.journey_id
        if journey_id and record.stage:
            by_journey[journey_id].append(record)
    return by_journey


def _summary(journey_id: str, spans: Sequence[SpanRecord], contracts: Contracts) -> JourneySummary:
    ordered = sorted(spans, key=lambda r: (r.start_ns, r.sequence))
    failure = next((f for f in (problem_of(r, contracts) for r in ordered) if f), None)
    first = ordered[0]
    campaign = next((r.attributes.get(semconv.CAMPAIGN_ID) for r in ordered if
                     r.attributes.get(semconv.CAMPAIGN_ID)), None)  # fmt: skip
    channel = next((r.attributes.get(semconv.CAMPAIGN_CHANNEL) for r in ordered if
                    r.attributes.get(semconv.CAMPAIGN_CHANNEL)), None)  # fmt: skip
    return JourneySummary(
        journey_id=journey_id,
        stages=tuple(str(r.stage) for r in ordered),
        campaign_id=str(campaign) if campaign else None,
        channel=str(channel) if channel else None,
        synthetic=any(r.attributes.get(semconv.JOURNEY_SYNTHETIC) is True for r in ordered),
        started_ns=first.start_ns,
        failure=failure,
    )


def build_report(
    records: Iterable[SpanRecord],
    *,
    contracts: Contracts | None = None,
    include_synthetic: bool = True,
) -> HealthReport:
    """Summarise finished spans into a :class:`HealthReport`.

    Args:
        records: finished spans of any services; only stage spans inside a journey count.
        contracts: the data contracts to judge completeness by (the built-in ones by default).
        include_synthetic: False leaves synthetic (test) journeys out, as business reports do.
    """
    contracts = contracts or load_contracts(None)
    by_journey = _journeys(records)
    summaries = [_summary(j, spans, contracts) for j, spans in by_journey.items()]
    if not include_synthetic:
        summaries = [s for s in summaries if not s.synthetic]
    kept = {s.journey_id for s in summaries}
    summaries.sort(key=lambda s: s.started_ns)

    reached: Counter[str] = Counter()
    for summary in summaries:
        reached.update(set(summary.stages))

    groups: dict[tuple[str, str, str], list[JourneySummary]] = defaultdict(list)
    for summary in summaries:
        if summary.failure is not None:
            f = summary.failure
            groups[(f.layer, f.stage, f.problem)].append(summary)
    breakages = [
        Breakage(
            layer=layer,
            stage=stage,
            problem=problem,
            journeys=len(members),
            example=members[0].journey_id,
            detail=members[0].failure.arrived if members[0].failure else "",
        )
        for (layer, stage, problem), members in groups.items()
    ]
    breakages.sort(key=lambda b: (-b.journeys, b.layer, b.stage))
    per_layer = Counter(b.layer for b in breakages for _ in range(b.journeys))

    latency: list[float] = []
    consent: dict[str, list[bool]] = {name: [] for name, _ in CONSENT_CHECKPOINTS}
    checkpoint_of = {stage: name for name, stage in CONSENT_CHECKPOINTS}
    for journey_id, spans in by_journey.items():
        if journey_id not in kept:
            continue
        for record in spans:
            if record.stage == "lead_routed":
                elapsed = elapsed_s(record)
                if elapsed is not None:
                    latency.append(elapsed)
            checkpoint = checkpoint_of.get(record.stage or "")
            if checkpoint is not None:
                status = record.attributes.get(semconv.CONSENT_STATUS)
                consent[checkpoint].append(status == semconv.CONSENT_STATUS_GRANTED)

    return HealthReport(
        journeys=tuple(summaries),
        funnel=tuple((stage, reached[stage]) for stage in FUNNEL),
        breakages=tuple(breakages),
        routing_latency_s=tuple(latency),
        consent=tuple((name, Ratio(sum(values), len(values))) for name, values in consent.items()),
        layers=tuple((layer, per_layer[layer]) for layer in semconv.LAYERS),
    )
