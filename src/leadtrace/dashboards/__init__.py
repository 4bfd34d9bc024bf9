"""The campaign signal health dashboard, built with Grafana's own SDK.

``leadtrace dashboard generate [--slos slis.yaml] -o dashboard.json`` writes it. It answers
one question first: are we generating signal, and is that signal clean enough for action?

- top row: campaign volume, valid lead rate, attribution completeness, routing latency
  (p50 / p95 against the SLO), CRM write success and sales acceptance; under each SLI a
  status (Healthy / Degraded / Broken from the 1h burn rate) and its remaining error budget;
- one row per layer (capture / ingestion, enrichment, identity resolution, routing and CRM,
  sales usability), business ratio by channel beside platform failures by integration; the
  routing and CRM row adds CRM write errors by vendor and reason, rate-limited calls and
  retries, and the rate-limit quota left (from the vendor client instrumentors);
- a compliance row (consent validity at submission, routing, first sales contact) and the
  sales actionability panel;
- variables for channel, campaign, region, form version, integration and synthetic traffic,
  data-source variables for Prometheus, Tempo and Jaeger, and a journey id box; each panel
  links to its runbook, to a trace search on ``martech.campaign.id`` and to the trace of the
  journey id entered (``martech.journey.id``);
- changes recorded with :func:`leadtrace.record_change` drawn as annotations.

The JSON is deterministic (stable panel ids, sorted keys) so a pull request shows what
changed. Needs the ``dashboards`` extra (grafana-foundation-sdk, Python >= 3.11).
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from dataclasses import dataclass
from typing import Any

from leadtrace.errors import ConfigError
from leadtrace.slo.spec import Sli, SliFile, load_slis

__all__ = ["Panel", "build", "panels", "render", "with_all_selected"]

FILTER = (
    'martech_campaign_channel=~"$channel",martech_campaign_id=~"$campaign",'
    'martech_routing_territory=~"$region",martech_form_version=~"$form_version",'
    'martech_integration=~"$integration",martech_journey_synthetic=~"$synthetic"'
)
"""Label matchers every business query carries (the dashboard's variables)."""

OUTCOME_FILTER = 'martech_integration=~"$integration",martech_journey_synthetic=~"$synthetic"'
"""Matchers of outcome queries (that counter carries stage, integration and synthetic only)."""

VENDOR_FILTER = 'martech_vendor_name=~"$integration",martech_journey_synthetic=~"$synthetic"'
"""Matchers of vendor call queries (``martech_vendor_calls_total``: vendor, not integration)."""

VARIABLES = ("channel", "campaign", "region", "form_version", "integration")
_LABELS = {
    "channel": "martech_campaign_channel",
    "campaign": "martech_campaign_id",
    "region": "martech_routing_territory",
    "form_version": "martech_form_version",
    "integration": "martech_integration",
}
LAYER_ROWS = (
    ("Capture and ingestion", ("capture",)),
    ("Enrichment", ("enrichment",)),
    ("Identity resolution", ("identity",)),
    ("Routing and CRM", ("routing", "crm")),
    ("Sales usability", ("sales",)),
)
"""Rows of the layered section: title and the SLI layers they hold."""

TOP_ROW = (
    "lead_ingestion_success",
    "attribution_completeness",
    "crm_write_success",
    "sales_acceptance",
)


@dataclass(frozen=True)
class Panel:
    """What the dashboard shows, before it becomes Grafana JSON (tests evaluate ``exprs``)."""

    title: str
    kind: str
    """``stat``, ``timeseries`` or ``row``."""
    exprs: tuple[str, ...] = ()
    unit: str = "percentunit"
    description: str = ""
    runbook: str = ""
    width: int = 6
    height: int = 6
    status: bool = False
    """A burn-rate status panel: Healthy / Degraded / Broken value mappings."""
    threshold: float | None = None


def _sdk() -> Any:
    if sys.version_info < (3, 11):
        raise ConfigError(
            "the dashboard needs Python 3.11 or newer (grafana-foundation-sdk requires it); "
            f"this is Python {sys.version_info.major}.{sys.version_info.minor}"
        )
    try:
        import grafana_foundation_sdk
    except ImportError as exc:
        raise ConfigError(
            "the dashboard needs grafana-foundation-sdk: pip install 'leadtrace[dashboards]'"
        ) from exc
    return grafana_foundation_sdk


def _ratio(sli: str, window: str, by: str = "") -> str:
    group = f" by ({by})" if by else ""
    sel = f'martech_sli_name="{sli}",{FILTER}'
    return (
        f"sum{group} (rate(martech_sli_good_events_total{{{sel}}}[{window}]))"
        f" / sum{group} (rate(martech_sli_events_total{{{sel}}}[{window}]))"
    )


def _bad(sli: str, by: str) -> str:
    sel = f'martech_sli_name="{sli}",{FILTER}'
    return (
        f"sum by ({by}) (rate(martech_sli_events_total{{{sel}}}[$__rate_interval]))"
        f" - sum by ({by}) (rate(martech_sli_good_events_total{{{sel}}}[$__rate_interval]))"
    )


def _burn(sli: str) -> str:
    return (
        f'max(slo:sli_error:ratio_rate1h{{sloth_slo="{sli}"}})'
        f' / max(slo:error_budget:ratio{{sloth_slo="{sli}"}})'
    )


def _budget(sli: str) -> str:
    return f'max(slo:period_error_budget_remaining:ratio{{sloth_slo="{sli}"}})'


def _latency(quantile: float) -> str:
    return (
        f"histogram_quantile({quantile}, sum by (le) (rate(martech_journey_latency_seconds_bucket"
        f'{{martech_journey_stage="lead_routed",{FILTER}}}[$__rate_interval])))'
    )


def panels(slis: SliFile) -> list[Panel]:
    """The dashboard's panels in order (rows included), derived from ``slis``."""
    by_name = {s.name: s for s in slis.slis}
    found: list[Panel] = [Panel("Are we generating clean, actionable signal?", "row")]
    # schema_validation_pass_rate counts every event once: submissions are counted once.
    volume = (
        'sum(increase(martech_sli_events_total{martech_sli_name="schema_validation_pass_rate",'
        f'martech_journey_stage="form_submitted",{FILTER}}}[$__range]))'
    )
    found.append(
        Panel("Campaign volume (submissions)", "stat", (volume,), unit="short", width=4, height=4)
    )
    latency_slo = next((s for s in slis.slis if s.latency_bounds()), None)
    for name in TOP_ROW[:2]:
        if name in by_name:
            found.append(_top(by_name[name]))
    found.append(
        Panel(
            "Routing latency p50 / p95",
            "stat",
            (_latency(0.5), _latency(0.95)),
            unit="s",
            width=4,
            height=4,
            threshold=latency_slo.latency_bounds()[0] if latency_slo else None,
            runbook=slis.runbook_url(latency_slo) if latency_slo else "",
        )
    )
    for name in TOP_ROW[2:]:
        if name in by_name:
            found.append(_top(by_name[name]))
    for name in (*TOP_ROW, *(s.name for s in slis.slis if s.latency_bounds())):
        if name in by_name:
            sli = by_name[name]
            found.append(
                Panel(
                    f"{_title(sli)}: status and budget left",
                    "stat",
                    (_burn(name), _budget(name)),
                    unit="none",
                    width=4,
                    height=3,
                    status=True,
                    runbook=slis.runbook_url(sli),
                    description="Status from the 1h burn rate: Healthy below 1x, Degraded "
                    "below 6x, Broken from 6x; then the error budget left this period.",
                )
            )
    consent = [s for s in slis.slis if s.name.startswith("consent_")]
    for title, layers in LAYER_ROWS:
        members = [s for s in slis.slis if s.layer in layers and s not in consent]
        if not members:
            continue
        found.append(Panel(title, "row"))
        if "routing" in layers:
            found.append(
                Panel(
                    "Routing latency since journey start (p50, p95)",
                    "timeseries",
                    (_latency(0.5), _latency(0.95)),
                    unit="s",
                    width=12,
                    threshold=latency_slo.latency_bounds()[0] if latency_slo else None,
                    runbook=slis.runbook_url(latency_slo) if latency_slo else "",
                )
            )
        for sli in members:
            found += _layer_pair(slis, sli)
        if "crm" in layers:
            found += _vendor_panels(slis, by_name.get("crm_write_success"))
        if "identity" in layers:
            found.append(
                Panel(
                    "Duplicates and ambiguous matches by outcome",
                    "timeseries",
                    (
                        "sum by (martech_outcome_kind, martech_outcome_value) (rate("
                        f"martech_outcomes_total{{{OUTCOME_FILTER},"
                        'martech_outcome_value=~"duplicate|conflict|ambiguous|none"}'
                        "[$__rate_interval]))",
                    ),
                    unit="reqps",
                    width=12,
                    runbook=slis.runbook_url(members[0]),
                    description="Dedupe rejections (duplicate, conflict, ambiguous) and identity "
                    "matches that were ambiguous or impossible.",
                )
            )
        if "sales" in layers and "sales_ready_record_correctness" in by_name:
            sli = by_name["sales_ready_record_correctness"]
            found.append(
                Panel(
                    "Sales actionability: records usable without manual fix-up",
                    "stat",
                    (_ratio(sli.name, "$__range"),),
                    width=12,
                    threshold=sli.objective / 100,
                    runbook=slis.runbook_url(sli),
                    description="Share of CRM records that carry every field sales needs "
                    "(the crm_updated data contract), so sales can act without fixing them.",
                )
            )
    if consent:
        found.append(Panel("Compliance: consent validity", "row"))
        for sli in consent:
            found.append(
                Panel(
                    _title(sli),
                    "stat",
                    (_ratio(sli.name, "$__range"),),
                    width=8,
                    height=4,
                    threshold=sli.objective / 100,
                    runbook=slis.runbook_url(sli),
                )
            )
        found.append(
            Panel(
                "Identity keys dropped for lack of consent",
                "stat",
                (
                    "sum(increase(martech_outcomes_total{"
                    f'{OUTCOME_FILTER},martech_outcome_kind="consent_dropped_identity"}}'
                    "[$__range]))",
                ),
                unit="short",
                width=6,
                height=4,
                runbook=slis.runbook_url(consent[0]),
                description="Events whose identity keys leadtrace dropped because analytics "
                "consent was not granted (working as intended; a jump means a consent change).",
            )
        )
        for sli in consent:
            found += _layer_pair(slis, sli)[:1]
    return found


def _vendor_panels(slis: SliFile, crm_sli: Sli | None) -> list[Panel]:
    """CRM write errors by vendor and reason, and rate limits, from the vendor call metrics."""
    runbook = slis.runbook_url(crm_sli) if crm_sli is not None else ""
    errors = (
        "sum by (martech_vendor_name, martech_failure_reason) (rate(martech_vendor_calls_total{"
        f'{VENDOR_FILTER},martech_crm_object!="",martech_failure_reason!=""}}'
        "[$__rate_interval]))"
    )
    limited = (
        "sum by (martech_vendor_name) (rate(martech_vendor_calls_total{"
        f'{VENDOR_FILTER},martech_failure_reason="rate_limited"}}[$__rate_interval]))'
    )
    retries = (
        "sum by (martech_vendor_name) (rate(martech_vendor_retries_total{"
        'martech_vendor_name=~"$integration"}[$__rate_interval]))'
    )
    quota = (
        "min by (martech_vendor_name) (martech_vendor_rate_limit_remaining{"
        'martech_vendor_name=~"$integration"})'
    )
    return [
        Panel(
            "CRM write errors by vendor and reason",
            "timeseries",
            (errors,),
            unit="reqps",
            width=12,
            runbook=runbook,
            description="Failed CRM calls per second from the instrumented vendor clients, by "
            "vendor and failure reason (rate_limited, auth, validation, timeout, server_error, "
            "conflict, duplicate, ambiguous), sampled or not.",
        ),
        Panel(
            "Vendor rate limits: limited calls and retries",
            "timeseries",
            (limited, retries),
            unit="reqps",
            width=8,
            runbook=runbook,
            description="Calls the vendor refused for its rate limit, and the retries its client "
            "made before a final answer. Sustained values mean the integration needs a queue "
            "or a higher quota.",
        ),
        Panel(
            "Rate-limit quota left",
            "stat",
            (quota,),
            unit="short",
            width=4,
            runbook=runbook,
            description="Calls left in each vendor's rate-limit window, from its last answer.",
        ),
    ]


def _title(sli: Sli) -> str:
    return sli.name.replace("_", " ").capitalize()


def _top(sli: Sli) -> Panel:
    return Panel(
        _title(sli),
        "stat",
        (_ratio(sli.name, "$__range"),),
        width=4,
        height=4,
        threshold=sli.objective / 100,
        description=sli.description,
    )


def _layer_pair(slis: SliFile, sli: Sli) -> list[Panel]:
    runbook = slis.runbook_url(sli)
    return [
        Panel(
            f"{_title(sli)} by channel",
            "timeseries",
            (_ratio(sli.name, "$__rate_interval", "martech_campaign_channel"),),
            threshold=sli.objective / 100,
            runbook=runbook,
            description=f"Business: {sli.description}",
        ),
        Panel(
            f"{_title(sli)}: bad events by integration",
            "timeseries",
            (_bad(sli.name, "martech_integration"),),
            unit="reqps",
            runbook=runbook,
            description="Platform: where the bad events come from.",
        ),
    ]


def _trace_url(datasource: str, query: dict[str, Any]) -> str:
    panes = {"a": {"datasource": datasource, "queries": [{"refId": "A", **query}]}}
    return "/explore?schemaVersion=1&panes=" + urllib.parse.quote(
        json.dumps(panes, sort_keys=True, separators=(",", ":"))
    )


def build(slis: SliFile | None = None) -> dict[str, Any]:
    """The dashboard as Grafana JSON (a plain dict), built with grafana-foundation-sdk.

    Raises:
        ConfigError: grafana-foundation-sdk is missing or Python is older than 3.11.
    """
    _sdk()
    from grafana_foundation_sdk.builders import dashboard as gd
    from grafana_foundation_sdk.builders import prometheus, stat, timeseries
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import dashboard as gm

    spec = slis if slis is not None else load_slis()
    prom = gm.DataSourceRef(type_val="prometheus", uid="${prometheus}")
    board = (
        gd.Dashboard("Campaign signal health")
        .uid("leadtrace-signal-health")
        .tags(["leadtrace", "martech", "slo"])
        .time("now-6h", "now")
        .refresh("1m")
        .with_variable(gd.DatasourceVariable("prometheus").label("Prometheus").type("prometheus"))
        .with_variable(gd.DatasourceVariable("tempo").label("Tempo").type("tempo"))
        .with_variable(gd.DatasourceVariable("jaeger").label("Jaeger").type("jaeger"))
    )
    for name in VARIABLES:
        board = board.with_variable(
            gd.QueryVariable(name)
            .label(name.replace("_", " ").capitalize())
            .datasource(prom)
            .query(f"label_values(martech_sli_events_total, {_LABELS[name]})")
            .include_all(True)
            .all_value(".*")
            .multi(True)
            .current(gm.VariableOption(selected=True, text="All", value="$__all"))
        )
    board = board.with_variable(
        gd.CustomVariable("synthetic")
        .label("Synthetic traffic")
        .values("false,true")
        .include_all(True)
        .all_value(".*")
        .current(gm.VariableOption(selected=True, text="false", value="false"))
    )
    board = board.annotation(
        gd.AnnotationQuery()
        .name("Changes (deployments, schema, routing rules, vendors)")
        .datasource(prom)
        .enable(True)
        .icon_color("purple")
        .expr("sum by (martech_change_kind) (increase(martech_changes_total[2m])) > 0")
    )
    board = board.with_variable(
        gd.TextBoxVariable("journey")
        .label("Journey id")
        .description("A martech.journey.id (from a log line, a CRM record or the report).")
    )
    trace_query = '{ span.martech.campaign.id =~ "$campaign" }'
    journey_query = '{ span.martech.journey.id = "$journey" }'
    trace_links = [
        *_trace_links(
            gd, gm, "Traces of this campaign", trace_query, "martech.campaign.id=$campaign"
        ),
        *_trace_links(
            gd, gm, "Trace of this journey", journey_query, "martech.journey.id=$journey"
        ),
    ]
    x = y = row_height = 0
    for index, panel in enumerate(panels(spec), start=1):
        if panel.kind == "row":
            y += row_height if x else 0
            board = board.with_row(
                gd.Row(panel.title).id(index).grid_pos(gm.GridPos(h=1, w=24, x=0, y=y))
            )
            x, y, row_height = 0, y + 1, 0
            continue
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        builder: Any = stat.Panel() if panel.kind == "stat" else timeseries.Panel()
        builder = (
            builder.id(index)
            .title(panel.title)
            .datasource(prom)
            .unit(panel.unit)
            .grid_pos(gm.GridPos(h=panel.height, w=panel.width, x=x, y=y))
        )
        if panel.description:
            builder = builder.description(panel.description)
        for ref, expr in zip("ABCDEF", panel.exprs, strict=False):
            builder = builder.with_target(prometheus.Dataquery().expr(expr).ref_id(ref))
        links = list(trace_links)
        if panel.runbook:
            links.insert(
                0,
                gd.DashboardLink("Runbook")
                .type(gm.DashboardLinkType.LINK)
                .url(panel.runbook)
                .target_blank(True),
            )
        builder = builder.links(links)
        if panel.status:
            builder = builder.mappings(_status_mappings(gm)).thresholds(
                gd.ThresholdsConfig()
                .mode(gm.ThresholdsMode.ABSOLUTE)
                .steps(
                    [
                        gm.Threshold(value=None, color="green"),
                        gm.Threshold(value=1.0, color="orange"),
                        gm.Threshold(value=6.0, color="red"),
                    ]
                )
            )
        elif panel.threshold is not None:
            low, high = ("red", "green") if panel.unit == "percentunit" else ("green", "red")
            builder = builder.thresholds(
                gd.ThresholdsConfig()
                .mode(gm.ThresholdsMode.ABSOLUTE)
                .steps(
                    [
                        gm.Threshold(value=None, color=low),
                        gm.Threshold(value=panel.threshold, color=high),
                    ]
                )
            )
        board = board.with_panel(builder)
        x += panel.width
        row_height = max(row_height, panel.height)
    result: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return result


def _trace_links(gd: Any, gm: Any, title: str, traceql: str, jaeger_tags: str) -> list[Any]:
    """``title (Tempo)`` with a TraceQL query and ``title (Jaeger)`` with a tag search."""
    queries = (
        ("Tempo", "${tempo}", {"queryType": "traceql", "query": traceql}),
        ("Jaeger", "${jaeger}", {"queryType": "search", "tags": jaeger_tags}),
    )
    return [
        gd.DashboardLink(f"{title} ({name})")
        .type(gm.DashboardLinkType.LINK)
        .url(_trace_url(datasource, query))
        .target_blank(True)
        for name, datasource, query in queries
    ]


def _status_mappings(gm: Any) -> list[Any]:
    def band(low: float | None, high: float | None, text: str, color: str, index: int) -> Any:
        return gm.RangeMap(
            options=gm.DashboardRangeMapOptions(
                from_val=low,
                to=high,
                result=gm.ValueMappingResult(text=text, color=color, index=index),
            )
        )

    return [
        band(0.0, 1.0, "Healthy", "green", 0),
        band(1.0, 6.0, "Degraded", "orange", 1),
        band(6.0, None, "Broken", "red", 2),
    ]


def render(slis: SliFile | None = None) -> str:
    """The dashboard JSON text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(build(slis), sort_keys=True, indent=2) + "\n"


def with_all_selected(
    expr: str, *, range_: str = "5m", rate_interval: str = "1m", synthetic: str = "false"
) -> str:
    """A panel query as Grafana sends it with every variable on "All", for promtool or curl."""
    text = expr.replace("$__rate_interval", rate_interval).replace("$__range", range_)
    text = text.replace('"$synthetic"', f'"{synthetic}"')
    for name in VARIABLES:
        text = text.replace(f'"${name}"', '".*"')
    return text
