"""Identity keys: normalised and keyed-hashed so raw e-mail and phone never leave the process.

``identity(email=..., phone=...)`` normalises (e-mail: trimmed, lower-cased; phone: E.164
digits) and hashes with HMAC-SHA256 under the configured ``LEADTRACE_HASH_KEY``. Services that
share the key produce the same hash for the same person, so journeys join across systems,
while a dictionary attack on a leaked hash needs the key.

Owns: identity keys: normalisation and keyed hashing of e-mail and phone.

May import: ``_active`` (the hash key of the active setup), ``_fields``, ``_guard`` and
``semconv``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, field_validator

from leadtrace import semconv
from leadtrace._active import current
from leadtrace._fields import Attr
from leadtrace._guard import checked

__all__ = [
    "DEVELOPMENT_HASH_KEY",
    "IdentityKeys",
    "hash_value",
    "identity",
    "normalize_email",
    "normalize_phone",
]

_log = logging.getLogger("leadtrace.privacy")

DEVELOPMENT_HASH_KEY = b"leadtrace-development-key-not-secret-do-not-use-in-prod"
"""Key used outside production when ``LEADTRACE_HASH_KEY`` is unset (a warning is logged once)."""

_PHONE_KEEP = re.compile(r"[^\d+]")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_warned_dev_key = False


class IdentityKeys(BaseModel):
    """Identity keys safe to export: hashes and opaque ids only."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", use_attribute_docstrings=True, hide_input_in_errors=True
    )

    email_hash: Annotated[str | None, Attr(semconv.IDENTITY_EMAIL_HASH)] = None
    """HMAC-SHA256 hex of the normalised e-mail address."""
    phone_hash: Annotated[str | None, Attr(semconv.IDENTITY_PHONE_HASH)] = None
    """HMAC-SHA256 hex of the E.164 phone number."""
    anonymous_id: Annotated[str | None, Attr(semconv.IDENTITY_ANONYMOUS_ID)] = None
    """First-party anonymous id."""
    contact_id: Annotated[str | None, Attr(semconv.IDENTITY_CONTACT_ID)] = None
    """CRM contact id."""
    account_id: Annotated[str | None, Attr(semconv.IDENTITY_ACCOUNT_ID)] = None
    """CRM account id."""

    @field_validator("email_hash", "phone_hash")
    @classmethod
    def _must_be_a_hash(cls, value: str | None) -> str | None:
        # A raw e-mail put here by mistake would otherwise be exported under a key the
        # scrubber trusts. The message never repeats the value.
        if value is not None and not _HEX64.fullmatch(value):
            raise ValueError(
                "must be a 64-character lowercase hex HMAC-SHA256; pass raw values to "
                "leadtrace.identity(email=..., phone=...) instead"
            )
        return value


def normalize_email(email: str) -> str:
    """Trim and lower-case an e-mail address."""
    return email.strip().lower()


def normalize_phone(phone: str, default_country_code: str = "") -> str:
    """Reduce a phone number to E.164 form: ``+`` and digits only.

    A number without a leading ``+`` or ``00`` gets ``default_country_code`` (digits) prefixed.
    """
    cleaned = _PHONE_KEEP.sub("", phone.strip())
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not cleaned.startswith("+"):
        cleaned = "+" + default_country_code.lstrip("+") + cleaned.lstrip("0")
    return "+" + cleaned[1:].replace("+", "")


def _configured_key() -> bytes:

    key = current().settings.hash_key
    if key is not None:
        return key
    global _warned_dev_key
    if not _warned_dev_key:
        _warned_dev_key = True
        _log.warning(
            "LEADTRACE_HASH_KEY is not set: identity hashes use the public development key and "
            "will not join with services configured with a real key"
        )
    return DEVELOPMENT_HASH_KEY


def hash_value(value: str, key: bytes | None = None) -> str:
    """HMAC-SHA256 hex digest of an already normalised value."""
    digest = hmac.new(key or _configured_key(), value.encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()


def identity(
    *,
    email: str | None = None,
    phone: str | None = None,
    anonymous_id: str | None = None,
    contact_id: str | None = None,
    account_id: str | None = None,
    key: bytes | None = None,
) -> IdentityKeys:
    """Build exportable identity keys; e-mail and phone are normalised and hashed here.

    Args:
        email: raw e-mail address; only its keyed hash is kept.
        phone: raw phone number; only the keyed hash of its E.164 form is kept.
        anonymous_id: first-party anonymous id, kept as is.
        contact_id: CRM contact id, kept as is.
        account_id: CRM account id, kept as is.
        key: HMAC key; defaults to the configured ``LEADTRACE_HASH_KEY``.

    Raises:
        ArgumentTypeError: strict mode only: an argument is not text (``key``: bytes) or
            holds a lone surrogate; lenient mode counts it and leaves that key out.
    """
    text = "str or None"
    email = checked("identity", "email", email, str, text)
    phone = checked("identity", "phone", phone, str, text)
    anonymous_id = checked("identity", "anonymous_id", anonymous_id, str, text)
    contact_id = checked("identity", "contact_id", contact_id, str, text)
    account_id = checked("identity", "account_id", account_id, str, text)
    key = checked("identity", "key", key, bytes, "bytes or None")
    return IdentityKeys(
        email_hash=hash_value(normalize_email(email), key) if email else None,
        phone_hash=hash_value(normalize_phone(phone), key) if phone else None,
        anonymous_id=anonymous_id,
        contact_id=contact_id,
        account_id=account_id,
    )
