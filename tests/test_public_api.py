"""The public surface is deliberate: __all__ is pinned."""

from __future__ import annotations

import leadtrace


def test_public_api_is_pinned() -> None:
    """leadtrace.__all__ lists exactly the public API (changing it is a release decision)."""
    assert sorted(leadtrace.__all__) == sorted(
        [
            "BusinessContext",
            "Campaign",
            "ConfigError",
            "ConsentState",
            "Event",
            "EventValidationError",
            "IdentityKeys",
            "Leadtrace",
            "LeadtraceError",
            "__version__",
            "annotate",
            "configure",
            "current_journey",
            "describe",
            "emit",
            "events",
            "extract",
            "identity",
            "inject",
            "journey",
            "record_change",
            "semconv",
            "stage",
        ]
    )


def test_every_public_name_exists_and_is_documented() -> None:
    """Each name in __all__ resolves and callables/classes carry a docstring."""
    for name in leadtrace.__all__:
        obj = getattr(leadtrace, name)
        if callable(obj):
            assert obj.__doc__, name


def test_exceptions_subclass_builtins() -> None:
    """ConfigError and EventValidationError are ValueErrors under one LeadtraceError root."""
    assert issubclass(leadtrace.ConfigError, ValueError)
    assert issubclass(leadtrace.EventValidationError, ValueError)
    assert issubclass(leadtrace.ConfigError, leadtrace.LeadtraceError)
