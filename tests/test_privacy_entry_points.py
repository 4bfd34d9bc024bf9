"""No key is trusted by its name: a raw e-mail or phone given through any public entry point
never reaches OTLP, the local JSON-lines store or the consent audit log."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import leadtrace
from _handles import event_spans
from leadtrace import events, semconv
from leadtrace._local import JsonLinesSpanExporter
from leadtrace._runtime import Leadtrace
from leadtrace.consent import ConsentState
from leadtrace.events import Campaign
from leadtrace.testing import OTLPReceiver

EMAILS = (
    "Jane.Doe@Example.org",
    "JANE.DOE@EXAMPLE.ORG",
    "jane.doe+leads@example.org",
    "jane.doe%40example.org",
    "jane.doe%2Bleads%40example.org",
)
PHONES = (
    "+44 20 7946 0958",
    "(415) 555-0100",
    "415.555.0100",
    "415-555-0100",
    "%2B44%2020%207946%200958",
    "+442079460958",
)
NEEDLES = (
    b"jane.doe",
    b"JANE.DOE",
    b"Jane.Doe",
    b"example.org",
    b"EXAMPLE.ORG",
    b"7946 0958",
    b"79460958",
    b"7946%200958",
    b"(415)",
    b"555-0100",
    b"555.0100",
)
"""Parts of the values above that no exported byte may contain, whatever encoding it left in."""


def _emits(value: str) -> list[tuple[str, dict[str, Any]]]:
    """Every text field of every canonical event, the envelope's included, set to ``value``."""
    envelope = {"event_id": value, "journey_id": value, "source_system": value}
    consent = ConsentState(status="granted", purposes=frozenset({"analytics", value}))
    return [
        ("session_started", {**envelope, "landing_path": f"/p?e={value}", "referrer_host": value}),
        (
            "campaign_attributed",
            {
                **envelope,
                "rule_version": value,
                "campaign": Campaign(id=value, source=value, medium=value, name=value),
            },
        ),
        ("form_viewed", {**envelope, "form_id": value, "form_version": value}),
        (
            "form_submitted",
            {
                **envelope,
                "form_id": value,
                "form_version": value,
                "field_names": ["email", f"contact[{value}]", value],
            },
        ),
        ("consent_captured", {**envelope, "consent": consent}),
        ("lead_created", {**envelope, "lead_id": value, "dedupe_outcome": "created"}),
        (
            "lead_enriched",
            {**envelope, "lead_id": value, "provider": value, "fields_added": [value, "company"]},
        ),
        (
            "lead_routed",
            {
                **envelope,
                "lead_id": value,
                "routing_rule_id": value,
                "routing_rule_version": value,
                "owner_id": value,
                "territory": value,
                "queue": value,
                "expected_owner_id": value,
            },
        ),
        (
            "crm_updated",
            {
                **envelope,
                "crm_system": value,
                "crm_object": value,
                "record_id": value,
                "operation": "upsert",
                "lead_id": value,
                "routing_rule_id": value,
                "owner_id": value,
            },
        ),
        (
            "sales_acknowledged",
            {**envelope, "lead_id": value, "owner_id": value, "acknowledged_by": value},
        ),
        ("lead_qualified", {**envelope, "lead_id": value, "qualification": "mql"}),
        ("opportunity_created", {**envelope, "opportunity_id": value, "lead_id": value}),
    ]


def _feed(value: str) -> None:
    """Give ``value`` to every public entry point once, inside and outside journeys."""
    who = leadtrace.identity(
        email=value, phone=value, contact_id=value, account_id=value, anonymous_id=value
    )
    granted = ConsentState(status="granted", purposes=frozenset({"analytics", value}))
    with leadtrace.journey(
        journey_id=value, identity=who, consent=granted, campaign=Campaign(id=value, term=value)
    ):
        for name, fields in _emits(value):
            leadtrace.emit(name, **fields)
        leadtrace.emit(f"signup {value}", form_id="x")  # an unknown event name
        leadtrace.annotate(identity=leadtrace.identity(contact_id=value))
        leadtrace.emit("lead_created", lead_id="L-1", dedupe_outcome="created")

        @leadtrace.stage(value, layer="capture")
        def free_stage() -> None:
            """A stage whose name came from a visitor."""

        @leadtrace.stage(
            "lead_routed", capture=["lead_id"], result=lambda r: {"routing_rule_id": r}
        )
        def route(lead_id: str) -> str:
            """A registered stage capturing its argument and mapping its result."""
            return lead_id

        free_stage()
        route(value)
    with leadtrace.journey(new=True, identity=leadtrace.identity(account_id=value)):
        leadtrace.emit("form_viewed", form_id="demo")


def _third_party(handle: Leadtrace, value: str) -> None:
    """What other instrumentations record: names, keys, lists and exception messages."""
    with handle.tracer.start_as_current_span(
        f"GET /contacts/{value}",
        attributes={f"crm.field[{value}]": "x", "tags": ["a", value], "http.route": value},
    ) as span:
        span.record_exception(ValueError(f"bad contact {value}"))
        span.add_event(f"retry {value}", {"contact": value})


class _Once:
    """Shuts a handle down once: by the test (to read what it exported) or at teardown."""

    def __init__(self, handle: Leadtrace) -> None:
        self.handle = handle
        self.done = False

    def __call__(self) -> None:
        if not self.done:
            self.done = True
            self.handle.shutdown()


Sinks = tuple[Leadtrace, OTLPReceiver, Path, _Once]


@pytest.fixture
def sinks(tmp_path: Path) -> Iterator[Sinks]:
    """A lenient handle exporting over OTLP and to the JSON-lines store, with an audit log."""
    with OTLPReceiver() as receiver:
        handle = leadtrace.configure(
            service_name="landing-web",
            endpoint=receiver.url,
            validation="lenient",
            hash_key="s" * 48,
            consent_audit_log=str(tmp_path / "consent-audit.jsonl"),
            span_exporters=[JsonLinesSpanExporter(tmp_path / "store")],
            metric_readers=[InMemoryMetricReader()],
            local=True,
            environ={},
        )
        stop = _Once(handle)
        with handle.activate():
            yield handle, receiver, tmp_path, stop
        stop()


def _exported(receiver: OTLPReceiver, directory: Path) -> dict[str, bytes]:
    """Everything that left: the OTLP spans as received, the store and the audit log."""
    return {
        "otlp": repr(receiver.records()).encode(),
        "store": (directory / "store" / "spans.jsonl").read_bytes(),
        "audit": (directory / "consent-audit.jsonl").read_bytes(),
    }


def _hits(exported: dict[str, bytes]) -> dict[str, list[bytes]]:
    found = {
        where: [n for n in NEEDLES if n in data or n in urllib.parse.unquote_to_bytes(data)]
        for where, data in exported.items()
    }
    return {where: hits for where, hits in found.items() if hits}


def test_every_event_field_set_here_is_valid() -> None:
    """The sweep sets real event fields (a field dropped as invalid would prove nothing)."""
    for value in (*EMAILS, *PHONES):
        for name, fields in _emits(value):
            events.get(name).model_validate(fields)


@pytest.mark.parametrize("value", [*EMAILS, *PHONES])
def test_no_entry_point_lets_a_raw_value_out(sinks: Sinks, value: str) -> None:
    """Every event field, event and stage names, identity ids, consent purposes, journey
    ids and third-party names, keys and messages: zero hits in every export."""
    handle, receiver, directory, stop = sinks
    _feed(value)
    _third_party(handle, value)
    stop()
    exported = _exported(receiver, directory)
    assert len(event_spans(receiver.records())) == 18  # and the journeys' own spans
    assert b'"consent_captured"' in exported["audit"]
    for data in exported.values():
        assert semconv.REDACTED_MARKER.encode() in data
    assert _hits(exported) == {}


def test_ids_dates_timestamps_and_addresses_pass_unchanged(sinks: Sinks) -> None:
    """The net has no false positives on the ids and numbers real spans carry."""
    handle, receiver, _, stop = sinks
    values = {
        "lead_id": "L-20260302-0001",
        "routing_rule_id": "emea-2024-05-01",
        "owner_id": "0051t000004AbCdEFG",
        "routing_rule_version": "2024.05.01",
        "territory": "192.168.100.200",
        "queue": "123e4567-e89b-12d3-a456-426614174000",
        "expected_owner_id": "ts=1764151200000",
    }
    leadtrace.emit("lead_routed", event_id="4bf92f3577b34da6a3ce929d0e0e4736", **values)
    leadtrace.emit("crm_updated", crm_system="hubspot", crm_object="contact",
                   record_id="51234567890", operation="upsert")  # fmt: skip
    with handle.tracer.start_as_current_span(
        "GET /api/v2/contacts/51234567890",
        attributes={"client.address": "203.0.113.9", "when": "2024-01-15 10:00:00"},
    ):
        pass
    stop()
    routed, crm, client = receiver.records()
    assert routed.attributes[semconv.EVENT_ID] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert {k: routed.attributes[f"martech.{_ATTR[k]}"] for k in values} == values
    assert crm.attributes[semconv.CRM_RECORD_ID] == "51234567890"
    assert client.name == "GET /api/v2/contacts/51234567890"
    assert client.attributes["client.address"] == "203.0.113.9"
    assert client.attributes["when"] == "2024-01-15 10:00:00"
    assert not [r for r in receiver.records() if semconv.REDACTED in r.attributes]


_ATTR = {
    "lead_id": "lead.id",
    "routing_rule_id": "routing.rule_id",
    "owner_id": "routing.owner_id",
    "routing_rule_version": "routing.rule_version",
    "territory": "routing.territory",
    "queue": "routing.queue",
    "expected_owner_id": "routing.expected_owner_id",
}
