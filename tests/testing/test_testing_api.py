"""The public surface of leadtrace.testing is pinned."""

from __future__ import annotations

import leadtrace.testing
from leadtrace.testing import plugin


def test_public_names_are_pinned() -> None:
    """Adding or removing a public name is a deliberate change to this list."""
    assert sorted(leadtrace.testing.__all__) == [
        "Capture",
        "Failure",
        "FrozenClock",
        "JOURNEY_START",
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
    assert all(hasattr(leadtrace.testing, name) for name in leadtrace.testing.__all__)


def test_journey_assertion_error_is_an_assertion_error() -> None:
    """pytest reports it as a plain assertion failure; it is also a LeadtraceError."""
    assert issubclass(leadtrace.testing.JourneyAssertionError, AssertionError)
    assert issubclass(leadtrace.testing.JourneyAssertionError, leadtrace.LeadtraceError)


def test_plugin_exposes_both_fixtures() -> None:
    """The pytest11 entry point module defines the two fixtures."""
    assert {"leadtrace_capture", "leadtrace_receiver"} <= set(plugin.__all__)
