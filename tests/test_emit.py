"""emit(): one span per event with envelope, payload, journey and quality attributes."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import leadtrace
from _handles import event_spans
from _metrics import counter_points
from leadtrace import _active, events, semconv
from leadtrace._runtime import Leadtrace
from leadtrace.errors import EventValidationError
from leadtrace.events import LeadRouted

CAMPAIGN = leadtrace.Campaign(id="spring", source="google", medium="cpc")
GRANTED = leadtrace.ConsentState(status="granted", purposes=frozenset({"analytics"}))


def _only_span(handle: Leadtrace) -> Any:
    spans = event_spans(handle.finished_spans())
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def test_event_becomes_one_span_with_every_attribute(handle: Leadtrace) -> None:
    """A routed lead inside a journey exports envelope, payload and journey attributes."""
    with leadtrace.journey(campaign=CAMPAIGN, consent=GRANTED) as j:
        event_id = leadtrace.emit(
            LeadRouted(
                lead_id="L-1",
                routing_rule_id="emea-smb",
                routing_rule_version="42",
                owner_id="U-7",
                territory="EMEA",
                queue="smb",
            )
        )
    span = _only_span(handle)
    assert span.name == "lead_routed"
    attrs = dict(span.attributes)
    elapsed = attrs.pop(semconv.JOURNEY_ELAPSED)
    assert 0 <= elapsed < 5
    assert attrs == {
        semconv.EVENT_NAME: "lead_routed",
        semconv.EVENT_ID: event_id,
        semconv.EVENT_SCHEMA_VERSION: "1-0-0",
        semconv.EVENT_LAYER: "routing",
        semconv.JOURNEY_ID: j.journey_id,
        semconv.JOURNEY_STAGE: "lead_routed",
        semconv.JOURNEY_STARTED_AT: attrs[semconv.JOURNEY_STARTED_AT],
        semconv.CAMPAIGN_ID: "spring",
        semconv.CAMPAIGN_SOURCE: "google",
        semconv.CAMPAIGN_MEDIUM: "cpc",
        semconv.CONSENT_STATUS: "granted",
        semconv.CONSENT_PURPOSES: ("analytics",),
        semconv.CONSENT_GPC: False,
        semconv.LEAD_ID: "L-1",
        semconv.ROUTING_RULE_ID: "emea-smb",
        semconv.ROUTING_RULE_VERSION: "42",
        semconv.ROUTING_OWNER_ID: "U-7",
        semconv.ROUTING_TERRITORY: "EMEA",
        semconv.ROUTING_QUEUE: "smb",
        semconv.QUALITY_COMPLETE: True,
    }


def test_span_starts_at_occurred_at(handle: Leadtrace) -> None:
    """An event reported late keeps its own time: span start = occurred_at."""
    occurred = datetime.now(timezone.utc) - timedelta(minutes=3)
    leadtrace.emit("sales_acknowledged", lead_id="L-1", occurred_at=occurred)
    span = _only_span(handle)
    assert span.start_time == int(occurred.timestamp() * 1e9)


def test_emit_by_name_with_fields(handle: Leadtrace) -> None:
    """emit("name", **fields) validates and exports like a built event."""
    leadtrace.emit("form_submitted", form_id="demo", field_names=["email", "company"])
    attrs = _only_span(handle).attributes
    assert attrs[semconv.FORM_ID] == "demo"
    assert attrs[semconv.FORM_FIELD_NAMES] == ("email", "company")


def test_event_fields_override_journey(handle: Leadtrace) -> None:
    """An event's own campaign wins over the journey's."""
    with leadtrace.journey(campaign=CAMPAIGN):
        leadtrace.emit("form_viewed", form_id="f", campaign={"id": "override"})
    attrs = _only_span(handle).attributes
    assert attrs[semconv.CAMPAIGN_ID] == "override"


def test_quality_verdict_lists_missing_contract_fields(handle: Leadtrace) -> None:
    """A CRM write without lead score or routing rule is marked incomplete, naming both."""
    with leadtrace.journey(campaign=CAMPAIGN, consent=GRANTED):
        leadtrace.emit(
            "crm_updated",
            crm_system="hubspot",
            crm_object="contact",
            operation="create",
            record_id="101",
        )
    attrs = _only_span(handle).attributes
    assert attrs[semconv.QUALITY_COMPLETE] is False
    assert attrs[semconv.QUALITY_MISSING] == (
        "martech.lead.score",
        "martech.routing.rule_id",
    )


def test_strict_mode_raises_naming_event_field_and_rule(handle: Leadtrace) -> None:
    """In strict mode a wrong type raises EventValidationError naming event, field and rule."""
    with pytest.raises(EventValidationError) as info:
        leadtrace.emit(
            "lead_routed", lead_id="L-1", routing_rule_id="r", campaign={"channel": "tv"}
        )
    assert info.value.event == "lead_routed"
    assert info.value.violations[0].location == "campaign.channel"
    assert info.value.violations[0].type == "literal_error"
    assert "event 'lead_routed': field 'campaign.channel' broke rule 'literal_error'" in str(
        info.value
    )
    assert handle.finished_spans() == []


def test_strict_mode_unknown_event(handle: Leadtrace) -> None:
    """An unknown event name is a validation error in strict mode."""
    with pytest.raises(EventValidationError, match="unknown_event"):
        leadtrace.emit("lead_teleported", lead_id="x")


def test_lenient_mode_keeps_the_valid_part(
    lenient: Leadtrace, metric_reader: InMemoryMetricReader, caplog: pytest.LogCaptureFixture
) -> None:
    """Lenient mode exports the valid fields, marks violations, counts and logs one record."""
    secret = "jane.doe@example.com"
    with caplog.at_level(logging.WARNING, logger="leadtrace.events"):
        event_id = leadtrace.emit(
            "lead_routed",
            lead_id="L-1",
            owner_id=secret,
            routing_rule_version=7,
            campaign={"channel": "tv", "id": "x"},
        )
    attrs = _only_span(lenient).attributes
    assert attrs[semconv.EVENT_ID] == event_id
    assert attrs[semconv.LEAD_ID] == "L-1"
    assert semconv.CAMPAIGN_ID not in attrs
    assert attrs[semconv.QUALITY_VALID] is False
    assert set(attrs[semconv.QUALITY_VIOLATIONS]) == {
        "routing_rule_id:missing",
        "routing_rule_version:string_type",
        "campaign.channel:literal_error",
    }
    assert counter_points(metric_reader, "leadtrace.events.invalid") == {
        ((semconv.EVENT_NAME, "lead_routed"),): 1
    }
    records = [json.loads(r.getMessage()) for r in caplog.records]
    assert len(records) == 1
    record = records[0]
    assert record["event"] == "failed_event"
    assert record["failed_event"] == "lead_routed"
    assert record["event_id"] == event_id
    assert {"location": "routing_rule_id", "type": "missing"} in record["violations"]
    assert "failure_time" in record
    assert "7" not in json.dumps(record["violations"])
    assert secret not in caplog.text.replace("owner_id", "")  # the value never leaks


def test_lenient_mode_unknown_event_still_emits(lenient: Leadtrace) -> None:
    """Even an unknown event name leaves a span marked invalid: nothing is dropped."""
    leadtrace.emit("lead_teleported", lead_id="x")
    span = _only_span(lenient)
    assert span.name == "lead_teleported"
    assert span.attributes[semconv.QUALITY_VIOLATIONS] == ("<event>:unknown_event",)


def test_lenient_mode_survives_internal_failures(
    lenient: Leadtrace, monkeypatch: pytest.MonkeyPatch, metric_reader: InMemoryMetricReader
) -> None:
    """A failure inside event conversion is swallowed, counted, and the id still returned."""

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("conversion bug")

    monkeypatch.setattr("leadtrace._emit.event_attributes", broken)
    event_id = leadtrace.emit("form_viewed", form_id="f")
    assert len(event_id) == 32
    points = counter_points(metric_reader, "leadtrace.internal_errors")
    assert points == {(("error.type", "RuntimeError"), ("where", "emit")): 1}


def test_strict_mode_surfaces_internal_failures(
    handle: Leadtrace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In strict mode an internal bug is re-raised so development catches it."""

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("conversion bug")

    monkeypatch.setattr("leadtrace._emit.event_attributes", broken)
    with pytest.raises(RuntimeError, match="conversion bug"):
        leadtrace.emit("form_viewed", form_id="f")


def test_lenient_mode_survives_a_failing_processor(
    lenient: Leadtrace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crashing business-context processor does not break the app's span or emit()."""

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("processor bug")

    monkeypatch.setattr("leadtrace.processors.current_journey", broken)
    with leadtrace.journey(campaign=CAMPAIGN):
        leadtrace.emit("form_viewed", form_id="f")
        with lenient.tracer_provider.get_tracer("app").start_as_current_span("app-span"):
            pass
    assert sorted(s.name for s in lenient.finished_spans()) == [
        "app-span",
        "form_viewed",
        "journey",
    ]


def test_lenient_mode_survives_a_failing_exporter(metric_reader: InMemoryMetricReader) -> None:
    """An exporter that raises never reaches user code."""
    from opentelemetry.sdk.trace.export import SpanExporter

    class Exploding(SpanExporter):
        def export(self, spans: object) -> Any:
            raise ConnectionError("collector down")

    h = leadtrace.configure(
        service_name="s",
        validation="lenient",
        local=True,
        span_exporters=[Exploding()],
        environ={},
    )
    with h.activate():
        assert leadtrace.emit("form_viewed", form_id="f")
    h.shutdown()


def test_event_hooks_receive_event_and_attributes(handle: Leadtrace) -> None:
    """on_event hooks get each emitted event and its span attributes."""
    seen: list[tuple[str, str]] = []
    handle.on_event(lambda event, attrs: seen.append((event.event_name, attrs[semconv.EVENT_ID])))
    event_id = leadtrace.emit("form_viewed", form_id="f")
    assert seen == [("form_viewed", event_id)]


def test_emit_without_configure_uses_the_global_proxy() -> None:
    """Before configure(), emit works (no-op tracer) and returns an id."""

    assert _active.global_handle() is None
    assert len(leadtrace.emit("form_viewed", form_id="f")) == 32


def test_identity_on_event_is_dropped_without_consent(handle: Leadtrace) -> None:
    """Identity keys passed on the event itself obey consent like the journey's."""
    leadtrace.emit("form_submitted", form_id="f", identity={"email_hash": "ab" * 32})
    attrs = _only_span(handle).attributes
    assert semconv.IDENTITY_EMAIL_HASH not in attrs
    assert attrs[semconv.CONSENT_DROPPED_REASON] == (
        "analytics consent unknown: identity keys dropped"
    )


def test_registry_event_class_can_be_passed(handle: Leadtrace) -> None:
    """emit(EventClass, **fields) works like the name form."""
    leadtrace.emit(events.get("lead_qualified"), lead_id="L", qualification="sql")
    assert _only_span(handle).attributes[semconv.LEAD_QUALIFICATION] == "sql"


def test_emitted_values_are_scrubbed_before_export(handle: Leadtrace) -> None:
    """An e-mail in an event field or in the journey's campaign never reaches the exporter."""
    with leadtrace.journey(campaign=leadtrace.Campaign(id="c", name="promo for jane@example.com")):
        leadtrace.emit(
            "lead_routed", lead_id="L-1", routing_rule_id="r", owner_id="bob@example.com"
        )
        leadtrace.emit("lead_routed", lead_id="L-2", routing_rule_id="r", owner_id="U-7")
    first, second = event_spans(handle.finished_spans())
    assert first.attributes[semconv.ROUTING_OWNER_ID] == "[redacted]"
    assert first.attributes[semconv.CAMPAIGN_NAME] == "promo for [redacted]"
    assert first.attributes[semconv.REDACTED] == (semconv.CAMPAIGN_NAME, semconv.ROUTING_OWNER_ID)
    assert second.attributes[semconv.ROUTING_OWNER_ID] == "U-7"
    assert second.attributes[semconv.REDACTED] == (semconv.CAMPAIGN_NAME,)


def test_vendor_supplied_values_are_scrubbed(handle: Leadtrace) -> None:
    """A CRM record id, territory or failure reason holding an e-mail is redacted."""
    leadtrace.emit(
        "crm_updated",
        crm_system="x",
        crm_object="contact",
        operation="create",
        record_id="jane.doe@example.com",
    )
    leadtrace.emit("lead_routed", lead_id="L", routing_rule_id="r", territory="bob@example.com")

    @leadtrace.stage("crm_updated", reason=str)
    def write() -> None:
        raise ValueError("duplicate of carol@example.com")

    with pytest.raises(ValueError, match="duplicate"):
        write()
    crm, routed, failed = event_spans(handle.finished_spans())
    assert crm.attributes[semconv.CRM_RECORD_ID] == "[redacted]"
    assert routed.attributes[semconv.ROUTING_TERRITORY] == "[redacted]"
    assert failed.attributes[semconv.FAILURE_REASON] == "duplicate of [redacted]"


def test_withdrawal_on_the_event_drops_inherited_identity(handle: Leadtrace) -> None:
    """A consent_captured withdrawal exports no identity keys, even from a granted journey."""
    ident = leadtrace.IdentityKeys(email_hash="ab" * 32, contact_id="C-1")
    with leadtrace.journey(identity=ident, consent=GRANTED):
        leadtrace.emit("consent_captured", consent={"status": "withdrawn"})
    attrs = _only_span(handle).attributes
    assert attrs[semconv.CONSENT_STATUS] == "withdrawn"
    assert not [k for k in attrs if k.startswith("martech.identity.")]
    assert attrs[semconv.CONSENT_DROPPED_REASON] == (
        "analytics consent withdrawn: identity keys dropped"
    )


def test_internal_error_log_is_scrubbed(
    lenient: Leadtrace, caplog: pytest.LogCaptureFixture
) -> None:
    """A swallowed failure whose message quotes an e-mail is logged without it."""

    def broken(_: object) -> dict[str, object]:
        raise ValueError("bad input for jane.doe@example.com")

    @leadtrace.stage("lead_routed", result=broken)
    def route() -> None:
        return None

    with caplog.at_level(logging.WARNING, logger="leadtrace"):
        route()
    assert "leadtrace internal error in stage.result" in caplog.text
    assert "ValueError: bad input for [redacted]" in caplog.text
    assert "jane.doe" not in caplog.text


def test_unknown_event_names_share_one_metric_label(
    lenient: Leadtrace, metric_reader: InMemoryMetricReader
) -> None:
    """Invalid counts for unregistered names use one overflow label (bounded series)."""
    for n in range(3):
        leadtrace.emit(f"made_up_{n}", lead_id="x")
    assert counter_points(metric_reader, "leadtrace.events.invalid") == {
        ((semconv.EVENT_NAME, "_unknown"),): 3
    }


def test_event_own_nested_values_are_scrubbed(handle: Leadtrace) -> None:
    """An e-mail inside the event's own campaign (not the journey's) is redacted too."""
    with leadtrace.journey(campaign=leadtrace.Campaign(id="c")):
        leadtrace.emit("form_viewed", form_id="f", campaign={"id": "c", "content": "a@b.example"})
    attrs = _only_span(handle).attributes
    assert attrs[semconv.CAMPAIGN_CONTENT] == "[redacted]"
    assert attrs[semconv.REDACTED] == (semconv.CAMPAIGN_CONTENT,)
