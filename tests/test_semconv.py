"""Semantic conventions: every name pinned, every emitted attribute declared, docs fresh."""

from __future__ import annotations

from pathlib import Path

from leadtrace import _docgen, events, semconv
from leadtrace.events import CANONICAL_EVENTS, attribute_names

DOCS = Path(__file__).resolve().parents[1] / "docs"

PINNED = {
    "EVENT_NAME": "martech.event.name",
    "EVENT_ID": "martech.event.id",
    "EVENT_SCHEMA_VERSION": "martech.event.schema_version",
    "EVENT_SOURCE_SYSTEM": "martech.event.source_system",
    "EVENT_LAYER": "martech.event.layer",
    "JOURNEY_ID": "martech.journey.id",
    "JOURNEY_STAGE": "martech.journey.stage",
    "JOURNEY_STARTED_AT": "martech.journey.started_at",
    "JOURNEY_ELAPSED": "martech.journey.elapsed",
    "JOURNEY_SYNTHETIC": "martech.journey.synthetic",
    "JOURNEY_ORIGIN": "martech.journey.origin",
    "CAMPAIGN_ID": "martech.campaign.id",
    "CAMPAIGN_SOURCE": "martech.campaign.source",
    "CAMPAIGN_MEDIUM": "martech.campaign.medium",
    "CAMPAIGN_NAME": "martech.campaign.name",
    "CAMPAIGN_TERM": "martech.campaign.term",
    "CAMPAIGN_CONTENT": "martech.campaign.content",
    "CAMPAIGN_CHANNEL": "martech.campaign.channel",
    "CAMPAIGN_OFFER_ID": "martech.campaign.offer_id",
    "CAMPAIGN_CLICK_ID_TYPE": "martech.campaign.click_id_type",
    "CAMPAIGN_ID_SOURCE": "martech.campaign.id_source",
    "CAMPAIGN_TOUCH": "martech.campaign.touch",
    "CAMPAIGN_LAST_ID": "martech.campaign.last_touch.id",
    "CAMPAIGN_LAST_SOURCE": "martech.campaign.last_touch.source",
    "CAMPAIGN_LAST_MEDIUM": "martech.campaign.last_touch.medium",
    "CAMPAIGN_LAST_NAME": "martech.campaign.last_touch.name",
    "CAMPAIGN_LAST_CHANNEL": "martech.campaign.last_touch.channel",
    "CAMPAIGN_LAST_CLICK_ID_TYPE": "martech.campaign.last_touch.click_id_type",
    "CAMPAIGN_COOKIE": "martech.campaign.cookie",
    "CAMPAIGN_ATTRIBUTION_MODEL": "martech.campaign.attribution_model",
    "CAMPAIGN_RULE_VERSION": "martech.campaign.rule_version",
    "SESSION_LANDING_PATH": "martech.session.landing_path",
    "SESSION_REFERRER_HOST": "martech.session.referrer_host",
    "FORM_ID": "martech.form.id",
    "FORM_VERSION": "martech.form.version",
    "FORM_FIELD_NAMES": "martech.form.field_names",
    "CONSENT_STATUS": "martech.consent.status",
    "CONSENT_PURPOSES": "martech.consent.purposes",
    "CONSENT_BASIS": "martech.consent.basis",
    "CONSENT_GPC": "martech.consent.gpc",
    "CONSENT_SOURCE": "martech.consent.source",
    "CONSENT_DROPPED_REASON": "martech.consent.dropped_reason",
    "IDENTITY_EMAIL_HASH": "martech.identity.email_hash",
    "IDENTITY_PHONE_HASH": "martech.identity.phone_hash",
    "IDENTITY_ANONYMOUS_ID": "martech.identity.anonymous_id",
    "IDENTITY_CONTACT_ID": "martech.identity.contact_id",
    "IDENTITY_ACCOUNT_ID": "martech.identity.account_id",
    "IDENTITY_MATCH": "martech.identity.match",
    "LEAD_ID": "martech.lead.id",
    "LEAD_SCORE": "martech.lead.score",
    "LEAD_DEDUPE_OUTCOME": "martech.lead.dedupe_outcome",
    "LEAD_QUALIFICATION": "martech.lead.qualification",
    "ENRICHMENT_PROVIDER": "martech.enrichment.provider",
    "ENRICHMENT_FIELDS_ADDED": "martech.enrichment.fields_added",
    "ENRICHMENT_OUTCOME": "martech.enrichment.outcome",
    "ROUTING_RULE_ID": "martech.routing.rule_id",
    "ROUTING_RULE_VERSION": "martech.routing.rule_version",
    "ROUTING_OWNER_ID": "martech.routing.owner_id",
    "ROUTING_TERRITORY": "martech.routing.territory",
    "ROUTING_QUEUE": "martech.routing.queue",
    "ROUTING_EXPECTED_OWNER_ID": "martech.routing.expected_owner_id",
    "CRM_SYSTEM": "martech.crm.system",
    "CRM_OBJECT": "martech.crm.object",
    "CRM_RECORD_ID": "martech.crm.record_id",
    "CRM_OPERATION": "martech.crm.operation",
    "SALES_OPPORTUNITY_ID": "martech.sales.opportunity_id",
    "SALES_ACKNOWLEDGED_BY": "martech.sales.acknowledged_by",
    "SALES_AMOUNT": "martech.sales.amount",
    "SALES_CURRENCY": "martech.sales.currency",
    "QUALITY_VALID": "martech.quality.valid",
    "QUALITY_VIOLATIONS": "martech.quality.violations",
    "QUALITY_MISSING": "martech.quality.missing",
    "QUALITY_COMPLETE": "martech.quality.complete",
    "FAILURE_LAYER": "martech.failure.layer",
    "FAILURE_REASON": "martech.failure.reason",
    "REDACTED": "martech.redacted",
    # vendor clients
    "VENDOR_NAME": "martech.vendor.name",
    "VENDOR_OPERATION": "martech.vendor.operation",
    "VENDOR_REQUEST_ID": "martech.vendor.request_id",
    "VENDOR_RETRY_COUNT": "martech.vendor.retry_count",
    "VENDOR_RATE_LIMIT_REMAINING": "martech.vendor.rate_limit.remaining",
    "VENDOR_RATE_LIMIT_LIMIT": "martech.vendor.rate_limit.limit",
    "VENDOR_RETRY_AFTER": "martech.vendor.retry_after",
    "VENDOR_PROPERTY_NAMES": "martech.vendor.property_names",
    "VENDOR_MESSAGE_ID": "martech.vendor.message_id",
    "VENDOR_EVENT": "martech.vendor.event",
    "VENDOR_BATCH_SIZE": "martech.vendor.batch.size",
    "VENDOR_BATCH_CREATED": "martech.vendor.batch.created",
    "VENDOR_BATCH_UPDATED": "martech.vendor.batch.updated",
    "VENDOR_BATCH_DROPPED": "martech.vendor.batch.dropped",
    "VENDOR_BATCH_REQUEUED": "martech.vendor.batch.requeued",
    "VENDOR_QUEUED": "martech.vendor.queued",
    "CRM_EXISTING_RECORD_ID": "martech.crm.existing_record_id",
    "CRM_EXTERNAL_ID_FIELD": "martech.crm.external_id_field",
}

PINNED_ENUMS = {
    "LAYERS": ("capture", "identity", "enrichment", "routing", "crm", "sales"),
    "CHANNELS": (
        "paid_search",
        "paid_social",
        "email",
        "organic",
        "referral",
        "direct",
        "other",
    ),
    "CONSENT_STATUSES": ("granted", "denied", "unknown", "withdrawn"),
    "DEDUPE_OUTCOMES": ("created", "updated", "conflict", "duplicate", "ambiguous"),
    "TOUCH_FIRST": "first",
    "TOUCH_LAST": "last",
    "CONSENT_PURPOSE_ANALYTICS": "analytics",
    "CONSENT_PURPOSE_MARKETING": "marketing",
    "CONSENT_PURPOSE_SALES_CONTACT": "sales_contact",
    "CONSENT_SOURCE_GPC": "gpc",
    "CONSENT_SOURCE_TCF": "tcf",
    "CRM_OPERATION_UPSERT": "upsert",
    "QUALIFICATION_SQL": "sql",
    "ENRICHMENT_TIMEOUT": "timeout",
    "REDACTED_MARKER": "[redacted]",
    "VENDOR_HUBSPOT": "hubspot",
    "VENDOR_SALESFORCE": "salesforce",
    "VENDOR_SEGMENT": "segment",
    "VENDOR_RUDDERSTACK": "rudderstack",
    "FAILURE_RATE_LIMITED": "rate_limited",
    "FAILURE_CONFLICT": "conflict",
    "FAILURE_DUPLICATE": "duplicate",
    "FAILURE_AMBIGUOUS": "ambiguous",
    "FAILURE_VALIDATION": "validation",
    "FAILURE_AUTH": "auth",
    "FAILURE_TIMEOUT": "timeout",
    "FAILURE_QUEUE_FULL": "queue_full",
    "FAILURE_SERVER_ERROR": "server_error",
    "MESSAGE_TRACE_ID": "leadtrace_trace_id",
    "MESSAGE_SPAN_ID": "leadtrace_span_id",
    "MESSAGE_JOURNEY_ID": "leadtrace_journey_id",
    "MESSAGE_CAMPAIGN_ID": "leadtrace_campaign_id",
}


def _attribute_constants() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(semconv).items()
        if name.isupper() and isinstance(value, str) and value.startswith("martech.")
    }


def test_attribute_names_are_pinned() -> None:
    """Every martech.* constant has exactly the pinned value (renames are breaking changes)."""
    assert _attribute_constants() == PINNED


def test_enum_values_are_pinned() -> None:
    """Enum values users filter on never change silently."""
    for name, value in PINNED_ENUMS.items():
        assert getattr(semconv, name) == value, name


def test_attribute_names_are_unique() -> None:
    """No two constants share an attribute name."""
    values = list(_attribute_constants().values())
    assert len(values) == len(set(values))


def test_every_event_attribute_is_a_declared_constant() -> None:
    """Every attribute a canonical event can emit is declared in semconv."""
    declared = set(_attribute_constants().values())
    for cls in CANONICAL_EVENTS:
        for path, attr in attribute_names(cls).items():
            assert attr in declared, f"{cls.event_name}.{path} -> {attr} is not in semconv"


def test_every_event_layer_is_a_layer() -> None:
    """Each canonical event declares one of the six layers."""
    assert {cls.event_layer for cls in events.all_events()} <= set(semconv.LAYERS)


def test_generated_docs_are_fresh() -> None:
    """docs/*.md generated from the code match the files on disk (run `make docs` if not)."""
    for name, render in _docgen.PAGES.items():
        on_disk = (DOCS / name).read_text(encoding="utf-8")
        assert on_disk == render(), f"docs/{name} is stale: run `make docs`"
