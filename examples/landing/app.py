"""A FastAPI landing page: consent banner + demo-request form, instrumented with leadtrace.

Run it from a clone (the ``fastapi`` extra brings FastAPI, uvicorn and OpenTelemetry's FastAPI
instrumentation)::

    pip install -e '.[fastapi]'
    python examples/landing/app.py --port 8000

It prints the URL to open and where its spans go: the local store (``.leadtrace/``), or your
collector when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

Journey of a visitor: ``GET /`` (session_started + campaign_attributed, form_viewed) ->
``POST /consent`` (consent_captured) -> ``POST /demo`` (form_submitted with field names only;
the e-mail address becomes a keyed hash). Consent comes before cookies: the first-touch cookie
is written only when the visitor accepts the banner (the ``consent_policy`` setting, ``opt_in``
by default), with the touch of the landing URL the banner was accepted on; Reject writes no
cookie (and deletes one written before), so every later visit is a journey of its own.
"""

from __future__ import annotations

import argparse
import html
import os
import uuid
from urllib.parse import parse_qs

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

import leadtrace
from leadtrace.integrations.asgi import instrument_fastapi
from leadtrace.store import SQLiteSpanExporter

FORM_ID = "demo-request"
FORM_VERSION = "3"
CONSENT_COOKIE = "landing_consent"
PURPOSES = frozenset({"analytics", "marketing", "sales_contact"})

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Acme Pipeline: book a demo</title>
  <style>
    body {{ font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }}
    #consent-banner {{ border: 1px solid #888; padding: 1rem; margin-bottom: 2rem; }}
    label {{ display: block; margin-top: .75rem; }}
  </style>
</head>
<body>
  {banner}
  <h1>See Acme Pipeline in action</h1>
  <p>Tell us where to reach you and a specialist will book a 30-minute demo.</p>
  <form id="demo-request" method="post" action="/demo">
    <label>Work e-mail <input type="email" name="email" required autocomplete="email"></label>
    <label>Full name <input type="text" name="name" required autocomplete="name"></label>
    <label>Company <input type="text" name="company" autocomplete="organization"></label>
    <label>Country
      <select name="country">
        <option value="US">United States</option>
        <option value="GB">United Kingdom</option>
        <option value="DE">Germany</option>
        <option value="AT">Austria</option>
        <option value="CH">Switzerland</option>
        <option value="FR">France</option>
      </select>
    </label>
    <label>Team size
      <select name="team_size">
        <option value="1-10">1-10</option>
        <option value="11-50">11-50</option>
        <option value="51+">51+</option>
      </select>
    </label>
    <input type="hidden" name="form_version" value="{form_version}">
    <button type="submit">Request a demo</button>
  </form>
  <footer><a id="cookie-settings" href="/privacy">Cookie settings</a></footer>
</body>
</html>
"""

BANNER = """<section id="consent-banner" aria-label="Cookie consent">
    <p>We use cookies to measure which campaigns bring you here and to follow up on demo
    requests. Is that OK?</p>
    <form method="post" action="/consent">
      <button type="submit" name="choice" value="accept">Accept</button>
      <button type="submit" name="choice" value="reject">Reject</button>
    </form>
  </section>"""

PRIVACY = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cookie settings</title></head>
<body><h1>Cookie settings</h1>{banner}</body></html>
"""

THANKS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Thanks</title></head>
<body><h1 id="thanks">Thanks, {name}!</h1><p>We will be in touch shortly.</p>
<p><a href="/">Back</a></p></body></html>
"""


def _banner_consent(request: Request) -> leadtrace.ConsentState | None:
    """The visitor's banner decision, from the first-party cookie the banner set."""
    choice = request.cookies.get(CONSENT_COOKIE)
    if choice == "granted":
        return leadtrace.ConsentState(
            status="granted", purposes=PURPOSES, basis="consent", source="banner"
        )
    if choice == "denied":
        return leadtrace.ConsentState(status="denied", purposes=PURPOSES, source="banner")
    return None


LEGACY_FORM_VERSION = "2"
"""The previous form, still linked from an old campaign. Its hand-off path predates consent
capture and forwards the journey without the visitor's consent: the "consent lost between
form and router" failure that the demo's ``consent_missing`` fault shows."""


_WORKER_CLIENT: list[httpx.AsyncClient] = []
"""One connection pool to the worker for the app's life (a client per request costs more
than the hand-off itself)."""


async def forward_lead(fields: dict[str, list[str]]) -> str | None:
    """Hand the demo request to the lead pipeline worker, carrying the journey across.

    ``DEMO_WORKER_URL`` (``leadtrace demo`` sets it) names ``examples/pipeline/worker.py``;
    unset, the landing page keeps its leads to itself. Returns the lead id handed over.
    """
    url = os.environ.get("DEMO_WORKER_URL")
    journey = leadtrace.current_journey()
    if not url or journey is None:
        return None
    first = {name: values[0] for name, values in fields.items() if values}
    if first.get("form_version") == LEGACY_FORM_VERSION:
        journey = journey.replace(consent=None)  # the legacy path's bug, kept for the demo
    headers: dict[str, str] = {}
    leadtrace.inject(headers, url=url, context=journey)
    lead_id = f"L-{uuid.uuid4().hex[:12]}"
    lead = {
        "lead_id": lead_id,
        "email": first.get("email", ""),
        "company": first.get("company", ""),
        "country": first.get("country", "US"),
    }
    if not _WORKER_CLIENT:
        _WORKER_CLIENT.append(httpx.AsyncClient(timeout=10.0))
    response = await _WORKER_CLIENT[0].post(f"{url}/leads", json=lead, headers=headers)
    response.raise_for_status()
    return lead_id


def create_app() -> FastAPI:
    """Build the landing app; instrument it with the active leadtrace configuration."""
    app = FastAPI(title="Acme landing page")

    @app.get("/", response_class=HTMLResponse)
    async def landing(request: Request) -> str:
        consent = _banner_consent(request)
        if consent is not None:
            leadtrace.annotate(consent=consent)
        leadtrace.emit("form_viewed", form_id=FORM_ID, form_version=FORM_VERSION)
        banner = "" if consent is not None else BANNER
        return PAGE.format(banner=banner, form_version=FORM_VERSION)

    @app.get("/privacy", response_class=HTMLResponse)
    async def privacy() -> str:
        return PRIVACY.format(banner=BANNER)

    @app.post("/consent")
    async def consent(request: Request) -> Response:
        fields = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        granted = fields.get("choice", [""])[0] == "accept"
        state = leadtrace.ConsentState(
            status="granted" if granted else "denied",
            purposes=PURPOSES,
            basis="consent" if granted else None,
            source="banner",
        )
        leadtrace.annotate(consent=state)
        leadtrace.emit("consent_captured", consent=state)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            CONSENT_COOKIE,
            "granted" if granted else "denied",
            max_age=180 * 86400,
            httponly=True,
            samesite="lax",
        )
        return response

    @app.post("/demo", response_class=HTMLResponse)
    async def demo(request: Request) -> str:
        fields = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        email = fields.get("email", [""])[0]
        name = fields.get("name", [""])[0]
        consent = _banner_consent(request)
        leadtrace.annotate(
            consent=consent,
            identity=leadtrace.identity(email=email) if email else None,
        )
        leadtrace.emit(
            "form_submitted",
            form_id=FORM_ID,
            form_version=fields.get("form_version", [FORM_VERSION])[0],
            field_names=sorted(fields),
        )
        await forward_lead(fields)
        return THANKS.format(name=html.escape(name or "there"))

    instrument_fastapi(app)
    return app


def demo_store() -> list[SQLiteSpanExporter] | None:
    """``leadtrace demo`` names its journey store in ``DEMO_STORE``: spans go there as well
    as to ``OTEL_EXPORTER_OTLP_ENDPOINT`` when one is set."""
    path = os.environ.get("DEMO_STORE")
    return [SQLiteSpanExporter(path)] if path else None


def main() -> None:
    """Configure leadtrace, say where to look, and serve the landing page with uvicorn."""
    try:
        import uvicorn
    except ImportError:
        raise SystemExit("the landing example needs uvicorn: pip install -e '.[fastapi]'") from None

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    leadtrace.configure(service_name="landing-web", span_exporters=demo_store())
    query = "utm_source=google&utm_medium=cpc&utm_campaign=spring-launch"
    print(f"landing page: http://{args.host}:{args.port}/?{query}", flush=True)
    print(leadtrace.describe(), flush=True)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
