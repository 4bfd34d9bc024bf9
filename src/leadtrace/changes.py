"""Change records: deployments, schema changes, routing-rule edits and vendor incidents.

:func:`record_change` turns one change into a log record (logger ``leadtrace.changes``,
exported over OTLP with ``export_logs``), an event named ``leadtrace.change`` on the current
span when one is recording, a sample of the ``martech.changes`` counter (Prometheus:
``martech_changes_total{martech_change_kind="routing_rule"}``) so dashboards draw changes
from Prometheus with no extra service, and, when a Grafana URL and token are given, a post
to Grafana's annotations HTTP API on a background thread: the caller never waits for it and
it never raises. ``leadtrace change record`` does the same from a deploy script or CI job.

Owns: change records (``record_change``) and their Grafana annotation post.

May import: ``errors`` only; the runtime hands it the handle to record on.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.request
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import trace

from leadtrace.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Meter

    from leadtrace._config import Settings
    from leadtrace._runtime import Leadtrace

__all__ = [
    "CHANGE_KINDS",
    "GrafanaAnnotations",
    "change_counter",
    "grafana_from",
    "record_change",
]

_log = logging.getLogger("leadtrace")
_changes_log = logging.getLogger("leadtrace.changes")

CHANGES: Final = "martech.changes"
"""Counter of recorded changes (``martech_changes_total``)."""
CHANGE_KIND: Final = "martech.change.kind"
"""Kind of change; one of :data:`CHANGE_KINDS`."""
CHANGE_SUMMARY: Final = "martech.change.summary"
"""One-line human summary of the change (span attribute only, scrubbed)."""
CHANGE_LABEL_PREFIX: Final = "martech.change.label."
"""Prefix of the free-form labels of a change (span attributes only)."""
CHANGE_EVENT_SCHEMAS: Final = "martech.change.event_schemas"
"""The deployment change ``configure()`` records: every event schema as ``name:version``
(span event and log record only)."""

CHANGE_KINDS: Final = frozenset(
    {"deployment", "schema_change", "routing_rule", "vendor_incident", "configuration"}
)
"""Kinds a change can have: the only values of the counter's ``martech.change.kind``."""

_LABEL = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_MAX_SUMMARY = 256
_MAX_LABELS = 16


def _check(
    kind: str, summary: str, labels: Mapping[str, Any], scrub: Callable[[str], str]
) -> dict[str, str]:
    if kind not in CHANGE_KINDS:
        raise ConfigError(
            f"change kind {kind!r} is not one of {sorted(CHANGE_KINDS)}; pick the closest"
        )
    if not summary.strip():
        raise ConfigError("a change needs a summary, e.g. 'routing rules v43: EMEA split'")
    bad = [k for k in labels if not _LABEL.match(k)]
    if bad or len(labels) > _MAX_LABELS:
        raise ConfigError(
            f"change labels must be at most {_MAX_LABELS} snake_case names; got {sorted(bad)}"
        )
    return {k: scrub(str(v))[:128] for k, v in sorted(labels.items())}


# Keyed by the meter itself, weakly: an id() key could be reused by a later meter once the
# first is gone, which would then count on the dead meter's counter.
_counters: weakref.WeakKeyDictionary[Meter, Counter] = weakref.WeakKeyDictionary()
_counters_lock = threading.Lock()


def change_counter(meter: Meter) -> Counter:
    """The ``martech.changes`` counter on ``meter`` (created once per meter)."""
    with _counters_lock:
        found = _counters.get(meter)
        if found is None:
            found = _counters[meter] = meter.create_counter(
                CHANGES,
                unit="{change}",
                description="Changes recorded: deployments, schema changes, routing-rule edits...",
            )
    return found


class GrafanaAnnotations:
    """Posts changes to Grafana's annotations HTTP API (``POST /api/annotations``).

    Each post runs on its own daemon thread with a short timeout; failures are logged at
    most once a minute, never raised. Only the token and the content type travel in headers.

    Args:
        url: Grafana's base URL, e.g. ``https://grafana.example.com``.
        token: a service-account token with the annotations:write permission.
        timeout: seconds before a post is abandoned.
    """

    def __init__(self, url: str, token: str, *, timeout: float = 3.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"Grafana URL {url!r} must start with http:// or https://")
        self.endpoint = url.rstrip("/") + "/api/annotations"
        self.token = token
        self.timeout = timeout
        self.failures = 0
        """Posts that failed (Grafana down, slow or refusing); logged, never raised."""
        self._last_failure = -60.0

    def body(self, kind: str, summary: str, labels: Mapping[str, str], at_ms: int) -> bytes:
        """The JSON request body Grafana documents: time, tags and text."""
        tags = ["leadtrace", kind, *(f"{k}:{v}" for k, v in labels.items())]
        return json.dumps({"time": at_ms, "tags": tags, "text": summary}).encode()

    def post(
        self, kind: str, summary: str, labels: Mapping[str, str], at_ms: int
    ) -> threading.Thread:
        """Start the post in the background and return its thread (tests join it)."""
        body = self.body(kind, summary, labels, at_ms)
        thread = threading.Thread(target=self._send, args=(body,), daemon=True)
        thread.start()
        return thread

    def _send(self, body: bytes) -> None:
        request = urllib.request.Request(  # noqa: S310 - the URL's scheme is checked above
            self.endpoint,
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                response.read()
        except Exception as exc:  # a down Grafana must never reach the caller
            self.failures += 1
            now = time.monotonic()
            if now - self._last_failure >= 60:
                self._last_failure = now
                _log.warning("leadtrace: Grafana annotation not posted: %s", exc)


def grafana_from(settings: Settings) -> GrafanaAnnotations | None:
    """The Grafana that ``grafana_url`` and ``grafana_token`` name, or None without both."""
    if settings.grafana_url is None or settings.grafana_token is None:
        return None
    return GrafanaAnnotations(settings.grafana_url, settings.grafana_token)


def record_change(
    handle: Leadtrace,
    kind: str,
    summary: str,
    *,
    scrub: Callable[[str], str],
    grafana: GrafanaAnnotations | None = None,
    **labels: Any,
) -> threading.Thread | None:
    """Record a change through ``handle`` (``leadtrace.record_change`` uses the current one).

    ``scrub`` cleans the summary and label values of personal data before they leave
    (``leadtrace.scrubbing.scrub_text``).

    ``kind`` is one of :data:`CHANGE_KINDS`; ``labels`` (snake_case names, e.g.
    ``rule_version="43"``) go on the span and the Grafana annotation's tags, never on the
    counter, whose only attribute is the kind. Text is scrubbed of e-mail addresses and
    phone numbers.

    Without ``grafana``, the handle's ``grafana_url`` / ``grafana_token`` settings
    (``LEADTRACE_GRAFANA_URL`` / ``LEADTRACE_GRAFANA_TOKEN``) name the Grafana, if any.

    Returns:
        The background thread of the Grafana post, or None when no Grafana is configured.

    Raises:
        ConfigError: ``kind``, ``summary`` or a label name is invalid (the message says which).
    """
    return _record(handle, kind, summary, scrub, grafana, labels, {})


def _record(
    handle: Leadtrace,
    kind: str,
    summary: str,
    scrub: Callable[[str], str],
    grafana: GrafanaAnnotations | None,
    labels: Mapping[str, Any],
    details: Mapping[str, Any],
) -> threading.Thread | None:
    """:func:`record_change`, plus ``details``: facts leadtrace itself records on the span
    event and log record (not labels: no length cap, no Grafana tag)."""
    clean = _check(kind, summary, labels, scrub)
    text = scrub(summary.strip())[:_MAX_SUMMARY]
    attributes: dict[str, Any] = {CHANGE_KIND: kind, CHANGE_SUMMARY: text}
    attributes.update({CHANGE_LABEL_PREFIX + k: v for k, v in clean.items()})
    attributes.update(details)
    at_ns = time.time_ns()
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event("leadtrace.change", attributes, timestamp=at_ns)
    _changes_log.info("change recorded: %s: %s", kind, text, extra={"change": attributes})
    change_counter(handle.meter).add(1, {CHANGE_KIND: kind})
    if grafana is None:
        grafana = grafana_from(handle.settings)
    if grafana is None:
        return None
    return grafana.post(kind, text, clean, at_ns // 1_000_000)


def record_startup(handle: Leadtrace, schemas: Iterable[str]) -> None:
    """The change ``configure()`` records: this service version with its event schemas.

    ``schemas`` are ``name:version`` strings: the span event and log record list them all
    (:data:`CHANGE_EVENT_SCHEMAS`), and a digest of them labels the change and its Grafana
    annotation (a change of any event's version changes it), so deployments with different
    event contracts are told apart on the timeline.
    """
    import hashlib

    versions = sorted(schemas)
    digest = hashlib.sha256(",".join(versions).encode()).hexdigest()[:12]
    settings = handle.settings
    version = settings.service_version or "unversioned"
    _record(
        handle,
        "deployment",
        f"{settings.service_name} {version} started with {len(versions)} event schemas "
        f"(digest {digest})",
        str,  # settings only: no personal data to clean
        None,
        {"service": settings.service_name, "service_version": version, "event_schemas": digest},
        {CHANGE_EVENT_SCHEMAS: tuple(versions)},
    )
