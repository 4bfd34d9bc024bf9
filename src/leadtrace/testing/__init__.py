"""Journey testing for leadtrace: capture, synthetic identities, journey assertions.

Installing leadtrace registers a pytest plugin with the fixtures ``leadtrace_capture`` (an
in-memory, deterministic setup for one test) and ``leadtrace_receiver`` (an OTLP/HTTP
receiver on 127.0.0.1 for journeys that cross processes). Both expose the same API::

    def test_demo_request(leadtrace_capture):
        person = synthetic_identity()
        with person.journey(campaign=Campaign(id="spring", source="google", medium="cpc")) as j:
            submit_demo_form(person.email)
        leadtrace_capture.journey(j.journey_id) \\
            .assert_stages(["form_submitted", "lead_created", "lead_routed"]) \\
            .assert_consent("lead_routed", "granted") \\
            .assert_healthy()

A failing assertion raises :class:`JourneyAssertionError`, whose message names the first
broken stage, its layer, what was expected and what arrived. See ``docs/testing.md``.
"""

from __future__ import annotations

from leadtrace.testing._capture import Capture, FrozenClock, MetricPoint, SequentialIdGenerator
from leadtrace.testing._journey import (
    JOURNEY_START,
    Failure,
    Journey,
    JourneyAssertionError,
    SpanSource,
)
from leadtrace.testing._receiver import OTLPReceiver
from leadtrace.testing._records import SpanRecord
from leadtrace.testing._synthetic import (
    SyntheticIdentities,
    SyntheticIdentity,
    is_synthetic_email,
    reset_synthetic_identities,
    synthetic_identity,
)

__all__ = [
    "JOURNEY_START",
    "Capture",
    "Failure",
    "FrozenClock",
    "Journey",
    "JourneyAssertionError",
    "MetricPoint",
    "OTLPReceiver",
    "SequentialIdGenerator",
    "SpanRecord",
    "SpanSource",
    "SyntheticIdentities",
    "SyntheticIdentity",
    "is_synthetic_email",
    "reset_synthetic_identities",
    "synthetic_identity",
]
