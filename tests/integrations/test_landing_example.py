"""The examples/landing FastAPI app: real HTML, consent banner, demo form, journey events."""

from __future__ import annotations

import importlib.util
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import httpx
from _webtest import CAMPAIGN_QUERY, server_spans, spans_named

from leadtrace import semconv
from leadtrace._runtime import Leadtrace

APP_PATH = Path(__file__).resolve().parents[2] / "examples" / "landing" / "app.py"


def load_example() -> ModuleType:
    """Import examples/landing/app.py as a module."""
    spec = importlib.util.spec_from_file_location("landing_example", APP_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Forms(HTMLParser):
    """Collects each form's method, action and input names, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, object]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.forms.append(
                {"method": values.get("method"), "action": values.get("action"), "names": []}
            )
        elif tag in {"input", "select", "button", "textarea"} and values.get("name"):
            names = self.forms[-1]["names"]
            assert isinstance(names, list)
            names.append(values["name"])


async def test_landing_journey_from_click_to_demo_request(web: Leadtrace) -> None:
    """A visitor lands from an ad, accepts the banner and requests a demo: one journey."""
    app = load_example().create_app()
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://landing.test", follow_redirects=True
    ) as client:
        page = await client.get(f"/?{CAMPAIGN_QUERY}")
        parser = Forms()
        parser.feed(page.text)
        assert [(f["method"], f["action"]) for f in parser.forms] == [
            ("post", "/consent"),
            ("post", "/demo"),
        ]
        assert 'id="consent-banner"' in page.text
        after_consent = await client.post("/consent", data={"choice": "accept"})
        assert 'id="consent-banner"' not in after_consent.text
        thanks = await client.post(
            "/demo",
            data={
                "email": "ada@example.com",
                "name": "Ada",
                "company": "",
                "team_size": "1-10",
                "form_version": "3",
            },
        )
    assert 'id="thanks"' in thanks.text
    journey_ids = {s.attributes[semconv.JOURNEY_ID] for s in server_spans(web)}
    assert len(journey_ids) == 1
    (captured,) = spans_named(web, "consent_captured")
    assert captured.attributes[semconv.CONSENT_STATUS] == "granted"
    (submitted,) = spans_named(web, "form_submitted")
    assert submitted.attributes[semconv.FORM_FIELD_NAMES] == (
        "company",
        "email",
        "form_version",
        "name",
        "team_size",
    )
    assert submitted.attributes[semconv.CAMPAIGN_NAME] == "spring-launch"
    assert len(submitted.attributes[semconv.IDENTITY_EMAIL_HASH]) == 64
    assert len(spans_named(web, "form_viewed")) == 2
    for span in web.finished_spans():
        assert all("ada@example.com" not in str(v) for v in span.attributes.values())


def test_fastapi_extra_brings_what_the_example_needs() -> None:
    """``pip install 'leadtrace[fastapi]'`` installs uvicorn, which the example serves with."""
    import importlib.metadata

    requirements = importlib.metadata.requires("leadtrace") or []
    fastapi_extra = {
        r.split(";")[0].split(">")[0].strip() for r in requirements if "fastapi" in r.split(";")[-1]
    }
    assert {"fastapi", "uvicorn", "opentelemetry-instrumentation-fastapi"} <= fastapi_extra
