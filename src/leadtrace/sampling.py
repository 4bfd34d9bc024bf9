"""Journey-consistent head sampling: every process keeps or drops a whole journey.

A journey crosses processes and traces (the web request, a queue worker, vendor callbacks).
Sampling by trace id keeps some of a journey's traces and drops others, so the journey view
and journey assertions would lie. :class:`JourneySampler` decides a span inside a journey by
a stable hash of the journey id alone, so every process holding the same ratio makes the
same decision for every span of that journey. Spans outside any journey behave exactly like
OpenTelemetry's ``parentbased_traceidratio``.

Whatever the ratio, the sampler always keeps spans it can tell matter at start time:

- spans of synthetic journeys (``martech.journey.synthetic``), so monitors always have data;
- spans started with ``martech.failure.layer`` (a failure known up front);
- spans started with ``martech.quality.valid = false`` (an invalid event kept in lenient mode).

A head sampler decides when a span starts. What is only known later (an exception raised in
a ``@stage`` function, an error status set at the end, a slow span) needs tail sampling in the
collector; see ``docs/deploy.md``. SLI counters are taken when an event is emitted, before and
independently of sampling, so SLIs stay exact at any ratio.

Configure it with ``LEADTRACE_SAMPLE_RATIO`` (or ``configure(sample_ratio=...)``); when that
is unset, the standard ``OTEL_TRACES_SAMPLER=traceidratio``/``parentbased_traceidratio`` with
``OTEL_TRACES_SAMPLER_ARG`` select the same journey-consistent sampler at that ratio
(:func:`sampler_from_settings`).

Owns: the journey-consistent sampler.

May import: ``_config`` and ``semconv``; it receives the journey lookup when built.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Final, Protocol

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

from leadtrace import semconv
from leadtrace._config import parse_ratio

__all__ = ["JourneyLookup", "JourneySampler", "journey_sampled", "sampler_from_settings"]

_HASH_SPACE: Final = 1 << 64
_RATIO_SAMPLERS: Final = frozenset({"traceidratio", "parentbased_traceidratio"})


@functools.lru_cache(maxsize=8192)
def _journey_hash(journey_id: str) -> int:
    """A 64-bit hash of ``journey_id``, the same in every process and Python version."""
    digest = hashlib.blake2b(journey_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def journey_sampled(journey_id: str, ratio: float) -> bool:
    """Whether a journey is kept at ``ratio`` (before the always-keep rules).

    Every process computes the same answer, so ``journey_sampled(jid, 0.1)`` tells where to
    look for a journey a sampled service exported.
    """
    return _journey_hash(journey_id) < round(ratio * _HASH_SPACE)


class _Journey(Protocol):
    """What the sampler reads of a journey (:class:`leadtrace.context.BusinessContext`)."""

    @property
    def journey_id(self) -> str: ...

    @property
    def synthetic(self) -> bool: ...


JourneyLookup = Callable[[Context | None], _Journey | None]
"""Returns the journey a span started in ``context`` belongs to, or None outside journeys:
:func:`leadtrace.context.current_journey`."""


def _always_keep(attributes: Attributes) -> str | None:
    """The rule that keeps a span started with ``attributes`` whatever the ratio, if any."""
    if not attributes:
        return None
    if attributes.get(semconv.FAILURE_LAYER):
        return "failure"
    if attributes.get(semconv.QUALITY_VALID) is False:
        return "invalid"
    if attributes.get(semconv.JOURNEY_SYNTHETIC) is True:
        return "synthetic"
    return None


class JourneySampler(Sampler):
    """Head sampler that keeps or drops whole journeys, in every process alike.

    Decision for a span, in order:

    1. started with ``martech.failure.layer``, ``martech.quality.valid=false`` or
       ``martech.journey.synthetic=true``: kept;
    2. inside a journey (:func:`leadtrace.journey`, a web integration, ``extract()``), or
       started with a ``martech.journey.id`` attribute: kept when the journey is synthetic
       or :func:`journey_sampled` says so; the parent's decision is not consulted, because
       the journey, not the trace, is the unit kept;
    3. outside any journey: ``ParentBased(TraceIdRatioBased(ratio))``, a child follows its
       parent, a root is decided by its trace id.

    Use it as the provider's sampler as it is; wrapping it in ``ParentBased`` would decide
    only root spans by journey and let children of another journey's trace follow the
    trace's decision. ``configure()`` installs it on a provider it creates; for your own::

        from leadtrace.context import current_journey
        provider = TracerProvider(sampler=JourneySampler(0.1, journey_of=current_journey))

    Args:
        ratio: share of journeys (and of root traces outside journeys) kept, 0 to 1.
        journey_of: how to find the journey of a span's parent context
            (:func:`leadtrace.context.current_journey`).

    Raises:
        ConfigError: ``ratio`` is not between 0 and 1.
    """

    def __init__(self, ratio: float, *, journey_of: JourneyLookup) -> None:
        self._journey_of = journey_of
        self.ratio = parse_ratio("ratio", str(ratio))
        self._bound = round(self.ratio * _HASH_SPACE)
        self._outside = ParentBased(TraceIdRatioBased(self.ratio))

    def __repr__(self) -> str:
        return f"JourneySampler(ratio={self.ratio})"

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """Decide whether the span is recorded and exported (see the class docstring)."""
        journey = self._journey_of(parent_context)
        if journey is not None:
            journey_id: object = journey.journey_id
            keep = journey.synthetic
        else:  # a span that names its journey itself (an attribute set at start)
            journey_id = attributes.get(semconv.JOURNEY_ID) if attributes else None
            keep = False
        if _always_keep(attributes) is not None or (
            journey_id.__class__ is str and (keep or _journey_hash(journey_id) < self._bound)
        ):
            return SamplingResult(
                Decision.RECORD_AND_SAMPLE, attributes, _parent_state(parent_context)
            )
        if journey_id.__class__ is str:
            return SamplingResult(Decision.DROP, None, _parent_state(parent_context))
        return self._outside.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        """Name and ratio, as OpenTelemetry's samplers describe themselves."""
        return f"JourneySampler{{{self.ratio}}}"


def _parent_state(parent_context: Context | None) -> TraceState | None:
    """The parent's trace state, carried on as the SDK's own samplers do."""
    return trace.get_current_span(parent_context).get_span_context().trace_state


def sampler_from_settings(
    ratio: float | None, environ: Mapping[str, str], journey_of: JourneyLookup
) -> Sampler | None:
    """The sampler a provider leadtrace creates should use; None leaves it to the SDK.

    ``ratio`` (``LEADTRACE_SAMPLE_RATIO``) wins. Without it, ``OTEL_TRACES_SAMPLER`` set to
    ``traceidratio`` or ``parentbased_traceidratio`` selects a :class:`JourneySampler` at
    ``OTEL_TRACES_SAMPLER_ARG`` (default 1.0), the journey-consistent form of the same
    ratio. Any other sampler name (``always_off``, ``jaeger_remote``, a plugin) is left to
    the SDK as the user chose it. A ratio of 1 keeps everything: the SDK's default
    ``parentbased_always_on``, so spans cost what they cost without leadtrace's sampler.

    Raises:
        ConfigError: ``OTEL_TRACES_SAMPLER_ARG`` is not a ratio between 0 and 1.
    """
    if ratio is not None:
        # Explicit, so it also overrides an OTEL_TRACES_SAMPLER the SDK would read.
        if ratio >= 1.0:
            return ParentBased(ALWAYS_ON)
        return JourneySampler(ratio, journey_of=journey_of)
    name = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if name not in _RATIO_SAMPLERS:
        return None
    ratio = parse_ratio("OTEL_TRACES_SAMPLER_ARG", environ.get("OTEL_TRACES_SAMPLER_ARG", "1"))
    return None if ratio >= 1.0 else JourneySampler(ratio, journey_of=journey_of)
