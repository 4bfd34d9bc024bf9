"""Journey assertions shared by the in-memory capture and the OTLP receiver.

A :class:`SpanSource` holds finished spans (:class:`SpanRecord`); ``source.journey(id)``
gives a :class:`Journey` whose assertions fail with a :class:`JourneyAssertionError` naming
the first broken stage, its layer, what was expected and what arrived.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadtrace import semconv
from leadtrace.context import BusinessContext
from leadtrace.errors import ConfigError, LeadtraceError
from leadtrace.events import UnknownEventError, all_events, attribute_names, get
from leadtrace.quality import Contracts, full_name, short_name
from leadtrace.testing._records import SpanRecord

__all__ = [
    "JOURNEY_START",
    "Failure",
    "Journey",
    "JourneyAssertionError",
    "SpanSource",
]

JOURNEY_START = "journey_start"
"""Pass as ``stage_a`` of :meth:`Journey.assert_within` to measure from the journey's start."""

_UNHEALTHY_ENRICHMENT = (semconv.ENRICHMENT_TIMEOUT, semconv.ENRICHMENT_ERROR)
_UNLANDED_CRM_WRITE = (semconv.DEDUPE_CONFLICT, semconv.DEDUPE_DUPLICATE, semconv.DEDUPE_AMBIGUOUS)
_MISSING = "<missing>"


class JourneyAssertionError(LeadtraceError, AssertionError):
    """A journey assertion failed.

    The message reads on its own: the journey, the first broken stage and its layer, what
    was expected, what arrived, and the path of stages the journey took.

    Attributes:
        journey_id: the journey asserted on.
        stage: the first broken stage (None when nothing of the journey arrived).
        layer: layer of that stage (``capture``, ``identity``, ``enrichment``, ``routing``,
            ``crm``, ``sales``), or ``unknown``.
        expected: what the assertion expected.
        arrived: what arrived instead.
    """

    def __init__(
        self,
        journey_id: str,
        stage: str | None,
        layer: str,
        problem: str,
        expected: str,
        arrived: str,
        path: Sequence[str] = (),
        service: str = "",
    ) -> None:
        self.journey_id = journey_id
        self.stage = stage
        self.layer = layer
        self.problem = problem
        self.expected = expected
        self.arrived = arrived
        where = f" (layer {layer}" + (f", service {service!r})" if service else ")")
        head = (
            f"journey {journey_id!r} broke at stage {stage!r}{where}: {problem}"
            if stage is not None
            else f"journey {journey_id!r}: {problem}"
        )
        lines = [head, f"  expected: {expected}", f"  arrived:  {arrived}"]
        lines.append(f"  journey:  {' > '.join(path) if path else '(no stages)'}")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Failure:
    """The first thing that went wrong in a journey.

    Attributes:
        stage: stage name, e.g. ``lead_enriched``.
        layer: layer of the revenue path that failed.
        problem: short description, e.g. ``stage failed``.
        expected: what a healthy stage carries.
        arrived: what the stage carried instead.
        record: the span of that stage.
    """

    stage: str
    layer: str
    problem: str
    expected: str
    arrived: str
    record: SpanRecord


def _fmt(value: Any) -> str:
    if value is None:
        return _MISSING
    if isinstance(value, tuple):
        return repr(list(value))
    return repr(value)


def _fields(record: SpanRecord, names: Iterable[str]) -> str:
    return ", ".join(f"{short_name(n)}={_fmt(record.attributes.get(n))}" for n in names)


def _registry_layer(stage: str) -> str:
    try:
        return get(stage).event_layer
    except UnknownEventError:
        return "unknown"


def layer_of(record: SpanRecord) -> str:
    """Layer of a stage span: ``martech.failure.layer``, its event layer, or the registry's."""
    for key in (semconv.FAILURE_LAYER, semconv.EVENT_LAYER):
        value = record.attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return _registry_layer(record.stage or record.name)


def problem_of(record: SpanRecord, contracts: Contracts | None = None) -> Failure | None:
    """What is wrong with one stage span, or None when it is healthy.

    Checked in order: an error status, a schema violation, a business outcome that means the
    step did not do its job (enrichment timeout or error, a CRM write rejected as conflict,
    duplicate or ambiguous, an owner other than the expected one), then the data contract
    verdict the emitting process recorded. With ``contracts`` that agree with that verdict,
    the message lists every required field and its value, not only the missing ones.
    """
    attrs = record.attributes
    stage = record.stage or record.name
    layer = layer_of(record)
    if record.error:
        details = [f"status ERROR {record.status_description!r}"]
        reason = attrs.get(semconv.FAILURE_REASON)
        if reason:
            details.append(f"failure.reason={reason!r}")
        details.extend(
            f"exception {t}: {m}" if m else f"exception {t}" for t, m in record.exceptions
        )
        return Failure(
            stage, layer, "stage failed", "the stage to complete", ", ".join(details), record
        )
    if attrs.get(semconv.QUALITY_VALID) is False:
        violations = attrs.get(semconv.QUALITY_VIOLATIONS) or ()
        return Failure(
            stage,
            layer,
            "event failed schema validation",
            "an event valid against its schema",
            f"violations {_fmt(tuple(violations))}",
            record,
        )
    outcome = attrs.get(semconv.ENRICHMENT_OUTCOME)
    if outcome in _UNHEALTHY_ENRICHMENT:
        return Failure(
            stage,
            layer,
            f"enrichment {outcome}",
            "enrichment.outcome='enriched' or 'no_match'",
            _fields(record, (semconv.ENRICHMENT_OUTCOME, semconv.ENRICHMENT_PROVIDER)),
            record,
        )
    dedupe = attrs.get(semconv.LEAD_DEDUPE_OUTCOME)
    if layer == semconv.LAYER_CRM and dedupe in _UNLANDED_CRM_WRITE:
        return Failure(
            stage,
            layer,
            f"CRM write rejected ({dedupe})",
            "lead.dedupe_outcome='created' or 'updated'",
            _fields(
                record,
                (semconv.LEAD_DEDUPE_OUTCOME, semconv.CRM_SYSTEM, semconv.CRM_RECORD_ID),
            ),
            record,
        )
    expected_owner = attrs.get(semconv.ROUTING_EXPECTED_OWNER_ID)
    owner = attrs.get(semconv.ROUTING_OWNER_ID)
    if expected_owner and owner != expected_owner:
        return Failure(
            stage,
            layer,
            "routed to the wrong owner",
            f"routing.owner_id={expected_owner!r} (routing.expected_owner_id)",
            _fields(record, (semconv.ROUTING_OWNER_ID, semconv.ROUTING_RULE_ID)),
            record,
        )
    if attrs.get(semconv.QUALITY_COMPLETE) is False:
        missing = tuple(str(m) for m in attrs.get(semconv.QUALITY_MISSING) or ())
        required = contracts.required(stage) if contracts is not None else ()
        shown = required if set(missing) <= set(required) else missing
        return Failure(
            stage,
            layer,
            "required fields missing",
            "fields " + ", ".join(short_name(m) for m in shown),
            _fields(record, shown),
            record,
        )
    return None


def _attribute_for(key: str, event_name: str | None) -> str:
    """Resolve a keyword of :meth:`SpanSource.events` to an attribute name."""
    dotted = key.replace("__", ".")
    if event_name is not None:
        try:
            names = attribute_names(get(event_name))
        except UnknownEventError:
            names = {}
        if dotted in names:
            return names[dotted]
    for cls in all_events():
        names = attribute_names(cls)
        if dotted in names:
            return names[dotted]
    return full_name(dotted) if "." in dotted else f"martech.{dotted}"


def _matches(record: SpanRecord, name: str | None, where: Mapping[str, Any]) -> bool:
    if name is not None and name not in (record.name, record.stage):
        return False
    for key, expected in where.items():
        actual = record.attributes.get(key)
        if isinstance(actual, tuple) and not isinstance(expected, (tuple, list)):
            if expected not in actual:
                return False
        elif isinstance(expected, list):
            if actual != tuple(expected):
                return False
        elif actual != expected:
            return False
    return True


def _parse_iso(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1e9)
    except ValueError:
        return None


class SpanSource(abc.ABC):
    """Finished spans plus the assertion API; the capture and the receiver both are one.

    Subclasses provide :meth:`records` (spans in journey order) and :meth:`reset`.
    """

    contracts: Contracts

    @abc.abstractmethod
    def records(self) -> list[SpanRecord]:
        """Every span received, in order (start order, then arrival)."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget every span received so far."""

    def spans(self, name: str | None = None) -> list[SpanRecord]:
        """Every span, or those named ``name``."""
        return [r for r in self.records() if name is None or r.name == name]

    def events(
        self,
        name: str | None = None,
        *,
        where: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> list[SpanRecord]:
        """Stage spans matching ``name`` and every given field (a partial match).

        Keywords are event field names (``lead_id="L-1"``, ``owner_id="U-7"``,
        ``journey_id=...``); a double underscore stands for a dot (``campaign__id``). Full
        attribute names go in ``where``. A scalar matches an array attribute that contains it.
        """
        criteria = {_attribute_for(k, name): v for k, v in fields.items()}
        criteria.update(where or {})
        return [r for r in self.records() if r.stage is not None and _matches(r, name, criteria)]

    def good(self, name: str | None = None) -> list[SpanRecord]:
        """Stage spans with no problem (see :meth:`Journey.first_failure`)."""
        return [r for r in self.events(name) if problem_of(r, self.contracts) is None]

    def bad(self, name: str | None = None) -> list[SpanRecord]:
        """Stage spans with a problem: error, invalid, failed outcome or incomplete."""
        return [r for r in self.events(name) if problem_of(r, self.contracts) is not None]

    def journeys(self) -> list[str]:
        """Ids of every journey seen, in order of first appearance."""
        seen: dict[str, None] = {}
        for record in self.records():
            if record.journey_id is not None:
                seen.setdefault(record.journey_id, None)
        return list(seen)

    def journey(self, journey: str | BusinessContext | None = None) -> Journey:
        """The journey with this id (or context); the only journey seen when omitted.

        Raises:
            JourneyAssertionError: no id was given and not exactly one journey arrived.
        """
        if isinstance(journey, BusinessContext):
            return Journey(self, journey.journey_id)
        if journey is not None:
            return Journey(self, journey)
        ids = self.journeys()
        if len(ids) != 1:
            raise JourneyAssertionError(
                "?",
                None,
                "unknown",
                "journey() without an id needs exactly one journey",
                "exactly one journey",
                f"{len(ids)} journeys: {ids}",
            )
        return Journey(self, ids[0])

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate`` until it is true or ``timeout`` seconds passed; its last value."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return predicate()
            time.sleep(0.01)
        return True


class Journey:
    """One journey's spans and the assertions on them. Reads its source live.

    Every ``assert_*`` method returns the journey, so assertions chain::

        capture.journey(j.journey_id).assert_stages(["form_submitted", "lead_routed"]) \\
            .assert_consent("lead_routed", "granted")
    """

    def __init__(self, source: SpanSource, journey_id: str) -> None:
        self.source = source
        self.journey_id = journey_id

    def __repr__(self) -> str:
        return f"<Journey {self.journey_id!r} stages={self.stages()}>"

    # --- reading -----------------------------------------------------------------------------

    @property
    def spans(self) -> list[SpanRecord]:
        """Every span of the journey (stages and the spans started inside them)."""
        return [r for r in self.source.records() if r.journey_id == self.journey_id]

    @property
    def stage_spans(self) -> list[SpanRecord]:
        """The journey's stage spans (emitted events and ``@stage`` spans), in order."""
        return [r for r in self.spans if r.stage is not None]

    def stages(self) -> list[str]:
        """Names of the stages that arrived, in order."""
        return [r.stage for r in self.stage_spans if r.stage is not None]

    @property
    def synthetic(self) -> bool:
        """True when every stage span is flagged synthetic (and there is at least one)."""
        spans = self.stage_spans
        return bool(spans) and all(r.attributes.get(semconv.JOURNEY_SYNTHETIC) for r in spans)

    def events(self, name: str | None = None, **fields: Any) -> list[SpanRecord]:
        """This journey's stage spans matching ``name`` and ``fields`` (see ``source.events``)."""
        return [r for r in self.source.events(name, **fields) if r.journey_id == self.journey_id]

    def stage(self, name: str) -> SpanRecord:
        """The first span of stage ``name``.

        Raises:
            JourneyAssertionError: the stage never arrived.
        """
        for record in self.stage_spans:
            if record.stage == name:
                return record
        raise self._error(
            name,
            _registry_layer(name),
            "stage never arrived",
            f"a {name!r} stage",
            self._arrived_summary(),
        )

    def first_failure(self) -> Failure | None:
        """The first stage (in order) with a problem, or None for a healthy journey."""
        for record in self.stage_spans:
            failure = problem_of(record, self.source.contracts)
            if failure is not None:
                return failure
        return None

    def wait_for(self, *stages: str, timeout: float = 5.0) -> Journey:
        """Wait until every stage in ``stages`` arrived (spans cross processes asynchronously).

        Raises:
            JourneyAssertionError: a stage was still missing after ``timeout`` seconds.
        """
        self.source.wait_for(lambda: set(stages) <= set(self.stages()), timeout)
        return self.assert_stages(list(stages), in_order=False)

    # --- assertions --------------------------------------------------------------------------

    def assert_healthy(self) -> Journey:
        """Assert no stage failed, broke its schema or contract, or reported a bad outcome."""
        self._assert_arrived()
        failure = self.first_failure()
        if failure is not None:
            raise self._failure_error(failure)
        return self

    def assert_failure(self, layer: str, *, stage: str | None = None) -> Failure:
        """Assert the journey's first failure is in ``layer`` (and at ``stage``); return it."""
        if layer not in semconv.LAYERS:
            raise ConfigError(
                f"assert_failure: layer must be one of {semconv.LAYERS}, got {layer!r}"
            )
        self._assert_arrived()
        failure = self.first_failure()
        wanted = f"a failure in layer {layer!r}" + (f" at stage {stage!r}" if stage else "")
        if failure is None:
            raise self._error(stage, layer, "no failure reported", wanted, "every stage healthy")
        if failure.layer != layer or (stage is not None and failure.stage != stage):
            raise self._error(
                failure.stage,
                failure.layer,
                f"failed in layer {failure.layer!r} instead",
                wanted,
                f"{failure.problem}: {failure.arrived}",
                failure.record.service_name,
            )
        return failure

    def assert_stages(self, stages: Sequence[str], *, in_order: bool = True) -> Journey:
        """Assert every stage in ``stages`` arrived (as a subsequence, when ``in_order``).

        The message names the first expected stage that is missing, or the journey's first
        failure when one explains why.
        """
        arrived = self.stages()
        position = 0
        for name in stages:
            if in_order:
                try:
                    position = arrived.index(name, position) + 1
                    continue
                except ValueError:
                    broken = name
            elif name in arrived:
                continue
            else:
                broken = name
            expected = ("stages " if in_order else "stages (any order) ") + " > ".join(stages)
            problem = (
                "stage out of order" if in_order and broken in arrived else "stage never arrived"
            )
            failure = self.first_failure()
            if failure is not None:
                raise self._error(
                    failure.stage,
                    failure.layer,
                    f"{failure.problem}, so {broken!r} {problem.removeprefix('stage ')}",
                    expected,
                    f"{failure.arrived}",
                    failure.record.service_name,
                )
            raise self._error(
                broken, _registry_layer(broken), problem, expected, self._arrived_summary()
            )
        return self

    def assert_within(self, stage_a: str, stage_b: str, seconds: float) -> Journey:
        """Assert ``stage_b`` started at most ``seconds`` after ``stage_a`` (or the journey start).

        Pass :data:`JOURNEY_START` as ``stage_a`` to measure from the journey's start time.
        """
        end = self.stage(stage_b)
        if stage_a == JOURNEY_START:
            start_ns = _parse_iso(end.attributes.get(semconv.JOURNEY_STARTED_AT))
            label = "journey start"
            if start_ns is None:
                raise self._error(
                    stage_b,
                    layer_of(end),
                    "no journey start time",
                    f"{short_name(semconv.JOURNEY_STARTED_AT)} on {stage_b!r}",
                    _fields(end, (semconv.JOURNEY_STARTED_AT,)),
                    end.service_name,
                )
        else:
            start_ns = self.stage(stage_a).start_ns
            label = repr(stage_a)
        elapsed = (end.start_ns - start_ns) / 1e9
        if elapsed < 0:
            raise self._error(
                stage_b,
                layer_of(end),
                "out of order",
                f"{stage_b!r} after {label}",
                f"{stage_b!r} {-elapsed:.3f} s before {label}",
                end.service_name,
            )
        if elapsed > seconds:
            raise self._error(
                stage_b,
                layer_of(end),
                "too late",
                f"{stage_b!r} within {seconds:g} s of {label}",
                f"{stage_b!r} {elapsed:.3f} s after {label}",
                end.service_name,
            )
        return self

    def assert_fields(self, stage: str, required: Sequence[str] | None = None) -> Journey:
        """Assert ``stage`` carries every ``required`` field (default: its data contract).

        Names are short (``lead.score``) or full attribute names; empty values count as
        missing.

        Raises:
            ConfigError: ``required`` was omitted and the stage has no contract.
        """
        if required is None:
            names = self.source.contracts.required(stage)
            if not names:
                raise ConfigError(
                    f"assert_fields({stage!r}): the stage has no data contract in "
                    f"{self.source.contracts.source}; pass required=[...]"
                )
        else:
            names = tuple(full_name(n) for n in required)
        record = self.stage(stage)
        missing = [n for n in names if record.attributes.get(n) in (None, "", ())]
        if missing:
            raise self._error(
                stage,
                layer_of(record),
                "required fields missing",
                "fields " + ", ".join(short_name(n) for n in names),
                _fields(record, names),
                record.service_name,
            )
        return self

    def assert_consent(self, stage: str, status: str) -> Journey:
        """Assert the consent status recorded at ``stage`` is ``status`` (absent = missing)."""
        record = self.stage(stage)
        actual = record.attributes.get(semconv.CONSENT_STATUS)
        if actual != status:
            shown = [semconv.CONSENT_STATUS]
            if semconv.CONSENT_DROPPED_REASON in record.attributes:
                shown.append(semconv.CONSENT_DROPPED_REASON)
            raise self._error(
                stage,
                layer_of(record),
                "wrong consent status",
                f"consent.status={status!r}",
                _fields(record, shown),
                record.service_name,
            )
        return self

    def assert_attribution(
        self,
        *,
        campaign_id: str | None = None,
        source: str | None = None,
        medium: str | None = None,
        name: str | None = None,
        channel: str | None = None,
        stages: Sequence[str] | None = None,
    ) -> Journey:
        """Assert every stage (or each of ``stages``) carries the given campaign values.

        The first stage where attribution differs or was lost is reported: that is where
        the campaign context stopped travelling.
        """
        expected = {
            attr: value
            for attr, value in (
                (semconv.CAMPAIGN_ID, campaign_id),
                (semconv.CAMPAIGN_SOURCE, source),
                (semconv.CAMPAIGN_MEDIUM, medium),
                (semconv.CAMPAIGN_NAME, name),
                (semconv.CAMPAIGN_CHANNEL, channel),
            )
            if value is not None
        }
        if not expected:
            raise ConfigError("assert_attribution: pass at least one campaign value to expect")
        records = [self.stage(s) for s in stages] if stages is not None else self._assert_arrived()
        for record in records:
            if any(record.attributes.get(k) != v for k, v in expected.items()):
                raise self._error(
                    record.stage,
                    layer_of(record),
                    "attribution lost or changed",
                    ", ".join(f"{short_name(k)}={v!r}" for k, v in expected.items()),
                    _fields(record, expected),
                    record.service_name,
                )
        return self

    def assert_dedupe(self, outcome: str, *, stage: str | None = None) -> Journey:
        """Assert the dedupe outcome of ``stage`` (default: the last stage reporting one)."""
        if stage is not None:
            record = self.stage(stage)
        else:
            reporting = [r for r in self.stage_spans if semconv.LEAD_DEDUPE_OUTCOME in r.attributes]
            if not reporting:
                raise self._error(
                    "lead_created",
                    _registry_layer("lead_created"),
                    "no stage reported a dedupe outcome",
                    f"lead.dedupe_outcome={outcome!r}",
                    self._arrived_summary(),
                )
            record = reporting[-1]
        actual = record.attributes.get(semconv.LEAD_DEDUPE_OUTCOME)
        if actual != outcome:
            raise self._error(
                record.stage,
                layer_of(record),
                "unexpected dedupe outcome",
                f"lead.dedupe_outcome={outcome!r}",
                _fields(record, (semconv.LEAD_DEDUPE_OUTCOME, semconv.LEAD_ID)),
                record.service_name,
            )
        return self

    # --- helpers -----------------------------------------------------------------------------

    def _assert_arrived(self) -> list[SpanRecord]:
        spans = self.stage_spans
        if not spans:
            known = self.source.journeys()
            raise JourneyAssertionError(
                self.journey_id,
                None,
                "unknown",
                "no stage of this journey arrived",
                "at least one stage span carrying this journey id",
                f"{len(known)} other journeys: {known[:10]}",
            )
        return spans

    def _arrived_summary(self) -> str:
        stages = self.stages()
        if not stages:
            return "no stages of this journey"
        return f"{len(stages)} stages: " + ", ".join(stages)

    def _error(
        self,
        stage: str | None,
        layer: str,
        problem: str,
        expected: str,
        arrived: str,
        service: str = "",
    ) -> JourneyAssertionError:
        return JourneyAssertionError(
            self.journey_id, stage, layer, problem, expected, arrived, self.stages(), service
        )

    def _failure_error(self, failure: Failure) -> JourneyAssertionError:
        return self._error(
            failure.stage,
            failure.layer,
            failure.problem,
            failure.expected,
            failure.arrived,
            failure.record.service_name,
        )
