"""Identity keys: normalisation, keyed hashing shared across services, the production key."""

from __future__ import annotations

import hashlib
import hmac

import pydantic
import pytest

import leadtrace
from leadtrace.errors import ConfigError
from leadtrace.privacy import (
    DEVELOPMENT_HASH_KEY,
    IdentityKeys,
    hash_value,
    identity,
    normalize_email,
    normalize_phone,
)

KEY_A = b"a" * 32 + b"-shared-secret-of-the-growth-stack"
KEY_B = b"b" * 32 + b"-another-teams-secret-nobody-shares"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("  Ada.Lovelace@Example.COM ", "ada.lovelace@example.com"), ("x@y.io", "x@y.io")],
)
def test_normalize_email_trims_and_lowercases(raw: str, expected: str) -> None:
    """E-mail addresses are trimmed and lower-cased before hashing."""
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("+44 20 7946 0958", "", "+442079460958"),
        ("0044 (20) 7946-0958", "", "+442079460958"),
        ("+1 (555) 010-9999", "", "+15550109999"),
        ("0151 1234 5678", "49", "+4915112345678"),
        ("555.010.9999", "+1", "+15550109999"),
    ],
)
def test_normalize_phone_gives_e164(raw: str, country: str, expected: str) -> None:
    """Phone numbers become + and digits only, with 00 and national trunk zeros resolved."""
    assert normalize_phone(raw, country) == expected


def test_identity_hashes_with_hmac_sha256_under_the_key() -> None:
    """The e-mail hash is HMAC-SHA256 of the normalised address under the given key."""
    keys = identity(email=" Ada@Example.com", key=KEY_A)
    expected = hmac.new(KEY_A, b"ada@example.com", hashlib.sha256).hexdigest()
    assert keys.email_hash == expected
    assert keys.email_hash != hashlib.sha256(b"ada@example.com").hexdigest()


def test_differently_written_phone_numbers_hash_the_same() -> None:
    """Two spellings of one number produce one phone hash."""
    first = identity(phone="+44 20 7946 0958", key=KEY_A)
    second = identity(phone="0044-20-7946-0958", key=KEY_A)
    assert first.phone_hash == second.phone_hash is not None


def test_two_services_with_the_same_key_produce_the_same_hash() -> None:
    """Two handles configured with one LEADTRACE_HASH_KEY hash a person identically."""
    web = leadtrace.configure(
        service_name="landing-web", local=True, environ={"LEADTRACE_HASH_KEY": KEY_A.decode()}
    )
    crm = leadtrace.configure(service_name="crm-sync", local=True, hash_key=KEY_A, environ={})
    other = leadtrace.configure(service_name="other", local=True, hash_key=KEY_B, environ={})
    hashes = []
    for h in (web, crm, other):
        with h.activate():
            hashes.append(identity(email="ada@example.com").email_hash)
        h.shutdown()
    assert hashes[0] == hashes[1]
    assert hashes[2] != hashes[0]


def test_identity_keeps_only_hashes_and_opaque_ids() -> None:
    """The built keys hold no raw e-mail or phone in any field."""
    keys = identity(email="ada@example.com", phone="+44 20 7946 0958", contact_id="C-1", key=KEY_A)
    dumped = keys.model_dump_json()
    assert "ada@example.com" not in dumped
    assert "7946" not in dumped
    assert keys.contact_id == "C-1"


def test_production_without_a_hash_key_fails_loudly() -> None:
    """configure() in production without LEADTRACE_HASH_KEY raises ConfigError naming it."""
    with pytest.raises(ConfigError, match="LEADTRACE_HASH_KEY"):
        leadtrace.configure(service_name="x", environment="production", local=True, environ={})


def test_short_hash_key_fails_loudly() -> None:
    """A key under 32 bytes is refused at setup, with the variable named."""
    with pytest.raises(ConfigError, match="LEADTRACE_HASH_KEY"):
        leadtrace.configure(
            service_name="x", local=True, environ={"LEADTRACE_HASH_KEY": "too-short"}
        )


def test_development_key_is_used_outside_production(handle: leadtrace.Leadtrace) -> None:
    """Without a key outside production, hashes use the public development key."""
    assert identity(email="ada@example.com").email_hash == hash_value(
        "ada@example.com", DEVELOPMENT_HASH_KEY
    )


def test_identity_keys_refuse_a_raw_email_as_hash_without_echoing_it() -> None:
    """Putting a raw address where a hash belongs fails, and the error hides the value."""
    with pytest.raises(pydantic.ValidationError) as caught:
        IdentityKeys(email_hash="ada@example.com")
    assert "ada@example.com" not in str(caught.value)
    assert "leadtrace.identity" in str(caught.value)
