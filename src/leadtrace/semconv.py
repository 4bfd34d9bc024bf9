"""Semantic conventions: every ``martech.*`` attribute name and enum value leadtrace emits.

One namespace, one place. Each constant is ``Final`` and documented by the string literal that
follows it; ``docs/semconv.md`` is generated from this module (``make docs``) and a test fails
when the page is stale. Where OpenTelemetry already has a name (``deployment.environment.name``,
``service.version``, ``http.*``) leadtrace reuses it instead of inventing one.

Values are grouped by prefix: ``martech.event.*``, ``martech.journey.*``,
``martech.campaign.*``, ``martech.session.*``, ``martech.form.*``, ``martech.consent.*``,
``martech.identity.*``, ``martech.lead.*``, ``martech.enrichment.*``, ``martech.routing.*``,
``martech.crm.*``, ``martech.sales.*``, ``martech.quality.*``, ``martech.failure.*`` and
``martech.redacted``.

Owns: every ``martech.*`` attribute name and enum value.

May import: nothing of leadtrace: every part may import it.
"""

from __future__ import annotations

from typing import Final

# --- martech.event.* ---------------------------------------------------------------------------

EVENT_NAME: Final = "martech.event.name"
"""Canonical event name, e.g. ``lead_routed``. Also the span name of an emitted event."""

EVENT_ID: Final = "martech.event.id"
"""Unique event id; doubles as the idempotency key when the event is replayed."""

EVENT_SCHEMA_VERSION: Final = "martech.event.schema_version"
"""SchemaVer (MODEL-REVISION-ADDITION) of the event's schema, e.g. ``1-0-0``."""

EVENT_SOURCE_SYSTEM: Final = "martech.event.source_system"
"""System that observed the event when it is not the exporting service, e.g. ``hubspot``."""

EVENT_LAYER: Final = "martech.event.layer"
"""Layer of the revenue path the event belongs to; one of the ``LAYER_*`` values."""

# --- martech.journey.* -------------------------------------------------------------------------

JOURNEY_ID: Final = "martech.journey.id"
"""Journey (correlation) id shared by every span of one prospect's path from click to sales."""

JOURNEY_STAGE: Final = "martech.journey.stage"
"""Stage of the journey a span belongs to (the canonical event or ``@stage`` name)."""

JOURNEY_STARTED_AT: Final = "martech.journey.started_at"
"""Journey start time, ISO 8601 in UTC, e.g. ``2026-11-26T10:00:00.000Z``."""

JOURNEY_ELAPSED: Final = "martech.journey.elapsed"
"""Seconds from journey start to this event (double); the basis of latency SLIs."""

JOURNEY_SYNTHETIC: Final = "martech.journey.synthetic"
"""``true`` for synthetic (test) journeys, so dashboards and SLIs can include or exclude them."""

JOURNEY_ORIGIN: Final = "martech.journey.origin"
"""How a web request got its journey; one of the ``JOURNEY_ORIGIN_*`` values."""

# --- martech.campaign.* ------------------------------------------------------------------------

CAMPAIGN_ID: Final = "martech.campaign.id"
"""Campaign identifier (``utm_id`` or the platform's campaign id)."""

CAMPAIGN_SOURCE: Final = "martech.campaign.source"
"""Traffic source (``utm_source``), e.g. ``google``, ``newsletter``."""

CAMPAIGN_MEDIUM: Final = "martech.campaign.medium"
"""Marketing medium (``utm_medium``), e.g. ``cpc``, ``email``."""

CAMPAIGN_NAME: Final = "martech.campaign.name"
"""Campaign name (``utm_campaign``)."""

CAMPAIGN_TERM: Final = "martech.campaign.term"
"""Paid search term (``utm_term``)."""

CAMPAIGN_CONTENT: Final = "martech.campaign.content"
"""Ad content / variant (``utm_content``)."""

CAMPAIGN_CHANNEL: Final = "martech.campaign.channel"
"""Derived channel; one of the ``CHANNEL_*`` values."""

CAMPAIGN_OFFER_ID: Final = "martech.campaign.offer_id"
"""Offer (asset, webinar, demo) the prospect responded to."""

CAMPAIGN_CLICK_ID_TYPE: Final = "martech.campaign.click_id_type"
"""Which click id arrived (``gclid``, ``fbclid``, ...); the click id value is never recorded."""

CAMPAIGN_TOUCH: Final = "martech.campaign.touch"
"""Attribution touch the campaign fields describe; one of the ``TOUCH_*`` values."""

CAMPAIGN_LAST_ID: Final = "martech.campaign.last_touch.id"
"""Campaign id of the latest non-direct visit (last touch). The ``last_touch`` attributes are
set on web server spans only when the last touch differs from the first (``martech.campaign.*``)."""

CAMPAIGN_LAST_SOURCE: Final = "martech.campaign.last_touch.source"
"""Traffic source of the last-touch visit."""

CAMPAIGN_LAST_MEDIUM: Final = "martech.campaign.last_touch.medium"
"""Marketing medium of the last-touch visit."""

CAMPAIGN_LAST_NAME: Final = "martech.campaign.last_touch.name"
"""Campaign name of the last-touch visit."""

CAMPAIGN_LAST_CHANNEL: Final = "martech.campaign.last_touch.channel"
"""Derived channel of the last-touch visit; one of the ``CHANNEL_*`` values."""

CAMPAIGN_LAST_CLICK_ID_TYPE: Final = "martech.campaign.last_touch.click_id_type"
"""Click id type of the last-touch visit (never the click id value)."""

CAMPAIGN_COOKIE: Final = "martech.campaign.cookie"
"""What became of the signed first-touch cookie on this request; one of the ``COOKIE_*`` values."""

CAMPAIGN_ATTRIBUTION_MODEL: Final = "martech.campaign.attribution_model"
"""Attribution model that picked the campaign, e.g. ``first_touch``."""

CAMPAIGN_RULE_VERSION: Final = "martech.campaign.rule_version"
"""Version of the attribution / channel rule table used, so rule edits are visible."""

# --- martech.session.* -------------------------------------------------------------------------

SESSION_LANDING_PATH: Final = "martech.session.landing_path"
"""Path of the landing page (no query string)."""

SESSION_REFERRER_HOST: Final = "martech.session.referrer_host"
"""Host of the referring page (never its full URL)."""

# --- martech.form.* ----------------------------------------------------------------------------

FORM_ID: Final = "martech.form.id"
"""Form identifier, e.g. ``demo-request``."""

FORM_VERSION: Final = "martech.form.version"
"""Form version; changes with every field or validation change."""

FORM_FIELD_NAMES: Final = "martech.form.field_names"
"""Names (never values) of the fields a submitted form carried (string array)."""

# --- martech.consent.* -------------------------------------------------------------------------

CONSENT_STATUS: Final = "martech.consent.status"
"""Consent status at this step; one of the ``CONSENT_STATUS_*`` values."""

CONSENT_PURPOSES: Final = "martech.consent.purposes"
"""Purposes consented to (string array), e.g. ``["analytics", "marketing"]``."""

CONSENT_BASIS: Final = "martech.consent.basis"
"""Lawful basis; one of the ``CONSENT_BASIS_*`` values."""

CONSENT_GPC: Final = "martech.consent.gpc"
"""``true`` when the browser sent ``Sec-GPC: 1`` (Global Privacy Control)."""

CONSENT_SOURCE: Final = "martech.consent.source"
"""Where the consent state came from; one of the ``CONSENT_SOURCE_*`` values."""

CONSENT_DROPPED_REASON: Final = "martech.consent.dropped_reason"
"""Why identity keys were dropped from this span (set only when they were)."""

# --- martech.identity.* ------------------------------------------------------------------------

IDENTITY_EMAIL_HASH: Final = "martech.identity.email_hash"
"""HMAC-SHA256 (hex) of the normalised e-mail address. The address itself is never recorded."""

IDENTITY_PHONE_HASH: Final = "martech.identity.phone_hash"
"""HMAC-SHA256 (hex) of the E.164 phone number. The number itself is never recorded."""

IDENTITY_ANONYMOUS_ID: Final = "martech.identity.anonymous_id"
"""First-party anonymous (cookie / device) id."""

IDENTITY_CONTACT_ID: Final = "martech.identity.contact_id"
"""CRM contact id."""

IDENTITY_ACCOUNT_ID: Final = "martech.identity.account_id"
"""CRM account id."""

IDENTITY_MATCH: Final = "martech.identity.match"
"""Identity resolution outcome; one of the ``IDENTITY_MATCH_*`` values."""

# --- martech.lead.* ----------------------------------------------------------------------------

LEAD_ID: Final = "martech.lead.id"
"""Lead identifier in the system of record."""

LEAD_SCORE: Final = "martech.lead.score"
"""Lead score (double)."""

LEAD_DEDUPE_OUTCOME: Final = "martech.lead.dedupe_outcome"
"""Deduplication outcome; one of the ``DEDUPE_*`` values."""

LEAD_QUALIFICATION: Final = "martech.lead.qualification"
"""Qualification stage reached; one of the ``QUALIFICATION_*`` values."""

# --- martech.enrichment.* ----------------------------------------------------------------------

ENRICHMENT_PROVIDER: Final = "martech.enrichment.provider"
"""Enrichment vendor or service, e.g. ``clearbit``."""

ENRICHMENT_FIELDS_ADDED: Final = "martech.enrichment.fields_added"
"""Names of the fields the enrichment filled (string array)."""

ENRICHMENT_OUTCOME: Final = "martech.enrichment.outcome"
"""Enrichment outcome; one of the ``ENRICHMENT_*`` values."""

# --- martech.routing.* -------------------------------------------------------------------------

ROUTING_RULE_ID: Final = "martech.routing.rule_id"
"""Routing rule that assigned the owner."""

ROUTING_RULE_VERSION: Final = "martech.routing.rule_version"
"""Version of the routing rule set, so routing-rule drift is visible."""

ROUTING_OWNER_ID: Final = "martech.routing.owner_id"
"""Owner (sales rep or team) the lead was assigned to."""

ROUTING_TERRITORY: Final = "martech.routing.territory"
"""Sales territory of the assignment."""

ROUTING_QUEUE: Final = "martech.routing.queue"
"""Queue the lead was placed in."""

ROUTING_EXPECTED_OWNER_ID: Final = "martech.routing.expected_owner_id"
"""Owner the rules say should have been assigned, when a check knows it (routing correctness)."""

# --- martech.crm.* -----------------------------------------------------------------------------

CRM_SYSTEM: Final = "martech.crm.system"
"""CRM written to; e.g. ``hubspot``, ``salesforce``."""

CRM_OBJECT: Final = "martech.crm.object"
"""CRM object type, e.g. ``contact``, ``Lead``."""

CRM_RECORD_ID: Final = "martech.crm.record_id"
"""Id of the CRM record written."""

CRM_OPERATION: Final = "martech.crm.operation"
"""CRM write operation; one of the ``CRM_OPERATION_*`` values."""

# --- martech.sales.* ---------------------------------------------------------------------------

SALES_OPPORTUNITY_ID: Final = "martech.sales.opportunity_id"
"""Opportunity created from the lead."""

SALES_ACKNOWLEDGED_BY: Final = "martech.sales.acknowledged_by"
"""Sales user id that acknowledged the lead (an id, never a name or address)."""

SALES_AMOUNT: Final = "martech.sales.amount"
"""Opportunity amount (double) in ``martech.sales.currency``."""

SALES_CURRENCY: Final = "martech.sales.currency"
"""ISO 4217 currency code of ``martech.sales.amount``."""

# --- martech.quality.* -------------------------------------------------------------------------

QUALITY_VALID: Final = "martech.quality.valid"
"""``false`` when the event failed schema validation (lenient mode kept the valid part)."""

QUALITY_VIOLATIONS: Final = "martech.quality.violations"
"""Violations as ``location:type`` strings, e.g. ``lead_id:missing``. Never the input values."""

QUALITY_MISSING: Final = "martech.quality.missing"
"""Fields the stage's data contract requires that the event did not carry (string array)."""

QUALITY_COMPLETE: Final = "martech.quality.complete"
"""``true`` when every field the stage's data contract requires is present."""

# --- martech.failure.* -------------------------------------------------------------------------

FAILURE_LAYER: Final = "martech.failure.layer"
"""Layer that failed; one of the ``LAYER_*`` values. Set on error spans."""

FAILURE_REASON: Final = "martech.failure.reason"
"""Short machine-readable failure reason, e.g. ``timeout``, ``duplicate``, ``wrong_owner``."""

# --- martech.redacted --------------------------------------------------------------------------

REDACTED: Final = "martech.redacted"
"""Attribute keys whose values the scrubber redacted (string array). Never the matched text."""

# === enum values ===============================================================================

LAYER_CAPTURE: Final = "capture"
"""Web capture: sessions, attribution, forms, consent capture."""
LAYER_IDENTITY: Final = "identity"
"""Identity resolution and lead creation / deduplication."""
LAYER_ENRICHMENT: Final = "enrichment"
"""Enrichment vendors and scoring."""
LAYER_ROUTING: Final = "routing"
"""Lead routing and owner assignment."""
LAYER_CRM: Final = "crm"
"""CRM write-back."""
LAYER_SALES: Final = "sales"
"""Sales acknowledgement, qualification and opportunities."""

LAYERS: Final = (
    LAYER_CAPTURE,
    LAYER_IDENTITY,
    LAYER_ENRICHMENT,
    LAYER_ROUTING,
    LAYER_CRM,
    LAYER_SALES,
)
"""Every layer, in revenue-path order."""

CHANNEL_PAID_SEARCH: Final = "paid_search"
"""Paid search (cpc/ppc on a search engine, or a search click id)."""
CHANNEL_PAID_SOCIAL: Final = "paid_social"
"""Paid social (paid medium on a social network, or a social click id)."""
CHANNEL_EMAIL: Final = "email"
"""E-mail campaigns."""
CHANNEL_ORGANIC: Final = "organic"
"""Organic search (referred by a search engine with no paid markers)."""
CHANNEL_REFERRAL: Final = "referral"
"""Referred by another site."""
CHANNEL_DIRECT: Final = "direct"
"""No referrer and no campaign markers."""
CHANNEL_OTHER: Final = "other"
"""Campaign markers that match no rule."""

CHANNELS: Final = (
    CHANNEL_PAID_SEARCH,
    CHANNEL_PAID_SOCIAL,
    CHANNEL_EMAIL,
    CHANNEL_ORGANIC,
    CHANNEL_REFERRAL,
    CHANNEL_DIRECT,
    CHANNEL_OTHER,
)
"""Every channel value."""

TOUCH_FIRST: Final = "first"
"""First-touch attribution: the campaign of the journey's first visit."""
TOUCH_LAST: Final = "last"
"""Last-touch attribution: the campaign of the latest visit."""

COOKIE_NEW: Final = "new"
"""No first-touch cookie arrived; a new one was set."""
COOKIE_VALID: Final = "valid"
"""The first-touch cookie arrived with a valid signature and was used."""
COOKIE_REJECTED: Final = "rejected"
"""A first-touch cookie arrived but was malformed, oversized or forged; it was ignored."""
COOKIE_NONE: Final = "none"
"""No first-touch cookie arrived and none was set (consent denied or Global Privacy Control)."""

JOURNEY_ORIGIN_NEW: Final = "new"
"""The request started a new journey."""
JOURNEY_ORIGIN_COOKIE: Final = "cookie"
"""The journey continued from the signed first-touch cookie."""
JOURNEY_ORIGIN_HEADER: Final = "header"
"""The journey continued from a ``leadtrace-journey`` header sent by a trusted client."""

CONSENT_STATUS_GRANTED: Final = "granted"
"""Consent given for the recorded purposes."""
CONSENT_STATUS_DENIED: Final = "denied"
"""Consent refused."""
CONSENT_STATUS_UNKNOWN: Final = "unknown"
"""No (valid) consent signal seen."""
CONSENT_STATUS_WITHDRAWN: Final = "withdrawn"
"""Consent given earlier and withdrawn since."""

CONSENT_STATUSES: Final = (
    CONSENT_STATUS_GRANTED,
    CONSENT_STATUS_DENIED,
    CONSENT_STATUS_UNKNOWN,
    CONSENT_STATUS_WITHDRAWN,
)
"""Every consent status."""

CONSENT_PURPOSE_ANALYTICS: Final = "analytics"
"""Measurement and analytics."""
CONSENT_PURPOSE_MARKETING: Final = "marketing"
"""Marketing communication and advertising."""
CONSENT_PURPOSE_SALES_CONTACT: Final = "sales_contact"
"""Being contacted by sales."""
CONSENT_PURPOSE_PERSONALIZATION: Final = "personalization"
"""Personalised content."""

CONSENT_BASIS_CONSENT: Final = "consent"
"""GDPR Art. 6(1)(a) consent."""
CONSENT_BASIS_LEGITIMATE_INTEREST: Final = "legitimate_interest"
"""GDPR Art. 6(1)(f) legitimate interest."""
CONSENT_BASIS_CONTRACT: Final = "contract"
"""GDPR Art. 6(1)(b) contract."""
CONSENT_BASIS_LEGAL_OBLIGATION: Final = "legal_obligation"
"""GDPR Art. 6(1)(c) legal obligation."""

CONSENT_SOURCE_BANNER: Final = "banner"
"""Cookie / consent banner."""
CONSENT_SOURCE_FORM: Final = "form"
"""Checkbox on a form."""
CONSENT_SOURCE_GPC: Final = "gpc"
"""Global Privacy Control header."""
CONSENT_SOURCE_TCF: Final = "tcf"
"""IAB TCF v2 consent string."""
CONSENT_SOURCE_IMPORT: Final = "import"
"""Imported from another system."""

IDENTITY_MATCH_MATCHED: Final = "matched"
"""Resolved to an existing identity."""
IDENTITY_MATCH_NEW: Final = "new"
"""No existing identity; a new one was created."""
IDENTITY_MATCH_AMBIGUOUS: Final = "ambiguous"
"""Several candidate identities; quarantined."""
IDENTITY_MATCH_NONE: Final = "none"
"""Resolution not possible (no keys)."""

DEDUPE_CREATED: Final = "created"
"""New record created (HubSpot 201 / ``new=true``, Salesforce 201, Marketo created)."""
DEDUPE_UPDATED: Final = "updated"
"""Existing record updated (HubSpot ``new=false``, Salesforce 204, Marketo updated)."""
DEDUPE_CONFLICT: Final = "conflict"
"""Create hit an existing record (HubSpot 409 ``Existing ID``, Mailchimp ``Member Exists``)."""
DEDUPE_DUPLICATE: Final = "duplicate"
"""Rejected as duplicate (Salesforce ``DUPLICATES_DETECTED``, Marketo skipped)."""
DEDUPE_AMBIGUOUS: Final = "ambiguous"
"""Several records matched (Salesforce 300)."""

DEDUPE_OUTCOMES: Final = (
    DEDUPE_CREATED,
    DEDUPE_UPDATED,
    DEDUPE_CONFLICT,
    DEDUPE_DUPLICATE,
    DEDUPE_AMBIGUOUS,
)
"""Every dedupe outcome."""

ENRICHMENT_ENRICHED: Final = "enriched"
"""Enrichment added fields."""
ENRICHMENT_NO_MATCH: Final = "no_match"
"""Provider had no data for the lead."""
ENRICHMENT_TIMEOUT: Final = "timeout"
"""Provider did not answer in time."""
ENRICHMENT_ERROR: Final = "error"
"""Provider returned an error."""

CRM_OPERATION_CREATE: Final = "create"
"""Record created."""
CRM_OPERATION_UPDATE: Final = "update"
"""Record updated."""
CRM_OPERATION_UPSERT: Final = "upsert"
"""Record upserted by external id."""
CRM_OPERATION_DELETE: Final = "delete"
"""Record deleted."""

QUALIFICATION_MQL: Final = "mql"
"""Marketing-qualified lead."""
QUALIFICATION_SQL: Final = "sql"
"""Sales-qualified lead."""
QUALIFICATION_DISQUALIFIED: Final = "disqualified"
"""Disqualified."""

REDACTED_MARKER: Final = "[redacted]"
"""Replacement text for an e-mail address or phone number found by the scrubber."""

# === vendor clients (leadtrace.integrations.hubspot / salesforce / segment / rudderstack) =====

# --- martech.vendor.* --------------------------------------------------------------------------

VENDOR_NAME: Final = "martech.vendor.name"
"""Vendor a client span talks to: ``hubspot``, ``salesforce``, ``segment``, ``rudderstack``."""

VENDOR_OPERATION: Final = "martech.vendor.operation"
"""Low-cardinality vendor operation, e.g. ``crm.contacts create``, ``Lead upsert``, ``track``."""

VENDOR_REQUEST_ID: Final = "martech.vendor.request_id"
"""The vendor's id of the request (HubSpot ``correlationId``), to quote to vendor support."""

VENDOR_RETRY_COUNT: Final = "martech.vendor.retry_count"
"""Retries the client made before the final answer (0 when the first attempt answered)."""

VENDOR_RATE_LIMIT_REMAINING: Final = "martech.vendor.rate_limit.remaining"
"""Calls left in the vendor's current rate-limit window, from its response headers."""

VENDOR_RATE_LIMIT_LIMIT: Final = "martech.vendor.rate_limit.limit"
"""Size of the vendor's current rate-limit window (calls), from its response headers."""

VENDOR_RETRY_AFTER: Final = "martech.vendor.retry_after"
"""Seconds the vendor asked the client to wait (``Retry-After``), on rate-limited answers."""

VENDOR_PROPERTY_NAMES: Final = "martech.vendor.property_names"
"""Names of the properties / fields written (string array). Never their values."""

VENDOR_MESSAGE_ID: Final = "martech.vendor.message_id"
"""``messageId`` of a Segment / RudderStack message: joins a warehouse row to its span."""

VENDOR_EVENT: Final = "martech.vendor.event"
"""Event name of a Segment / RudderStack ``track`` call, e.g. ``Demo Requested``."""

VENDOR_BATCH_SIZE: Final = "martech.vendor.batch.size"
"""Records or messages in one batch call or upload."""

VENDOR_BATCH_CREATED: Final = "martech.vendor.batch.created"
"""Records of a batch the vendor reported as newly created (HubSpot ``new=true``)."""

VENDOR_BATCH_UPDATED: Final = "martech.vendor.batch.updated"
"""Records of a batch the vendor reported as updated (HubSpot ``new=false``)."""

VENDOR_BATCH_DROPPED: Final = "martech.vendor.batch.dropped"
"""Messages of an upload the client gave up on (lost unless its ``on_error`` kept them)."""

VENDOR_BATCH_REQUEUED: Final = "martech.vendor.batch.requeued"
"""Messages of a rate-limited upload the client put back on its queue for a later upload."""

VENDOR_QUEUED: Final = "martech.vendor.queued"
"""``false`` when the client's queue was full and the message was dropped on the spot."""

CRM_EXISTING_RECORD_ID: Final = "martech.crm.existing_record_id"
"""Id of the record a create collided with (HubSpot 409 ``Existing ID``)."""

CRM_EXTERNAL_ID_FIELD: Final = "martech.crm.external_id_field"
"""Field an upsert matched on (Salesforce external id field); never the matched value."""

# --- vendor enum values ------------------------------------------------------------------------

VENDOR_HUBSPOT: Final = "hubspot"
"""HubSpot (``hubspot-api-client``)."""
VENDOR_SALESFORCE: Final = "salesforce"
"""Salesforce (``simple-salesforce``)."""
VENDOR_SEGMENT: Final = "segment"
"""Segment (``segment-analytics-python``)."""
VENDOR_RUDDERSTACK: Final = "rudderstack"
"""RudderStack (``rudder-sdk-python``)."""

FAILURE_RATE_LIMITED: Final = "rate_limited"
"""The vendor refused the call for its rate limit (HTTP 429)."""
FAILURE_CONFLICT: Final = "conflict"
"""The record already exists (HubSpot 409)."""
FAILURE_DUPLICATE: Final = "duplicate"
"""The vendor's duplicate rules rejected the record (Salesforce ``DUPLICATES_DETECTED``)."""
FAILURE_AMBIGUOUS: Final = "ambiguous"
"""Several records matched the key (Salesforce 300)."""
FAILURE_VALIDATION: Final = "validation"
"""The vendor rejected the request as invalid (400, 404, 422 and other 4xx)."""
FAILURE_AUTH: Final = "auth"
"""Authentication or permission failure (401, 403)."""
FAILURE_TIMEOUT: Final = "timeout"
"""No answer in time, or the connection failed."""
FAILURE_QUEUE_FULL: Final = "queue_full"
"""The client's in-memory queue was full: the message was dropped before any upload."""
FAILURE_SERVER_ERROR: Final = "server_error"
"""The vendor failed (5xx) or answered something that is not the JSON it documents."""

MESSAGE_TRACE_ID: Final = "leadtrace_trace_id"
"""Key in a Segment / RudderStack message's ``context``: trace id (32 hex) of the span that
produced it (warehouse column ``context_leadtrace_trace_id``)."""

MESSAGE_SPAN_ID: Final = "leadtrace_span_id"
"""Key in a Segment / RudderStack message's ``context``: span id (16 hex) of the span that
produced it; the upload span links to that span."""

MESSAGE_JOURNEY_ID: Final = "leadtrace_journey_id"
"""Key in a Segment / RudderStack message's ``context``: id of the journey it was sent in."""

MESSAGE_CAMPAIGN_ID: Final = "leadtrace_campaign_id"
"""Key in a Segment / RudderStack message's ``context``: campaign id of that journey."""

CAMPAIGN_ID_SOURCE: Final = "martech.campaign.id_source"
"""Landing-URL parameter ``martech.campaign.id`` was taken from (``utm_id``, ``utm_campaign``,
...; the ``campaign_id_params`` setting orders them)."""

COOKIE_DELETED: Final = "deleted"
"""Consent was denied or withdrawn (or ``Sec-GPC: 1`` sent): the first-touch cookie that
arrived was ignored and deleted."""
COOKIE_WITHHELD: Final = "withheld"
"""A first-touch cookie would have been written, but consent does not allow it yet (the
``consent_policy`` setting)."""
