"""Vendor call metrics: bounded, personal-data-free attributes (the instrumentors' own tests
cover what each vendor call counts)."""

from __future__ import annotations

from _vendorserver import metric_points

from leadtrace import semconv
from leadtrace.integrations._vendormetrics import OPERATION_LIMIT, count_call
from leadtrace.testing import Capture


def _count(operation: str, crm_object: str | None = None) -> None:
    count_call(
        "hubspot",
        operation,
        crm_object,
        failure_layer=None,
        failure_reason=None,
        retries=None,
        rate_remaining=None,
    )


def test_operations_past_the_cap_become_other(leadtrace_capture: Capture) -> None:
    """A caller that makes up object types cannot grow the series without bound."""
    for index in range(OPERATION_LIMIT + 50):
        _count(f"crm.p{index}_custom create")
    operations = {
        p.attributes[semconv.VENDOR_OPERATION]: p.value
        for p in metric_points(leadtrace_capture, "martech.vendor.calls")
    }
    assert len(operations) == OPERATION_LIMIT + 1
    assert operations["_other"] == 50


def test_a_phone_number_in_a_crm_object_is_replaced(leadtrace_capture: Capture) -> None:
    """A phone number where a CRM object name belongs is masked like on a span."""
    _count("crm.objects create", crm_object="+1 415 555 0100")
    (point,) = metric_points(leadtrace_capture, "martech.vendor.calls")
    assert "415" not in repr(point.attributes)
    assert point.attributes[semconv.VENDOR_OPERATION] == "crm.objects create"


def test_a_new_series_is_reported_at_zero_once(leadtrace_capture: Capture) -> None:
    """Prometheus's rate() starts from a series' first sample: the first collection shows
    the new series at zero, the next its count, so the first call is not lost."""
    _count("crm.contacts create")
    (first,) = leadtrace_capture.metric_points("martech.vendor.calls")
    (second,) = leadtrace_capture.metric_points("martech.vendor.calls")
    _count("crm.contacts create")
    (third,) = leadtrace_capture.metric_points("martech.vendor.calls")
    assert (first.value, second.value, third.value) == (0, 1, 2)
