"""``leadtrace.describe()``: what the active setup records and where it sends it, in words.

Pasted quickstarts and new services print nothing by themselves (telemetry should be quiet in
production); this answers "did it work, and where did my data go?" on demand.

Owns: the words ``leadtrace.describe()`` prints about the active setup.

May import: ``_runtime`` (the handle it describes) and ``audit`` (where the trail is written);
it sits at the top beside the public face.
"""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

from leadtrace._runtime import VERSION, Leadtrace, current
from leadtrace.audit import audit_log_path

__all__ = ["describe"]


def _spans(handle: Leadtrace) -> str:
    settings = handle.settings
    if not handle.enabled:
        return "recorded nowhere: call leadtrace.configure() (no OpenTelemetry SDK is installed)"
    if not isinstance(handle.tracer_provider, SdkTracerProvider):
        return "to the application's own tracer provider"
    if settings.endpoint is not None:
        where = f"over OTLP ({settings.protocol}) to {settings.endpoint}"
        return where if handle._owned else f"{where}, and to the application's own exporters"
    if not handle._owned:
        return "to the exporters of the application's own TracerProvider"
    if handle._memory_exporter is not None:
        return "kept in memory (a local handle: read them with handle.finished_spans())"
    stores = {
        "sqlite": f"the journey store {settings.local_dir}/journeys.db",
        "jsonl": f"JSON lines in {settings.local_dir}/spans.jsonl",
    }
    where = " and ".join(stores[kind] for kind in settings.local_store if kind in stores)
    return f"to {where} (set OTEL_EXPORTER_OTLP_ENDPOINT to send them to a collector)"


def describe() -> str:
    """Describe the setup the module-level API uses now: service, where spans, metrics and
    consent records go, validation mode and privacy settings. One fact per line::

        print(leadtrace.describe())

    It reads the setup only: it never exports, flushes or raises.
    """
    handle = current()
    settings = handle.settings
    audit = audit_log_path(settings, local=handle.local)
    if settings.hash_key is None:
        key = "the public development key (set LEADTRACE_HASH_KEY before production)"
    else:
        key = "your LEADTRACE_HASH_KEY"
    lines = [
        f"leadtrace {VERSION}: service {settings.service_name!r}, "
        f"environment {settings.environment!r}, validation {settings.validation}",
        f"  spans:    {_spans(handle)}",
        "  metrics:  "
        + (
            f"over OTLP to {settings.endpoint}"
            if settings.endpoint is not None
            else "in process only (no OTLP endpoint set)"
        ),
        f"  consent:  audit log {audit if audit is not None else 'off'}",
        "  privacy:  e-mail and phone "
        + ("scrubbed from every span" if settings.scrub else "NOT scrubbed (scrub=false)")
        + f"; identity keys hashed with {key}",
        "  journeys: "
        + (
            "one trace each (a 'journey' span when no span is current)"
            if settings.journey_spans
            else "no journey span (events outside a span are traces of their own)"
        ),
    ]
    return "\n".join(lines)
