"""SLI metrics: every emitted event evaluated once against the SLIs, counted good / total.

:class:`SliRecorder` is an event hook (``handle.on_event``) that ``configure()`` installs with
the built-in SLIs (:mod:`leadtrace.slo.spec`). For each event it evaluates the SLIs that
count that stage, once, before any sampling decision matters (the hook runs whether or not
the span is recorded), so SLIs stay exact when traces are sampled. It exports:

``martech.sli.events`` (counter, ``{event}``)
    Events that counted toward an SLI. Prometheus: ``martech_sli_events_total``.
``martech.sli.good_events`` (counter, ``{event}``)
    Those that were good. Prometheus: ``martech_sli_good_events_total``.
``martech.journey.latency`` (histogram, ``s``)
    Seconds from journey start to each stage event; explicit buckets that include every SLO
    latency threshold. Prometheus: ``martech_journey_latency_seconds_bucket{le="300.0"}`` ...

Attributes are bounded: ``martech.sli.name``, ``martech.journey.stage``,
``martech.campaign.channel``, ``martech.form.version``, ``martech.routing.territory``
(region), ``martech.integration``, ``martech.journey.synthetic`` (``"true"`` / ``"false"``)
and ``martech.campaign.id``. Each value set is capped (campaigns at 100 by default); values
past the cap become ``_other`` and are counted in ``leadtrace.metrics.overflow``.

Cost on the caller: the predicates and one append to a lock-free queue. The queue is folded
into the cumulative counts when a metric reader collects (the counters are observable), or
on the caller's thread when it holds ``max_pending`` events, so nothing is lost when no
reader collects for a while.

Owns: SLI counting on OTel instruments: the event hook and the latency histogram.

May import: ``errors``, ``semconv`` and ``slo`` (the SLI file's model); the runtime installs it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Meter, Observation

from leadtrace import semconv
from leadtrace.errors import ConfigError
from leadtrace.slo.spec import ALL_EVENTS, Check, Sli, SliFile, load_slis

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.view import View

    from leadtrace._runtime import Leadtrace
    from leadtrace.events import Event

__all__ = [
    "DEFAULT_LATENCY_BUCKETS",
    "INTEGRATION",
    "LABEL_KEYS",
    "OVERFLOW",
    "SLI_NAME",
    "SliRecorder",
    "install_sli_metrics",
    "latency_buckets",
    "latency_view",
    "recorder_of",
    "use_slis",
]

_log = logging.getLogger("leadtrace")

SLI_EVENTS: Final = "martech.sli.events"
"""Counter of events that counted toward an SLI (``martech_sli_events_total``)."""
SLI_GOOD_EVENTS: Final = "martech.sli.good_events"
"""Counter of good events (``martech_sli_good_events_total``)."""
JOURNEY_LATENCY: Final = "martech.journey.latency"
"""Histogram: seconds from journey start to a stage event (``martech_journey_latency_seconds``)."""
OUTCOMES: Final = "martech.outcomes"
"""Counter of stage outcomes (``martech_outcomes_total``): dedupe results, identity matches
and identity keys dropped for lack of consent, by :data:`OUTCOME_KIND` and :data:`OUTCOME_VALUE`."""
OUTCOME_KIND: Final = "martech.outcome.kind"
"""Metric attribute: ``dedupe``, ``identity_match`` or ``consent_dropped_identity``."""
OUTCOME_VALUE: Final = "martech.outcome.value"
"""Metric attribute: the outcome, e.g. ``duplicate``, ``ambiguous``, ``true``."""
OVERFLOW_COUNTER: Final = "leadtrace.metrics.overflow"
"""Counter of metric attribute values replaced by :data:`OVERFLOW` (the cardinality cap)."""

SLI_NAME: Final = "martech.sli.name"
"""Metric attribute: the SLI an event counted toward."""
INTEGRATION: Final = "martech.integration"
"""Metric attribute: the integration behind an event (source system, CRM or enrichment vendor)."""
OVERFLOW: Final = "_other"
"""Value that replaces attribute values past the cardinality cap."""

LABEL_KEYS: Final = (
    semconv.JOURNEY_STAGE,
    semconv.CAMPAIGN_CHANNEL,
    semconv.FORM_VERSION,
    semconv.ROUTING_TERRITORY,
    INTEGRATION,
    semconv.CAMPAIGN_ID,
    semconv.JOURNEY_SYNTHETIC,
)
"""Metric attributes taken from each event, in this order (``martech.sli.name`` comes first)."""

DEFAULT_LATENCY_BUCKETS: Final = (
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0, 86400.0,
)  # fmt: skip
"""Journey latency boundaries in seconds; SLO thresholds are added to them."""

_OUTCOME_KEYS = (
    semconv.JOURNEY_STAGE,
    OUTCOME_KIND,
    OUTCOME_VALUE,
    INTEGRATION,
    semconv.JOURNEY_SYNTHETIC,
)
_EMPTY = (None, "", ())

Labels = tuple[str, ...]
_Pending = tuple[str, "_Plan", tuple[Any, ...]]


def latency_buckets(slis: SliFile | None = None) -> tuple[float, ...]:
    """Histogram boundaries: the defaults plus every latency threshold of ``slis``."""
    extra = slis.latency_bounds() if slis is not None else []
    return tuple(sorted({*DEFAULT_LATENCY_BUCKETS, *(float(b) for b in extra)}))


def latency_view(slis: SliFile | None = None) -> View:
    """A View for your own ``MeterProvider`` that keeps the SLO thresholds as boundaries.

    leadtrace already asks for these boundaries on the instrument; pass this View when your
    provider has other Views that would override that advice.
    """
    from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View

    return View(
        instrument_name=JOURNEY_LATENCY,
        aggregation=ExplicitBucketHistogramAggregation(list(latency_buckets(slis))),
    )


class _Cap:
    """Distinct values of one attribute, capped; later new values become :data:`OVERFLOW`."""

    __slots__ = ("key", "limit", "seen")

    def __init__(self, key: str, limit: int) -> None:
        self.key = key
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, value: Any, overflowed: Callable[[str], None]) -> str:
        if value in _EMPTY:
            return ""
        text = (value if isinstance(value, str) else str(value).lower())[:128]
        if text in self.seen:
            return text
        if len(self.seen) >= self.limit:
            overflowed(self.key)
            return OVERFLOW
        self.seen.add(text)
        return text


_Compiled = tuple[str, "Check | None", Check, frozenset[str]]
"""An SLI ready to evaluate: name, ``where`` (None: every event), ``good``, keys they read."""
_Plan = tuple[tuple[_Compiled, ...], tuple[str, ...]]

_CAPTURED: Final = (
    semconv.CAMPAIGN_CHANNEL,
    semconv.FORM_VERSION,
    semconv.ROUTING_TERRITORY,
    semconv.EVENT_SOURCE_SYSTEM,
    semconv.CRM_SYSTEM,
    semconv.ENRICHMENT_PROVIDER,
    semconv.CAMPAIGN_ID,
    semconv.JOURNEY_SYNTHETIC,
    semconv.JOURNEY_ELAPSED,
    semconv.LEAD_DEDUPE_OUTCOME,
    semconv.IDENTITY_MATCH,
    semconv.CONSENT_DROPPED_REASON,
    semconv.FAILURE_LAYER,
)
"""Attributes captured from every event, in this order, before the SLIs' own keys."""


def _compile(sli: Sli) -> _Compiled:
    where = _all(p.compile() for p in sli.where)
    good = _all(p.compile() for p in sli.good)
    assert good is not None  # an SLI has at least one good predicate
    keys = frozenset().union(*(p.keys() for p in (*sli.where, *sli.good)))
    return (sli.name, where, good, keys)


def _all(checks: Iterable[Check]) -> Check | None:
    listed = tuple(checks)
    if not listed:
        return None
    if len(listed) == 1:
        return listed[0]

    def every(attributes: Mapping[str, Any]) -> bool:
        for check in listed:  # noqa: SIM110 - cheaper than all() over a generator, per event
            if not check(attributes):
                return False
        return True

    return every


class SliRecorder:
    """Event hook that counts SLIs good / total and records journey latency.

    Args:
        meter: meter for the instruments.
        slis: the SLI definitions (built-in defaults when None).
        campaign_limit: distinct ``martech.campaign.id`` values before :data:`OVERFLOW`.
        value_limit: distinct values of every other attribute before :data:`OVERFLOW`.
        max_pending: events queued before the caller folds them in itself.
    """

    def __init__(
        self,
        meter: Meter,
        slis: SliFile | None = None,
        *,
        campaign_limit: int = 100,
        value_limit: int = 50,
        max_pending: int = 65_536,
    ) -> None:
        self._meter = meter
        self._pending: deque[_Pending] = deque()
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, Labels], list[int]] = {}
        self._fresh: dict[tuple[str, Labels], list[int]] = {}
        self._bounded: dict[tuple[Any, ...], Labels] = {}
        self._outcomes: dict[tuple[str, ...], int] = {}
        self._outcome_cap = _Cap(OUTCOME_VALUE, value_limit)
        self._shown: list[tuple[str, Labels]] = []
        self._snapshot: list[tuple[dict[str, str], int, int]] = []
        self._generation = 0
        self._consumed = [0, 0]
        self._attributes: dict[tuple[str, Labels], dict[str, str]] = {}
        self._caps = tuple(
            _Cap(key, campaign_limit if key == semconv.CAMPAIGN_ID else value_limit)
            for key in LABEL_KEYS[1:-1]
        )
        self._latency: Histogram | None = None
        self._buckets: tuple[float, ...] = ()
        self._overflow: Counter = meter.create_counter(
            OVERFLOW_COUNTER,
            unit="{value}",
            description="Metric attribute values replaced by '_other' (cardinality cap reached).",
        )
        meter.create_observable_counter(
            SLI_EVENTS,
            callbacks=[self._observe_total],
            unit="{event}",
            description="Events that counted toward an SLI (before any trace sampling).",
        )
        meter.create_observable_counter(
            OUTCOMES,
            callbacks=[self._observe_outcomes],
            unit="{event}",
            description="Stage outcomes sales cares about: dedupe, identity match, identity "
            "keys dropped for lack of consent.",
        )
        meter.create_observable_counter(
            SLI_GOOD_EVENTS,
            callbacks=[self._observe_good],
            unit="{event}",
            description="Events that counted toward an SLI and met its predicate.",
        )
        self.slis: SliFile = load_slis() if slis is None else slis
        self._table: dict[str, tuple[_Compiled, ...]] = {}
        self._plans: dict[str, _Plan] = {}
        self.use(self.slis)

    def use(self, slis: SliFile) -> None:
        """Count ``slis`` from now on (series of earlier SLIs keep their last value).

        Raises:
            ConfigError: a latency threshold is not a bucket boundary of the latency
                histogram, which was created by an earlier event; call this before any event.
        """
        buckets = latency_buckets(slis)
        if self._latency is not None and not set(buckets) <= set(self._buckets):
            raise ConfigError(
                "use_slis(): the latency thresholds "
                f"{sorted(set(buckets) - set(self._buckets))} arrived after the latency "
                "histogram was created; call use_slis() right after configure()"
            )
        if self._latency is None:
            self._buckets = buckets
        compiled = tuple(_compile(sli) for sli in slis.slis)
        table: dict[str, list[_Compiled]] = {}
        pairs = list(zip(compiled, slis.slis, strict=True))
        wildcard = [c for c, sli in pairs if ALL_EVENTS in sli.events]
        for c, sli in pairs:
            for name in sli.events:
                if name != ALL_EVENTS:
                    table.setdefault(name, []).append(c)
        self._wildcard = tuple(wildcard)
        self._table = {name: (*found, *self._wildcard) for name, found in table.items()}
        self._plans = {}
        self.slis = slis
        self._prime(slis)

    def _prime(self, slis: SliFile) -> None:
        """Create every SLI's series at zero, so ``absent()`` means a broken pipeline.

        One series per SLI and stage it names; an SLI of every event (``"*"``) gets one
        series without a stage.
        """
        with self._lock:
            for sli in slis.slis:
                for stage in sli.events:
                    labels = ("" if stage == ALL_EVENTS else stage, "", "", "", "", "", "false")
                    self._counts.setdefault((sli.name, labels), [0, 0])

    def _plan(self, stage: str) -> _Plan:
        """What to capture for events of ``stage``: its SLIs and the attribute keys to keep."""
        checks = self._table.get(stage, self._wildcard)
        needed = sorted(frozenset().union(*(keys for *_, keys in checks)) - set(_CAPTURED))
        plan = (checks, (*_CAPTURED, *needed))
        if len(self._plans) < 1024:  # stage names come from the app; keep this bounded
            self._plans[stage] = plan
        return plan

    def _overflowed(self, key: str) -> None:
        self._overflow.add(1, {"attribute": key})

    def __call__(self, event: Event, attributes: Mapping[str, Any]) -> None:
        """Capture the values this event's SLIs, labels and latency need, and queue them.

        The caller pays for one lookup and one C-level copy of a few values; the SLIs are
        evaluated on those values when the queue is folded (same result: the values are
        the event's own, taken at emit time, before any sampling decision matters).
        """
        stage = attributes.get(semconv.JOURNEY_STAGE) or event.event_name
        plan = self._plans.get(stage)
        if plan is None:
            plan = self._plan(stage)
        pending = self._pending
        pending.append((stage, plan, tuple(map(attributes.get, plan[1]))))
        if len(pending) >= self._max_pending:
            self.fold()

    def fold(self) -> None:
        """Fold queued events into the cumulative counts and the latency histogram."""
        with self._lock:
            self._fold()

    def _fold(self) -> None:
        pending, counts, fresh = self._pending, self._counts, self._fresh
        latency = self._latency
        bounded = self._bounded
        while True:
            try:
                stage, (checks, keys), values = pending.popleft()
            except IndexError:
                break
            # Positions follow _CAPTURED: channel, form version, territory, source system,
            # CRM system, enrichment provider, campaign, synthetic, elapsed, dedupe, match,
            # consent-dropped reason, failure layer; then the keys the stage's SLIs read.
            raw = (
                stage, values[0], values[1], values[2],
                values[3] or values[4] or values[5], values[6], values[7] is True,
            )  # fmt: skip
            elapsed, dedupe, match, dropped = values[8], values[9], values[10], values[11]
            if not checks and elapsed is None:
                continue
            view = dict(zip(keys, values, strict=True))
            if values[12] is None:
                results = [
                    (name, good(view))
                    for name, where, good, _ in checks
                    if where is None or where(view)
                ]
            else:
                # A stage that raised: never good for the SLIs that name its stage, and not
                # counted by the every-event ones (no event was validated); no latency point.
                results = []
                for check in checks:
                    name, where, _, _ = check
                    if check not in self._wildcard and (where is None or where(view)):
                        results.append((name, False))
                elapsed = None
            labels = bounded.get(raw)
            if labels is None:
                labels = self._bound(raw)
            if dedupe is not None or match is not None or dropped is not None:
                self._count_outcomes(labels, dedupe, match, dropped is not None)
            for name, good in results:
                key = (name, labels)
                cell = fresh.get(key) or counts.get(key)
                if cell is None:
                    # A new series is reported at zero once before its events count, because
                    # Prometheus's rate() ignores the first sample of a series: this way it
                    # sees every event.
                    counts[key] = [0, 0]
                    cell = fresh[key] = [0, 0]
                cell[1] += 1
                if good:
                    cell[0] += 1
            if elapsed is not None and elapsed >= 0:
                if latency is None:
                    latency = self._latency = self._meter.create_histogram(
                        JOURNEY_LATENCY,
                        unit="s",
                        description="Seconds from the journey's start to each stage event.",
                        explicit_bucket_boundaries_advisory=list(self._buckets),
                    )
                latency.record(elapsed, self._attributes_of("", labels))

    def _count_outcomes(self, labels: Labels, dedupe: Any, match: Any, dropped: bool) -> None:
        stage, integration, synthetic = labels[0], labels[4], labels[-1]
        for kind, value in (
            ("dedupe", dedupe),
            ("identity_match", match),
            ("consent_dropped_identity", "true" if dropped else None),
        ):
            if value is None:
                continue
            key = (stage, kind, self._outcome_cap(value, self._overflowed), integration, synthetic)
            self._outcomes[key] = self._outcomes.get(key, 0) + 1

    def _observe_outcomes(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            self._fold()
            return [
                Observation(
                    count,
                    {
                        k: v
                        for k, v in zip(_OUTCOME_KEYS, key, strict=True)
                        if v  # an empty integration is left out, as on the SLI counters
                    },
                )
                for key, count in self._outcomes.items()
            ]

    def _bound(self, raw: tuple[Any, ...]) -> Labels:
        """Labels of one event's raw values, each capped; remembered for the next events."""
        overflowed = self._overflowed
        labels = (
            raw[0],
            *(cap(value, overflowed) for cap, value in zip(self._caps, raw[1:-1], strict=True)),
            "true" if raw[-1] else "false",
        )
        if len(self._bounded) < 10_000:  # values past a cap keep their own raw keys
            self._bounded[raw] = labels
        return labels

    def _attributes_of(self, sli: str, labels: Labels) -> dict[str, str]:
        found = self._attributes.get((sli, labels))
        if found is None:
            found = {k: v for k, v in zip(LABEL_KEYS, labels, strict=True) if v}
            if sli:
                found = {SLI_NAME: sli, **found}
            self._attributes[(sli, labels)] = found
        return found

    def _take_snapshot(self) -> None:
        """Fold, release the series reported at zero last time, and snapshot every count."""
        fresh, counts = self._fresh, self._counts
        for key in self._shown:
            good, total = fresh.pop(key)
            cell = counts[key]
            cell[0] += good
            cell[1] += total
        self._fold()
        self._shown = list(fresh)
        self._snapshot = [
            (self._attributes_of(*key), cell[0], cell[1]) for key, cell in counts.items()
        ]
        self._generation += 1

    def _observations(self, which: int) -> list[Observation]:
        # Both counters report the same snapshot within one collection: whichever callback
        # runs first in a collection takes it, the other one reuses it.
        with self._lock:
            if self._consumed[which] == self._generation:
                self._take_snapshot()
            self._consumed[which] = self._generation
            if which == 0:
                return [Observation(good, attrs) for attrs, good, _ in self._snapshot]
            return [Observation(total, attrs) for attrs, _, total in self._snapshot]

    def _observe_total(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observations(1)

    def _observe_good(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observations(0)

    def counts(self) -> dict[str, tuple[int, int]]:
        """``{sli: (good, total)}`` of every event so far, for health reports and tests."""
        totals: dict[str, list[int]] = {}
        with self._lock:
            self._fold()
            for key, (good, total) in [*self._counts.items(), *self._fresh.items()]:
                cell = totals.setdefault(key[0], [0, 0])
                cell[0] += good
                cell[1] += total
        return {sli: (good, total) for sli, (good, total) in totals.items()}


_recorders: weakref.WeakKeyDictionary[Any, SliRecorder] = weakref.WeakKeyDictionary()


def install_sli_metrics(handle: Leadtrace, slis: SliFile | None = None) -> SliRecorder:
    """Create the SLI recorder on ``handle.meter`` and register it as an event hook.

    ``configure()`` calls this with the built-in SLIs; use :func:`use_slis` to change them.
    """
    recorder = SliRecorder(handle.meter, slis)
    handle.on_event(recorder)
    _recorders[handle] = recorder
    return recorder


def recorder_of(handle: Leadtrace) -> SliRecorder:
    """The SLI recorder ``configure()`` installed on ``handle``.

    Raises:
        ConfigError: the handle has none (it was not built by ``configure()``).
    """
    found = _recorders.get(handle)
    if found is None:
        raise ConfigError("this handle has no SLI recorder; build it with leadtrace.configure()")
    return found


def use_slis(handle: Leadtrace, slis: SliFile | str | Path) -> SliFile:
    """Count the SLIs of a file (or a parsed :class:`SliFile`) on ``handle`` from now on.

    Call it right after ``configure()``::

        handle = leadtrace.configure(service_name="lead-api")
        leadtrace.metrics.use_slis(handle, "slis.yaml")

    Raises:
        ConfigError: the file is invalid (names the line), or came too late (see
            :meth:`SliRecorder.use`).
    """
    spec = slis if isinstance(slis, SliFile) else load_slis(slis)
    recorder_of(handle).use(spec)
    return spec
