"""RudderStack instrumentor: the real rudder-sdk-python against a local batch endpoint.

The cases shared with Segment live in ``_analytics_cases.py``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator

import pytest
import rudderstack.analytics
from _analytics_cases import (
    Analytics,
    analytics_fixture,
    capture,
    producers,
    test_a_full_queue_drop_is_counted,
    test_full_queue_drop_is_recorded,
    test_instrumentation_fault_never_reaches_the_caller,
    test_non_recording_span_gets_no_attributes,
    test_noop_tracer_provider_works,
    test_personal_data_in_an_id_never_reaches_the_vendor,
    test_producer_spans_from_the_environment,
    test_rejected_batch_is_dropped,
    test_server_error_is_retried_and_counted,
    test_sync_mode_failure_reaches_the_caller_counted_once,
    test_sync_mode_upload_is_a_child_span,
    test_the_callers_own_context_keys_are_kept,
    test_the_message_carries_the_callers_span,
    test_the_upload_span_is_the_http_client_span,
    test_track_span_stamps_the_message,
    test_uninstrument_restores_the_client,
    test_upload_span_links_to_its_producers,
)
from _vendorserver import vendor_server
from pytest_httpserver import HTTPServer

from leadtrace.integrations.rudderstack import RudderStackInstrumentor

SHARED = (
    capture,
    producers,
    test_a_full_queue_drop_is_counted,
    test_the_callers_own_context_keys_are_kept,
    test_the_message_carries_the_callers_span,
    test_personal_data_in_an_id_never_reaches_the_vendor,
    test_producer_spans_from_the_environment,
    test_full_queue_drop_is_recorded,
    test_instrumentation_fault_never_reaches_the_caller,
    test_non_recording_span_gets_no_attributes,
    test_noop_tracer_provider_works,
    test_rejected_batch_is_dropped,
    test_server_error_is_retried_and_counted,
    test_sync_mode_failure_reaches_the_caller_counted_once,
    test_sync_mode_upload_is_a_child_span,
    test_the_upload_span_is_the_http_client_span,
    test_track_span_stamps_the_message,
    test_uninstrument_restores_the_client,
    test_upload_span_links_to_its_producers,
)


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    """One local batch endpoint for the module."""
    yield from vendor_server()


@pytest.fixture
def analytics(server: HTTPServer) -> Iterator[Analytics]:
    """RudderStack's real client and instrumentor for the shared cases."""
    yield from analytics_fixture(
        "rudderstack", rudderstack.analytics.Client, RudderStackInstrumentor(), server
    )


def test_missing_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing the module without rudder-sdk-python says which extra to install."""
    monkeypatch.setitem(sys.modules, "rudderstack.analytics.client", None)
    monkeypatch.delitem(sys.modules, "leadtrace.integrations.rudderstack", raising=False)
    with pytest.raises(ImportError, match=r"leadtrace\[rudderstack\]"):
        importlib.import_module("leadtrace.integrations.rudderstack")
