"""The health report as one self-contained HTML page: inline CSS and SVG, no script, no CDN.

It opens offline, prints, and attaches to a ticket. Every chart is an ``<svg>`` drawn here
from the report's numbers; every text is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timezone

from leadtrace.report._health import ROUTING_SLO_S, HealthReport
from leadtrace.report._status import SliStatus

__all__ = ["render_html"]

_STATUS_COLOURS = {
    "Healthy": "#1a7f37",
    "Degraded": "#bf8700",
    "Broken": "#cf222e",
    "No data": "#6e7781",
}
_BAR = "#0969da"
_BAD = "#cf222e"

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2rem auto;
       max-width: 64rem; color: #1f2328; }
h1 { margin-bottom: .2rem; } .muted { color: #59636e; }
section { margin: 2rem 0; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: .8rem; }
.tile { border-radius: .5rem; padding: .8rem 1rem; color: white; }
.tile .name { font-size: .85rem; opacity: .9; overflow-wrap: anywhere; }
.tile .value { font-size: 1.6rem; font-weight: 600; }
.tile .status { font-size: .85rem; font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #d1d9e0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: .85rem; }
svg text { font-size: 12px; fill: #1f2328; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _bars(
    rows: Sequence[tuple[str, float, str]],
    *,
    title: str,
    colour: str = _BAR,
    maximum: float | None = None,
) -> str:
    """A horizontal bar chart: (label, value, value text) per row."""
    label_w, bar_w, row_h = 170, 420, 24
    top = max((value for _, value, _ in rows), default=0.0)
    scale = maximum if maximum is not None else (top or 1.0)
    height = row_h * len(rows) + 10
    parts = [
        f'<svg role="img" aria-label="{_e(title)}" width="{label_w + bar_w + 90}" '
        f'height="{height}" viewBox="0 0 {label_w + bar_w + 90} {height}">',
        f"<title>{_e(title)}</title>",
    ]
    for i, (label, value, text) in enumerate(rows):
        y = 5 + i * row_h
        width = 0.0 if scale <= 0 else max(0.0, min(1.0, value / scale)) * bar_w
        parts.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{_e(label)}</text>')
        parts.append(
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row_h - 8}" '
            f'fill="{colour}" rx="2"/>'
        )
        parts.append(f'<text x="{label_w + width + 6:.1f}" y="{y + 16}">{_e(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _histogram(values: Sequence[float], *, threshold: float, title: str) -> str:
    """Routing latency as a histogram of 20 bins with the SLO threshold drawn as a line."""
    width, height, pad = 600, 200, 30
    parts = [
        f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{_e(title)}</title>'
    ]
    if not values:
        parts.append(f'<text x="{pad}" y="{height / 2}">no routed journeys</text></svg>')
        return "".join(parts)
    top = max(max(values), threshold * 1.1)
    bins = [0] * 20
    for value in values:
        bins[min(19, int(value / top * 20))] += 1
    tallest = max(bins)
    bin_w = (width - 2 * pad) / 20
    for i, count in enumerate(bins):
        bar_h = 0 if not tallest else count / tallest * (height - 2 * pad)
        x, y = pad + i * bin_w, height - pad - bar_h
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bin_w - 2:.1f}" '
            f'height="{bar_h:.1f}" fill="{_BAR}"><title>{count} journeys</title></rect>'
        )
    line_x = pad + threshold / top * (width - 2 * pad)
    parts.append(
        f'<line x1="{line_x:.1f}" y1="{pad - 10}" x2="{line_x:.1f}" y2="{height - pad}" '
        f'stroke="{_BAD}" stroke-dasharray="4 3"/>'
        f'<text x="{line_x + 4:.1f}" y="{pad}">SLO {threshold:g} s</text>'
        f'<text x="{pad}" y="{height - 8}">0 s</text>'
        f'<text x="{width - pad}" y="{height - 8}" text-anchor="end">{top:.3g} s</text></svg>'
    )
    return "".join(parts)


def _tiles(statuses: Sequence[SliStatus]) -> str:
    tiles = []
    for sli in statuses:
        colour = _STATUS_COLOURS[sli.status]
        tiles.append(
            f'<div class="tile" style="background:{colour}" data-status="{_e(sli.status)}">'
            f'<div class="name">{_e(sli.name)}</div>'
            f'<div class="value">{_pct(sli.ratio.value)}</div>'
            f'<div class="status">{_e(sli.status)} · objective {sli.objective * 100:g}% · '
            f"{sli.ratio.good}/{sli.ratio.total}</div></div>"
        )
    return f'<div class="tiles">{"".join(tiles)}</div>'


def render_html(report: HealthReport, statuses: Sequence[SliStatus], *, title: str) -> str:
    """The whole page for ``report`` with the SLI ``statuses``."""
    total = len(report.journeys)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    funnel = _bars(
        [(stage, count, str(count)) for stage, count in report.funnel],
        title="Journeys reaching each stage",
        maximum=float(total or 1),
    )
    layers = _bars(
        [(layer, count, str(count)) for layer, count in report.layers],
        title="Broken journeys by layer",
        colour=_BAD,
    )
    consent = _bars(
        [(name, ratio.value or 0.0, _pct(ratio.value)) for name, ratio in report.consent],
        title="Consent valid at each checkpoint",
        maximum=1.0,
    )
    latency = _histogram(
        report.routing_latency_s,
        threshold=ROUTING_SLO_S,
        title="Seconds from journey start to routing",
    )
    p50, p95 = report.routing_percentile(0.5), report.routing_percentile(0.95)
    rows = (
        "".join(
            f"<tr><td>{_e(b.layer)}</td><td><code>{_e(b.stage)}</code></td><td>{_e(b.problem)}</td>"
            f'<td class="num">{b.journeys}</td><td><code>{_e(b.example)}</code></td>'
            f"<td>{_e(b.detail)}</td></tr>"
            for b in report.breakages
        )
        or '<tr><td colspan="6">No broken journeys.</td></tr>'
    )
    latency_text = (
        "no routed journeys"
        if p50 is None
        else f"p50 {p50:.3g} s, p95 {(p95 or 0):.3g} s; "
        f"{_pct(report.routing_within_slo.value)} within {ROUTING_SLO_S:g} s"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>{_CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="muted">{total} journeys, {report.broken} broken · generated {generated} by leadtrace</p>
<section id="slis"><h2>SLI status</h2>{_tiles(statuses)}</section>
<section id="funnel"><h2>Funnel by stage</h2>{funnel}</section>
<section id="broken"><h2>Broken journeys</h2>{layers}
<table><thead><tr><th>layer</th><th>stage</th><th>problem</th><th class="num">journeys</th>
<th>example journey</th><th>what arrived</th></tr></thead><tbody>{rows}</tbody></table>
</section>
<section id="routing"><h2>Routing latency</h2><p>{_e(latency_text)}</p>{latency}</section>
<section id="consent"><h2>Consent validity</h2>{consent}</section>
</body></html>
"""
