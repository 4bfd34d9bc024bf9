"""The runtime: ``configure()`` and the :class:`Leadtrace` handle it returns.

``configure()`` installs a global setup once. ``configure(local=True)`` returns a handle that
touches no global state (for tests); ``handle.activate()`` makes the module-level API
(``leadtrace.emit``, ``@leadtrace.stage``) use it for a block. Before any ``configure()`` the
module-level API works against the global OpenTelemetry proxy (no-op until an SDK is set).
Which handle is in use is kept in :mod:`leadtrace._active`.

Owns: the :class:`Leadtrace` handle and ``configure()``: it builds the providers and wires every
part (processors, delivery, store, audit trail, SLI metrics, change record), then publishes the
handle through ``_active``.

May import: any part it wires (``_active``, ``_config``, ``_emit``, ``_sdk``, ``audit``,
``changes``, ``context``, ``delivery``, ``errors``, ``events``, ``metrics``, ``processors``,
``quality``, ``sampling``, ``scrubbing``, ``store``). No part imports it back at run time; they
read the handle from ``_active``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import Counter, Meter, MeterProvider
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer, TracerProvider

from leadtrace import _sdk
from leadtrace._active import activated, current, global_handle, install_global, set_fallback
from leadtrace._config import Settings, resolve_settings
from leadtrace._sdk import attribute_blind
from leadtrace.errors import ConfigError
from leadtrace.processors import LeadtraceSpanProcessor
from leadtrace.quality import Contracts, load_contracts

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    from leadtrace.delivery import DeliveryProcessor
    from leadtrace.events import Event
    from leadtrace.scrubbing import ScrubbingSpanProcessor

__all__ = ["Instruments", "Leadtrace", "configure", "current"]

_log = logging.getLogger("leadtrace")

EventHook = Callable[["Event", Mapping[str, Any]], object]
"""Called with each emitted event and its span attributes."""
VERSION = "0.1.0"
SCOPE = "leadtrace"


@dataclass(frozen=True)
class Instruments:
    """Metric instruments every runtime owns."""

    invalid_events: Counter
    """``leadtrace.events.invalid``: events that failed validation (lenient mode kept them)."""
    internal_errors: Counter
    """``leadtrace.internal_errors``: leadtrace's own failures, swallowed in lenient mode."""

    @classmethod
    def create(cls, meter: Meter) -> Instruments:
        """Create the instruments on ``meter``."""
        return cls(
            invalid_events=meter.create_counter(
                "leadtrace.events.invalid",
                unit="{event}",
                description="Events that failed schema validation; lenient mode kept them.",
            ),
            internal_errors=meter.create_counter(
                "leadtrace.internal_errors",
                unit="{error}",
                description="Internal leadtrace errors swallowed so the application carried on.",
            ),
        )


class Leadtrace:
    """A configured leadtrace setup. Returned by :func:`leadtrace.configure`.

    Attributes:
        settings: the resolved settings.
        tracer_provider: provider our spans go to (the app's own, when it had one).
        meter_provider: provider of our metric instruments.
        tracer: leadtrace's tracer.
        contracts: per-stage data contracts used for quality verdicts.
    """

    def __init__(
        self,
        settings: Settings,
        tracer_provider: TracerProvider,
        meter_provider: MeterProvider,
        *,
        local: bool,
        owned: bool,
        memory_exporter: InMemorySpanExporter | None = None,
        logger_provider: LoggerProvider | None = None,
        contracts: Contracts | None = None,
        delivery: DeliveryProcessor | None = None,
    ) -> None:
        self.settings = settings
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.local = local
        self.tracer: Tracer = tracer_provider.get_tracer(SCOPE, VERSION)
        self.meter: Meter = meter_provider.get_meter(SCOPE, VERSION)
        self.instruments = Instruments.create(self.meter)
        self.contracts = contracts or load_contracts(settings.contracts)
        self.strict = settings.validation == "strict"
        self._owned = owned
        self._enabled = False
        self._memory_exporter = memory_exporter
        self._logger_provider = logger_provider
        self.delivery = delivery
        self._own_meter_provider = False
        self._shut_down = False
        """The processor exporting to the collector or local store (None for in-memory or the
        app's own provider); see ``docs/delivery.md``."""
        self._shutdown_hooks: list[Callable[[], object]] = []
        self.event_hooks: list[EventHook] = []
        self.scrubber: ScrubbingSpanProcessor | None = _find_scrubber(tracer_provider)
        # emit() may start its span with a few attributes and add the rest (already valid)
        # right after, skipping the SDK's per-value checks; only when no sampler reads them.
        self.attributes_after_start = attribute_blind(self.tracer)

    def __repr__(self) -> str:
        where = "local" if self.local else "global"
        return (
            f"<Leadtrace {where} service={self.settings.service_name!r} "
            f"environment={self.settings.environment!r} validation={self.settings.validation}>"
        )

    @property
    def enabled(self) -> bool:
        """Whether spans can record: False only while no SDK provider is installed anywhere.

        Checked on every ``emit()`` before any work, so it must cost next to nothing; once
        true it stays true (OpenTelemetry sets the global provider only once).
        """
        if self._enabled:
            return True
        provider: object = self.tracer_provider
        if type(provider) is trace.ProxyTracerProvider:
            provider = _sdk.global_tracer_provider()
        if provider is None or type(provider) in _NON_RECORDING:
            return False
        self._enabled = True
        return True

    def emit(self, event: Any, /, **fields: Any) -> str:
        """Emit an event through this handle; see :func:`leadtrace.emit`."""
        from leadtrace._emit import emit_with

        return emit_with(self, event, fields)

    @contextmanager
    def activate(self) -> Iterator[Leadtrace]:
        """Make the module-level API use this handle inside the block (tests, multi-tenant).

        The switch is context-local: it follows the block's thread and the asyncio tasks it
        starts, never other threads.
        """
        with activated(self):
            yield self

    def finished_spans(self) -> list[Any]:
        """Spans captured in memory (local handles without exporters only)."""
        if self._memory_exporter is None:
            raise ConfigError(
                "this handle exports spans elsewhere; finished_spans() needs "
                "configure(local=True) without span_exporters"
            )
        return list(self._memory_exporter.get_finished_spans())

    def clear(self) -> None:
        """Forget the spans captured in memory."""
        if self._memory_exporter is not None:
            self._memory_exporter.clear()

    def on_event(self, hook: EventHook) -> None:
        """Call ``hook(event, attributes)`` after every emitted event (e.g. an audit sink).

        Hooks run on the caller's thread inside the internal-error guard; keep them fast.
        """
        self.event_hooks.append(hook)

    def add_shutdown_hook(self, hook: Callable[[], object]) -> None:
        """Run ``hook`` on :meth:`shutdown` (integrations release resources here)."""
        self._shutdown_hooks.append(hook)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything buffered within ``timeout_millis`` (one deadline for spans,
        metrics and logs); spans left unsent wait in the spool.

        Returns:
            True when it all went out in time, False when anything is left (queued, in the
            spool, or a provider did not finish).
        """
        deadline = time.monotonic() + max(0, timeout_millis) / 1e3

        def left() -> int:
            return max(0, int((deadline - time.monotonic()) * 1e3))

        ok = True
        flush = getattr(self.tracer_provider, "force_flush", None)
        if flush is not None:
            ok = bool(flush(left())) and ok
        # The stock metric and log exporters do not bound a request by the flush's timeout:
        # wait for them only until the deadline.
        flush = getattr(self.meter_provider, "force_flush", None)
        if flush is not None:
            ok = _within(lambda: flush(left()), left() / 1e3) and ok
        logger_provider = self._logger_provider
        if logger_provider is not None:
            ok = _within(lambda: logger_provider.force_flush(left()), left() / 1e3) and ok
        return ok

    def shutdown(self, timeout_millis: int | None = None) -> None:
        """Flush and release what this handle created (never the app's own providers).

        Ends by ``timeout_millis`` (default: the ``shutdown_timeout`` setting); spans not sent
        by then wait in the spool for the next start.
        """
        if self._shut_down:
            return
        self._shut_down = True
        seconds = self.settings.shutdown_timeout if timeout_millis is None else timeout_millis / 1e3
        deadline = time.monotonic() + max(0.0, seconds)

        def left() -> int:
            return max(0, int((deadline - time.monotonic()) * 1e3))

        for hook in self._shutdown_hooks:
            hook()
        if self.delivery is not None:
            self.delivery.shutdown(left())
        if not self._owned:
            return
        stop = getattr(self.tracer_provider, "shutdown", None)
        if stop is not None:
            stop()
        for provider in (self.meter_provider, self._logger_provider):
            stop = getattr(provider, "shutdown", None)
            if stop is not None:
                _within(stop, left() / 1e3)

    def _at_exit(self) -> None:
        """Shut down at interpreter exit, by the ``shutdown_timeout`` deadline."""
        try:
            self.shutdown()
            if not self._owned and self._own_meter_provider:
                _within(self.meter_provider.shutdown, self.settings.shutdown_timeout)  # type: ignore[attr-defined]
        except Exception:
            _log.exception("leadtrace: shutdown at exit failed")


def _within(call: Callable[[], object], seconds: float) -> bool:
    """Run ``call`` in a daemon thread for at most ``seconds``.

    Returns:
        False when it did not finish in time (it carries on in the background) or returned
        False; True otherwise.
    """
    outcome: list[object] = []
    thread = threading.Thread(
        target=lambda: outcome.append(call()), name="leadtrace-deadline", daemon=True
    )
    thread.start()
    thread.join(max(0.0, seconds))
    return bool(outcome) and outcome[0] is not False


_NON_RECORDING = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)


def _unconfigured_runtime() -> Leadtrace:
    """The handle used before ``configure()``: the global OpenTelemetry providers as they are."""
    try:
        settings = resolve_settings({"service_name": "unknown_service"})
    except ConfigError as exc:
        _log.warning("leadtrace: ignoring invalid environment settings: %s", exc)
        settings = resolve_settings({"service_name": "unknown_service"}, environ={})
    handle = Leadtrace(
        settings,
        trace.get_tracer_provider(),
        metrics.get_meter_provider(),
        local=False,
        owned=False,
    )
    if not handle.enabled:
        # Once per process (this handle is made once), as OpenTelemetry's proxy warns.
        _log.warning(
            "leadtrace: events are recorded nowhere: call leadtrace.configure() at "
            "start-up (or install an OpenTelemetry SDK TracerProvider) before the first "
            "journey"
        )
    return handle


set_fallback(_unconfigured_runtime)


def _resource(settings: Settings) -> Resource:
    attrs: dict[str, Any] = dict(settings.resource_attributes)
    attrs["service.name"] = settings.service_name
    attrs["deployment.environment.name"] = settings.environment
    if settings.service_version:
        attrs["service.version"] = settings.service_version
    return Resource.create(attrs)


def _delivery(
    settings: Settings, meter_provider: MeterProvider, *, local: bool
) -> DeliveryProcessor:
    """The processor exporting to the OTLP endpoint, or (no endpoint) to the local store."""
    from pathlib import Path

    from leadtrace.delivery import DeliveryProcessor, Drops, Spool, transport_for

    meter = meter_provider.get_meter(SCOPE, VERSION)
    common: dict[str, Any] = {
        "value_limit": settings.attribute_value_limit,
        "max_queue_size": settings.max_queue_size,
        "schedule_delay": settings.schedule_delay_ms / 1000,
        "export_timeout": settings.export_timeout,
        "shutdown_timeout": settings.shutdown_timeout,
    }
    if settings.endpoint is None:
        from leadtrace.store import FanOutSpanExporter, local_exporters

        stores = local_exporters(
            settings.local_dir, settings.local_store, settings.store_max_mb * 1024 * 1024
        )
        drops = Drops(meter, local_file=Path(settings.local_dir) / "drops.jsonl")
        exporter = stores[0] if len(stores) == 1 else FanOutSpanExporter(stores)
        return DeliveryProcessor(drops, exporter=exporter, **common)
    directory = settings.spool_dir
    if directory is None and not local:
        directory = str(Path(settings.local_dir) / "spool")
    spool = None
    if directory is not None and directory.lower() != "off":
        spool = Spool(directory, settings.spool_max_bytes)
    return DeliveryProcessor(
        Drops(meter),
        transport=transport_for(settings.endpoint, settings.protocol),
        spool=spool,
        **common,
    )


def _otlp_metric_reader(settings: Settings) -> MetricReader:
    assert settings.endpoint is not None
    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )

        return PeriodicExportingMetricReader(
            GrpcMetricExporter(
                endpoint=settings.endpoint,
                insecure=settings.endpoint.startswith("http:"),
                timeout=settings.export_timeout,
            )
        )
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return PeriodicExportingMetricReader(
        OTLPMetricExporter(
            endpoint=f"{settings.endpoint}/v1/metrics", timeout=settings.export_timeout
        )
    )


def _logger_provider(
    settings: Settings, resource: Resource
) -> tuple[LoggerProvider, logging.Handler]:
    assert settings.endpoint is not None
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
            OTLPLogExporter as GrpcLogExporter,
        )

        exporter: Any = GrpcLogExporter(
            endpoint=settings.endpoint,
            insecure=settings.endpoint.startswith("http:"),
            timeout=settings.export_timeout,
        )
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(
            endpoint=f"{settings.endpoint}/v1/logs", timeout=settings.export_timeout
        )
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    logging.getLogger("leadtrace").addHandler(handler)
    return provider, handler


def _span_processor_for(exporter: SpanExporter) -> SpanProcessor:
    if isinstance(exporter, InMemorySpanExporter):
        return SimpleSpanProcessor(exporter)
    return BatchSpanProcessor(exporter)


def _find_scrubber(provider: object) -> ScrubbingSpanProcessor | None:
    """The scrubber leadtrace installed on ``provider``, if any (emit pre-scrubs with it)."""
    for processor in _sdk.span_processors(provider):
        if isinstance(processor, LeadtraceSpanProcessor):
            return processor.scrubber
    return None


def our_processors(settings: Settings) -> list[SpanProcessor]:
    """The span processors leadtrace adds: business context at start, scrubbing at end."""
    scrubber = None
    if settings.scrub and _sdk.PRIVATES:  # else each exporting processor gets one: _exporting
        from leadtrace.scrubbing import ScrubbingSpanProcessor

        scrubber = ScrubbingSpanProcessor()
    return [LeadtraceSpanProcessor(scrubber, asgi_event_context=settings.asgi_event_context)]


def _exporting(settings: Settings, processor: SpanProcessor) -> SpanProcessor:
    """``processor`` (one that exports) as configure() adds it.

    With the SDK fields :mod:`leadtrace._sdk` relies on, our scrubber runs ahead of every
    processor and changes the span in place, so it is added as it is. Without them, the
    scrubber can only hand a scrubbed copy to a processor it wraps: it wraps each one.
    """
    if _sdk.PRIVATES or not settings.scrub:
        return processor
    from leadtrace.scrubbing import ScrubbingSpanProcessor

    return ScrubbingSpanProcessor(forward_to=processor)


def _install_ahead(provider: SdkTracerProvider, settings: Settings) -> None:
    """Put our processors ahead of the ones an app already added to its ``provider``.

    Without the SDK fields that allow it they are appended, and the app's processors see
    spans before our scrubber: say so once, with the fix.
    """
    if _sdk.prepend_processors(provider, our_processors(settings)) or not settings.scrub:
        return
    _log.warning(
        "leadtrace: this opentelemetry-sdk does not let leadtrace run before span processors "
        "your app added before configure() (or %s=off): any such processor sees spans "
        "before they are scrubbed. Add exporters through configure(span_exporters=...) or "
        "wrap them: ScrubbingSpanProcessor(forward_to=BatchSpanProcessor(exporter)). See "
        "docs/compatibility.md",
        _sdk.ENV,
    )


def configure(
    *,
    service_name: str | None = None,
    environment: str | None = None,
    service_version: str | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    validation: str | None = None,
    hash_key: str | bytes | None = None,
    propagate_to: Sequence[str] | None = None,
    trusted_networks: Sequence[str] | None = None,
    scrub: bool | None = None,
    export_logs: bool | None = None,
    local_dir: str | None = None,
    contracts: str | None = None,
    consent_audit_log: str | None = None,
    cookie_name: str | None = None,
    cookie_key: str | bytes | None = None,
    cookie_max_age_days: int | None = None,
    session_events: bool | None = None,
    grafana_url: str | None = None,
    grafana_token: str | None = None,
    journey_spans: bool | None = None,
    sample_ratio: float | None = None,
    local_store: Sequence[str] | None = None,
    store_max_mb: int | None = None,
    consent_policy: str | None = None,
    campaign_id_params: Sequence[str] | None = None,
    url_query: str | None = None,
    url_query_keep: Sequence[str] | None = None,
    client_address: str | None = None,
    user_agent: str | None = None,
    asgi_event_context: str | None = None,
    spool_dir: str | None = None,
    spool_max_bytes: int | str | None = None,
    max_queue_size: int | None = None,
    schedule_delay_ms: int | None = None,
    export_timeout: float | None = None,
    shutdown_timeout: float | None = None,
    attribute_value_limit: int | None = None,
    local: bool = False,
    span_exporters: Sequence[SpanExporter] | None = None,
    metric_readers: Sequence[MetricReader] | None = None,
    tracer_provider: TracerProvider | None = None,
    id_generator: IdGenerator | None = None,
    environ: Mapping[str, str] | None = None,
) -> Leadtrace:
    """Set up leadtrace. Keyword-only; every setting also reads ``LEADTRACE_*``/``OTEL_*``.

    Settings resolve from these arguments, then environment variables, then defaults (see
    ``docs/configuration.md``). Without ``local=True`` the setup is global and happens once:
    a second call warns and returns the first handle unchanged.

    Providers: a :class:`~opentelemetry.sdk.trace.TracerProvider` the app already installed
    (or passed as ``tracer_provider``) is reused, with leadtrace's processors put in front of
    its own; otherwise an SDK provider is created that exports over OTLP when an endpoint is
    set, and to JSON lines under ``local_dir`` when not. A created provider samples whole
    journeys when ``sample_ratio`` (or ``OTEL_TRACES_SAMPLER=traceidratio``) asks for it
    (:class:`~leadtrace.sampling.JourneySampler`); an app's own provider keeps its sampler.

    Args:
        local: build a non-global handle (for tests); spans stay in memory unless
            ``span_exporters`` are given. Use ``handle.activate()`` to route the module-level
            API to it.
        span_exporters: extra span exporters (in-memory ones are exported synchronously).
        metric_readers: extra metric readers, e.g. ``InMemoryMetricReader()``.
        tracer_provider: use this provider instead of the global one.
        id_generator: trace/span id generator of a provider leadtrace creates (tests).
        environ: read settings from this mapping instead of ``os.environ``.

    Raises:
        ConfigError: a setting is missing or invalid; the message names it and the fix.
    """
    arguments: dict[str, Any] = {
        "service_name": service_name,
        "environment": environment,
        "service_version": service_version,
        "endpoint": endpoint,
        "protocol": protocol,
        "resource_attributes": resource_attributes,
        "validation": validation,
        "hash_key": hash_key,
        "propagate_to": propagate_to,
        "trusted_networks": trusted_networks,
        "scrub": scrub,
        "export_logs": export_logs,
        "local_dir": local_dir,
        "contracts": contracts,
        "consent_audit_log": consent_audit_log,
        "cookie_name": cookie_name,
        "cookie_key": cookie_key,
        "cookie_max_age_days": cookie_max_age_days,
        "session_events": session_events,
        "grafana_url": grafana_url,
        "grafana_token": grafana_token,
        "journey_spans": journey_spans,
        "sample_ratio": sample_ratio,
        "local_store": local_store,
        "store_max_mb": store_max_mb,
        "consent_policy": consent_policy,
        "campaign_id_params": campaign_id_params,
        "url_query": url_query,
        "url_query_keep": url_query_keep,
        "client_address": client_address,
        "user_agent": user_agent,
        "asgi_event_context": asgi_event_context,
        "spool_dir": spool_dir,
        "spool_max_bytes": spool_max_bytes,
        "max_queue_size": max_queue_size,
        "schedule_delay_ms": schedule_delay_ms,
        "export_timeout": export_timeout,
        "shutdown_timeout": shutdown_timeout,
        "attribute_value_limit": attribute_value_limit,
    }
    existing_handle = global_handle()
    if not local and existing_handle is not None:
        warnings.warn(
            "leadtrace.configure() was already called; this call changes nothing. "
            "Use configure(local=True) for an independent setup.",
            RuntimeWarning,
            stacklevel=2,
        )
        return existing_handle
    settings = resolve_settings(arguments, environ)
    contract_set = load_contracts(settings.contracts)
    resource = _resource(settings)

    readers = list(metric_readers or ())
    if settings.endpoint is not None:
        readers.append(_otlp_metric_reader(settings))
    existing_meter = None if local else metrics.get_meter_provider()
    meter_provider: MeterProvider
    if isinstance(existing_meter, SdkMeterProvider) and not metric_readers:
        meter_provider = existing_meter
    else:
        # No exit hook of its own: the handle's (registered below) shuts everything down by
        # one deadline.
        meter_provider = SdkMeterProvider(
            resource=resource, metric_readers=readers, shutdown_on_exit=False
        )

    provider: TracerProvider
    owned = True
    memory: InMemorySpanExporter | None = None
    delivery: DeliveryProcessor | None = None
    existing = tracer_provider or (None if local else trace.get_tracer_provider())
    if isinstance(existing, SdkTracerProvider):
        provider, owned = existing, False
        _install_ahead(existing, settings)
        for exporter in span_exporters or ():
            existing.add_span_processor(_exporting(settings, _span_processor_for(exporter)))
    else:
        from leadtrace.context import current_journey
        from leadtrace.sampling import sampler_from_settings

        sdk = SdkTracerProvider(
            resource=resource,
            shutdown_on_exit=False,
            id_generator=id_generator,
            sampler=sampler_from_settings(
                settings.sample_ratio,
                os.environ if environ is None else environ,
                current_journey,
            ),
        )
        for processor in our_processors(settings):
            sdk.add_span_processor(processor)
        for exporter in span_exporters or ():
            sdk.add_span_processor(_exporting(settings, _span_processor_for(exporter)))
        if settings.endpoint is not None or not (local or span_exporters):
            delivery = _delivery(settings, meter_provider, local=local)
            sdk.add_span_processor(_exporting(settings, delivery))
        elif local and not span_exporters:
            memory = InMemorySpanExporter()
            sdk.add_span_processor(_exporting(settings, _span_processor_for(memory)))
        provider = sdk

    logger_provider = None
    if settings.export_logs:
        logger_provider, handler = _logger_provider(settings, resource)
    handle = Leadtrace(
        settings,
        provider,
        meter_provider,
        local=local,
        owned=owned,
        memory_exporter=memory,
        logger_provider=logger_provider,
        contracts=contract_set,
        delivery=delivery,
    )
    from leadtrace.audit import install_audit_trail  # deferred: only needed at setup

    install_audit_trail(handle)
    from leadtrace.metrics import install_sli_metrics  # deferred: only needed at setup

    install_sli_metrics(handle)
    if logger_provider is not None:
        handle.add_shutdown_hook(lambda: logging.getLogger("leadtrace").removeHandler(handler))
    if local:
        return handle
    handle._own_meter_provider = meter_provider is not existing_meter
    atexit.register(handle._at_exit)
    if owned:
        trace.set_tracer_provider(provider)
    if meter_provider is not existing_meter:
        metrics.set_meter_provider(meter_provider)
    install_global(handle)
    from leadtrace.changes import record_startup  # deferred: only needed at setup
    from leadtrace.events import all_events

    record_startup(handle, (f"{c.event_name}:{c.event_version}" for c in all_events()))
    _log.info("leadtrace configured: %r", handle)
    return handle


def _reset_for_tests() -> None:
    """Forget the global handle (the OpenTelemetry globals stay as they are)."""
    install_global(None)
