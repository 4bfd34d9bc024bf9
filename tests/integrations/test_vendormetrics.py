"""Vendor call metrics: bounded, personal-data-free attributes (the instrumentors' own tests
cover what each vendor call counts)."""

from __future__ import annotations

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
        for p in leadtrace_capture.metric_points("martech.vendor.calls")
    }
    assert len(operations) == OPERATION_LIMIT + 1
    assert operations["_other"] == 50


def test_a_phone_number_in_a_crm_object_is_replaced(leadtrace_capture: Capture) -> None:
    """A phone number where a CRM object name belongs is masked like on a span."""
    _count("crm.objects create", crm_object="+1 415 555 0100")
    (point,) = leadtrace_capture.metric_points("martech.vendor.calls")
    assert "415" not in repr(point.attributes)
    assert point.attributes[semconv.VENDOR_OPERATION] == "crm.objects create"
