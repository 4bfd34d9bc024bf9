"""The SLI / SLO file: which events count toward each SLI and what makes one good.

One YAML file declares every SLI, its objective and its runbook. The same definitions drive
the in-process good / total counters (:mod:`leadtrace.metrics`), the Prometheus rules and
alerts (:mod:`leadtrace.slo.rules`) and the dashboard. The built-in defaults ship beside the
data contracts as ``leadtrace/default_slis.yaml`` (:data:`DEFAULT_SLIS_FILE`)::

    version: 1
    service: leadtrace
    slis:
      lead_routing_latency:
        description: Leads routed within 300 s of the journey's start.
        events: [lead_routed]
        good: {latency_max_s: 300}
        objective: 99.0
        runbook: routing-rule-drift

A predicate is one of ``complete`` (the stage's data contract holds), ``valid`` (the event
passed schema validation), ``attribute`` with ``present`` / ``equals`` / ``in`` / ``not_in``,
``latency_max_s`` (seconds since the journey started) or ``any`` (a list, one must hold).
``good`` and ``where`` take one predicate or a list that must all hold. Attribute names are
relative to ``martech.`` like contract fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from leadtrace import semconv
from leadtrace.errors import ConfigError
from leadtrace.quality import full_name

__all__ = [
    "DEFAULT_SLIS_FILE",
    "Predicate",
    "Sli",
    "SliFile",
    "load_slis",
    "parse_slis",
]

DEFAULT_SLIS_FILE = Path(__file__).parent.parent / "default_slis.yaml"
"""The built-in SLIs as YAML: copy it to start your own file."""

ALL_EVENTS = "*"
"""In ``events:``, every event counts toward the SLI."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_DURATION = re.compile(r"^(\d+)([mhd])$")

Check = Callable[[Mapping[str, Any]], bool]
"""A compiled predicate: True when the attributes of one event satisfy it."""

Scalar = str | int | float | bool


class Predicate(BaseModel):
    """One condition on an event's span attributes; exactly one kind per predicate."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    complete: bool | None = None
    """``true``: the stage's data contract holds (``martech.quality.complete``)."""
    valid: bool | None = None
    """``true``: the event passed schema validation (``martech.quality.valid`` not false)."""
    attribute: str | None = None
    """Attribute to test with ``present`` / ``equals`` / ``in`` / ``not_in``."""
    present: bool | None = None
    equals: Scalar | None = None
    in_: tuple[Scalar, ...] | None = Field(default=None, alias="in")
    not_in: tuple[Scalar, ...] | None = None
    latency_max_s: float | None = Field(default=None, gt=0)
    """Good when the event happened at most this many seconds after the journey started."""
    any: tuple[Predicate, ...] | None = Field(default=None, min_length=1)
    """Good when at least one of these holds."""

    @model_validator(mode="after")
    def _one_kind(self) -> Predicate:
        kinds = [
            k
            for k in ("complete", "valid", "attribute", "latency_max_s", "any")
            if getattr(self, k) is not None
        ]
        if len(kinds) != 1:
            raise ValueError(
                "a predicate needs exactly one of complete, valid, attribute, latency_max_s, "
                f"any; got {kinds or 'none'}"
            )
        tests = [k for k in ("present", "equals", "in_", "not_in") if getattr(self, k) is not None]
        if self.attribute is not None and len(tests) != 1:
            raise ValueError(
                f"attribute {self.attribute!r} needs exactly one of present, equals, in, not_in"
            )
        if self.attribute is None and tests:
            raise ValueError("present / equals / in / not_in need an 'attribute:'")
        return self

    def keys(self) -> frozenset[str]:
        """Attribute names this predicate reads."""
        if self.complete is not None:
            return frozenset({semconv.QUALITY_COMPLETE})
        if self.valid is not None:
            return frozenset({semconv.QUALITY_VALID})
        if self.latency_max_s is not None:
            return frozenset({semconv.JOURNEY_ELAPSED})
        if self.any is not None:
            return frozenset().union(*(p.keys() for p in self.any))
        return frozenset({full_name(str(self.attribute))})

    def compile(self) -> Check:
        """The predicate as a fast callable on span attributes."""
        if self.complete is not None:
            want = self.complete
            return lambda a: (a.get(semconv.QUALITY_COMPLETE) is True) is want
        if self.valid is not None:
            want = self.valid
            return lambda a: (a.get(semconv.QUALITY_VALID) is not False) is want
        if self.latency_max_s is not None:
            bound = self.latency_max_s

            def within(a: Mapping[str, Any]) -> bool:
                elapsed = a.get(semconv.JOURNEY_ELAPSED)
                return elapsed is not None and elapsed <= bound

            return within
        if self.any is not None:
            checks = tuple(p.compile() for p in self.any)

            def one_of(a: Mapping[str, Any]) -> bool:
                for check in checks:  # noqa: SIM110 - cheaper than any() over a generator
                    if check(a):
                        return True
                return False

            return one_of
        key = full_name(str(self.attribute))
        if self.present is not None:
            want = self.present
            return lambda a: (a.get(key) not in (None, "", ())) is want
        if self.equals is not None:
            value = self.equals
            return lambda a: a.get(key) == value
        if self.in_ is not None:
            allowed = frozenset(self.in_)
            return lambda a: a.get(key) in allowed
        denied = frozenset(self.not_in or ())
        return lambda a: a.get(key) not in denied


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


class Sli(BaseModel):
    """One SLI with its SLO: the events it counts, what makes one good, the objective."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    """snake_case name; the ``martech.sli.name`` metric attribute and Sloth's ``sloth_slo``."""
    description: str = Field(min_length=1)
    events: tuple[str, ...] = Field(min_length=1)
    """Event (stage) names that count toward the total; ``"*"`` for every event."""
    where: tuple[Predicate, ...] = ()
    """Only events satisfying all of these count (e.g. only those that carry an outcome)."""
    good: tuple[Predicate, ...] = Field(min_length=1)
    """All must hold for an event to count as good."""
    objective: float = Field(gt=0, lt=100)
    """Target percentage of good events over the SLO period, e.g. ``99.5``."""
    runbook: str = Field(min_length=1)
    """Runbook name (``docs/runbooks/<runbook>.md``) or a full URL; every alert links to it."""
    layer: str | None = None
    """Layer of the revenue path (capture, identity, ...), for dashboards."""

    @field_validator("name")
    @classmethod
    def _snake_case(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"SLI name {value!r} must be snake_case, e.g. 'lead_routing_latency'")
        return value

    @field_validator("events")
    @classmethod
    def _event_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name != ALL_EVENTS and not _NAME.match(name):
                raise ValueError(f"event name {name!r} must be snake_case or '*'")
        return value

    @field_validator("where", "good", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_list(value)

    @property
    def error_budget(self) -> float:
        """Allowed share of bad events, e.g. 0.01 for a 99 % objective."""
        return round(1 - self.objective / 100, 12)

    def latency_bounds(self) -> list[float]:
        """Every ``latency_max_s`` threshold this SLI uses (histogram buckets must hold them)."""
        found: list[float] = []

        def walk(predicates: Sequence[Predicate]) -> None:
            for p in predicates:
                if p.latency_max_s is not None:
                    found.append(p.latency_max_s)
                if p.any:
                    walk(p.any)

        walk((*self.where, *self.good))
        return found


class SliFile(BaseModel):
    """A whole SLI file: service-wide settings and the SLIs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    service: str = Field(default="leadtrace", pattern=r"^[A-Za-z0-9_.-]+$")
    """Sloth's ``sloth_service`` label and the alert prefix."""
    period: str = "30d"
    """SLO period (``30d``); burn-rate factors derive from it."""
    exclude_synthetic: bool = True
    """Rules leave out synthetic journeys (``martech_journey_synthetic="true"``)."""
    selector: str = ""
    """Extra PromQL label matchers for every query, e.g. ``job="lead-api"``."""
    page_min_events: int = Field(default=10, ge=0)
    """Low-traffic guard: a page needs at least this many events in its long window."""
    runbook_base_url: str = "https://example.invalid/leadtrace/docs/runbooks/"
    """Prefix of runbook names that are not full URLs."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Extra labels on every rule and alert (e.g. ``team: growth-platform``)."""
    slis: tuple[Sli, ...] = Field(min_length=1)

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError(f"period {value!r} must look like 30d, 28d or 720h")
        return value

    @field_validator("slis", mode="before")
    @classmethod
    def _named(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [{"name": k, **v} if isinstance(v, dict) else v for k, v in value.items()]
        return value

    @property
    def period_hours(self) -> float:
        """Length of the SLO period in hours."""
        match = _DURATION.match(self.period)
        assert match is not None
        return int(match.group(1)) * {"m": 1 / 60, "h": 1, "d": 24}[match.group(2)]

    def runbook_url(self, sli: Sli) -> str:
        """Full runbook URL of ``sli``."""
        if "://" in sli.runbook:
            return sli.runbook
        return f"{self.runbook_base_url}{sli.runbook}.md"

    def latency_bounds(self) -> list[float]:
        """Every latency threshold of every SLI, sorted, without duplicates."""
        return sorted({b for sli in self.slis for b in sli.latency_bounds()})


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise ConfigError(
            "reading an SLI file needs PyYAML: pip install 'leadtrace[yaml]'"
        ) from exc
    return yaml


def _line_of(yaml: Any, node: Any, location: Sequence[Any]) -> int | None:
    """1-based line of the YAML node at pydantic error ``location`` (the deepest one found)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in location:
        if isinstance(node, yaml.MappingNode):
            if isinstance(part, int):  # the SLIs, written as a mapping keyed by name
                if part >= len(node.value):
                    break
                key, node = node.value[part]
            else:
                name = "in" if part == "in_" else part
                found = [(k, v) for k, v in node.value if getattr(k, "value", None) == name]
                if not found:
                    break
                key, node = found[0]
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def parse_slis(text: str, source: str = "<string>") -> SliFile:
    """Parse and validate SLI YAML ``text``.

    Raises:
        ConfigError: not YAML or not of the documented shape; names ``source``, the line
            and the rule that failed.
    """
    yaml = _yaml()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"SLI file {source}{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"SLI file {source}:1: expected a mapping with 'version: 1' and 'slis:' "
            "(see leadtrace/default_slis.yaml)"
        )
    try:
        return SliFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        line = _line_of(yaml, node, first["loc"])
        path = ".".join(str(p) for p in first["loc"])
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(
            f"SLI file {source}:{line}: {path}: {first['msg']}{more}. "
            "See docs/slo.md for the file's shape."
        ) from None


def load_slis(path: str | Path | None = None) -> SliFile:
    """Load an SLI file, or the built-in defaults when ``path`` is None.

    Raises:
        ConfigError: the file cannot be read or is invalid (message names file and line).
    """
    file = Path(path) if path is not None else DEFAULT_SLIS_FILE
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"SLI file {str(file)!r} cannot be read: {exc.strerror}") from None
    return parse_slis(text, str(file))


def detect_format(data: Mapping[str, Any]) -> Literal["leadtrace", "sloth"]:
    """Which spec a parsed YAML mapping is: ours (``version: 1``) or Sloth's ``prometheus/v1``."""
    return "sloth" if data.get("version") == "prometheus/v1" else "leadtrace"
