"""Segment instrumentor: the real segment-analytics-python against a local batch endpoint.

The cases shared with RudderStack live in ``_analytics_cases.py``; Segment-only ones below.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator

import pytest
import segment.analytics
from _analytics_cases import (
    BATCH,
    Analytics,
    analytics_fixture,
    capture,
    named,
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
from _vendorserver import json_response, vendor_server
from pytest_httpserver import HTTPServer

from leadtrace import semconv
from leadtrace.integrations.segment import SegmentInstrumentor
from leadtrace.testing import Capture

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
    """Segment's real client and instrumentor for the shared cases."""
    yield from analytics_fixture("segment", segment.analytics.Client, SegmentInstrumentor(), server)


def test_rate_limited_batch_is_requeued_then_sent(analytics: Analytics, capture: Capture) -> None:
    """429 with Retry-After: the batch is re-queued (not dropped), then uploaded."""
    analytics.server.expect_ordered_request(BATCH, method="POST").respond_with_response(
        json_response(429, {"code": "rate_limited", "message": "slow down"}, Retry_After="1")
    )
    analytics.server.expect_ordered_request(BATCH, method="POST").respond_with_response(
        json_response(200, {"success": True})
    )
    client = analytics.client()
    client.track("user-1", "Demo Requested")
    client.flush()
    limited, sent = named(capture, "segment upload")
    assert limited.attributes[semconv.FAILURE_REASON] == "rate_limited"
    assert limited.attributes[semconv.VENDOR_BATCH_REQUEUED] == 1
    assert limited.attributes[semconv.VENDOR_RETRY_AFTER] == 1.0
    assert semconv.VENDOR_BATCH_DROPPED not in limited.attributes
    assert sent.attributes[semconv.VENDOR_BATCH_DROPPED] == 0
    assert len(analytics.messages()) == 2  # the same message, sent twice


def test_missing_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing the module without segment-analytics-python says which extra to install."""
    monkeypatch.setitem(sys.modules, "segment.analytics.client", None)
    monkeypatch.delitem(sys.modules, "leadtrace.integrations.segment", raising=False)
    with pytest.raises(ImportError, match=r"leadtrace\[segment\]"):
        importlib.import_module("leadtrace.integrations.segment")
