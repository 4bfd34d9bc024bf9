"""Canonical event models and the registry."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import ValidationError

from leadtrace import events
from leadtrace.errors import ConfigError
from leadtrace.events import (
    CANONICAL_EVENTS,
    Event,
    Layer,
    LeadRouted,
    UnknownEventError,
)

EXPECTED_LAYERS = {
    "session_started": "capture",
    "campaign_attributed": "capture",
    "form_viewed": "capture",
    "form_submitted": "capture",
    "consent_captured": "capture",
    "lead_created": "identity",
    "lead_enriched": "enrichment",
    "lead_routed": "routing",
    "crm_updated": "crm",
    "sales_acknowledged": "sales",
    "lead_qualified": "sales",
    "opportunity_created": "sales",
}


def test_twelve_canonical_events_with_their_layers() -> None:
    """The twelve canonical events exist with the layer DESIGN.md assigns."""
    assert {c.event_name: c.event_layer for c in CANONICAL_EVENTS} == EXPECTED_LAYERS


def test_envelope_defaults() -> None:
    """A new event gets a 32-hex event id, an aware occurred_at and schema version 1-0-0."""
    event = LeadRouted(lead_id="L-1", routing_rule_id="r")
    assert len(event.event_id) == 32
    assert event.occurred_at.tzinfo is not None
    assert event.schema_version == "1-0-0"


def test_serialized_event_round_trips() -> None:
    """model_dump output (with schema_version) validates back into the same event."""
    event = LeadRouted(lead_id="L-1", routing_rule_id="r", owner_id="U")
    assert LeadRouted.model_validate(event.model_dump()) == event


def test_wrong_schema_version_is_rejected() -> None:
    """A payload claiming another version of the event is refused."""
    with pytest.raises(ValidationError, match="does not match"):
        LeadRouted.model_validate(
            {"lead_id": "L", "routing_rule_id": "r", "schema_version": "2-0-0"}
        )


def test_extra_fields_are_rejected() -> None:
    """Schemas are closed: an unknown field is an error."""
    with pytest.raises(ValidationError, match="extra"):
        LeadRouted.model_validate({"lead_id": "L", "routing_rule_id": "r", "colour": "red"})


def test_get_returns_latest_and_exact_versions() -> None:
    """events.get finds the latest version by default and an exact one on request."""
    assert events.get("lead_routed") is LeadRouted
    assert events.get("lead_routed", "1-0-0") is LeadRouted


def test_unknown_event_lists_registered_ones() -> None:
    """Looking up an unknown event names what is registered."""
    with pytest.raises(UnknownEventError, match="lead_routed"):
        events.get("lead_routd")
    with pytest.raises(UnknownEventError, match="no version"):
        events.get("lead_routed", "9-0-0")


def test_user_events_register_with_versions() -> None:
    """A user event registers, resolves by version, and the newest version wins by default."""

    @events.register
    class DemoBooked(Event):
        event_name: ClassVar[str] = "demo_booked"
        event_layer: ClassVar[Layer] = "sales"
        meeting_id: str

    @events.register
    class DemoBookedV2(Event):
        event_name: ClassVar[str] = "demo_booked"
        event_layer: ClassVar[Layer] = "sales"
        event_version: ClassVar[str] = "1-0-1"
        meeting_id: str
        slot: str | None = None

    try:
        assert events.get("demo_booked") is DemoBookedV2
        assert events.get("demo_booked", "1-0-0") is DemoBooked
        events.unregister("demo_booked", "1-0-1")  # the newest left is the latest again
        assert events.get("demo_booked") is DemoBooked
    finally:
        events.unregister("demo_booked")
    with pytest.raises(UnknownEventError):
        events.get("demo_booked")


@pytest.mark.parametrize(
    ("attrs", "needle"),
    [
        ({"event_name": "Demo Booked"}, "snake_case"),
        ({"event_name": "demo_x", "event_layer": "marketing"}, "event_layer"),
        ({"event_name": "demo_y", "event_version": "1.0.0"}, "SchemaVer"),
    ],
)
def test_invalid_registrations_are_loud(attrs: dict[str, str], needle: str) -> None:
    """Bad names, layers or versions raise ConfigError at registration."""
    cls = type("Bad", (Event,), {"__annotations__": {}, **attrs})
    with pytest.raises(ConfigError, match=needle):
        events.register(cls)


def test_published_version_cannot_be_replaced() -> None:
    """Registering another class under a taken name and version is refused."""

    class Impostor(LeadRouted):
        pass

    with pytest.raises(ConfigError, match="immutable"):
        events.register(Impostor)


def test_all_events_sorted() -> None:
    """all_events yields every registered event sorted by name."""
    names = [c.event_name for c in events.all_events()]
    assert names == sorted(names)
    assert set(EXPECTED_LAYERS) <= set(names)
