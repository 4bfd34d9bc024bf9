"""docs/testing.md shows a real failure: its example, run, fails with the message it prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from leadtrace.testing import Capture, JourneyAssertionError, synthetic_identity

DOC = Path(__file__).parents[2] / "docs" / "testing.md"


def _block(marker: str, language: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {marker} -->\n```{language}\n(.*?)\n```", text, re.DOTALL)
    assert match is not None, f"docs/testing.md has no {language} block after <!-- {marker} -->"
    return match.group(1)


def test_doc_failure_message_is_the_real_one(leadtrace_capture: Capture) -> None:
    """Running the documented test raises exactly the message the page shows."""
    namespace: dict[str, object] = {}
    exec(_block("example: failing-journey", "python"), namespace)  # noqa: S102 - our own doc
    test = namespace["test_demo_request_reaches_sales"]
    assert callable(test)
    with pytest.raises(JourneyAssertionError) as raised:
        test(leadtrace_capture)
    assert str(raised.value) == _block("message: failing-journey", "text")


def test_doc_example_address_matches_the_fixture(leadtrace_capture: Capture) -> None:
    """The synthetic address quoted in the example is the one the fixture produces first."""
    assert synthetic_identity().email in _block("example: failing-journey", "python")
