"""Consent state: immutable, explicit about status, purposes, lawful basis and source.

A :class:`ConsentState` never changes; a new decision creates a new state (see
:meth:`ConsentState.replace`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadtrace import semconv
from leadtrace._fields import Attr

__all__ = ["ConsentBasis", "ConsentSource", "ConsentState", "ConsentStatus"]

ConsentStatus = Literal["granted", "denied", "unknown", "withdrawn"]
"""Consent status values (``semconv.CONSENT_STATUS_*``)."""
ConsentBasis = Literal["consent", "legitimate_interest", "contract", "legal_obligation"]
"""Lawful basis values (``semconv.CONSENT_BASIS_*``)."""
ConsentSource = Literal["banner", "form", "gpc", "tcf", "import"]
"""Where a consent state came from (``semconv.CONSENT_SOURCE_*``)."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


class ConsentState(BaseModel):
    """A consent decision at one point in time. Immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Annotated[ConsentStatus, Attr(semconv.CONSENT_STATUS)] = "unknown"
    """Status of the decision."""
    purposes: Annotated[frozenset[str], Attr(semconv.CONSENT_PURPOSES)] = frozenset()
    """Purposes the status applies to, e.g. ``{"analytics", "marketing"}``."""
    basis: Annotated[ConsentBasis | None, Attr(semconv.CONSENT_BASIS)] = None
    """Lawful basis of the processing."""
    source: Annotated[ConsentSource | None, Attr(semconv.CONSENT_SOURCE)] = None
    """Where the decision was captured."""
    gpc: Annotated[bool, Attr(semconv.CONSENT_GPC)] = False
    """Whether the browser sent Global Privacy Control (``Sec-GPC: 1``)."""
    captured_at: datetime = Field(default_factory=_now)
    """When the decision was captured (UTC)."""

    def allows(self, purpose: str) -> bool:
        """Whether this state grants ``purpose`` (granted status and the purpose listed)."""
        return self.status == "granted" and purpose in self.purposes

    def replace(self, **changes: Any) -> ConsentState:
        """A new state with ``changes`` applied and a fresh ``captured_at``."""
        data = self.model_dump()
        data.update(changes)
        data.setdefault("captured_at", _now())
        if "captured_at" not in changes:
            data["captured_at"] = _now()
        return ConsentState.model_validate(data)
