"""Synthetic identities: deterministic, unique, recognisable test people, always flagged.

An address looks like ``test+20260101t090000-3@example.test``: a fixed prefix, the run id,
a counter, and a reserved domain that can never reach a real inbox. Journeys started from a
synthetic identity carry ``martech.journey.synthetic=true``, so dashboards, SLIs and CRM
reports can include or exclude them.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any, Literal

from leadtrace.context import journey
from leadtrace.errors import ConfigError
from leadtrace.events import now
from leadtrace.privacy import IdentityKeys, identity

__all__ = [
    "RUN_ENV",
    "SyntheticIdentities",
    "SyntheticIdentity",
    "is_synthetic_email",
    "reset_synthetic_identities",
    "synthetic_identity",
]

RUN_ENV = "LEADTRACE_SYNTHETIC_RUN"
"""Environment variable holding the run id (set it to your CI build number)."""
DEFAULT_DOMAIN = "example.test"
DEFAULT_PREFIX = "test"

_TOKEN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class SyntheticIdentity:
    """One synthetic person.

    Attributes:
        email: the raw address to type into forms; never exported (only its hash is).
        anonymous_id: a first-party anonymous id for the same person.
        run: the run id shared by every identity of this run.
        number: position of this identity in the run, from 1.
        synthetic: always True.
    """

    email: str
    anonymous_id: str
    run: str
    number: int
    synthetic: Literal[True] = True

    @property
    def keys(self) -> IdentityKeys:
        """Identity keys (e-mail hashed with the active configuration's key)."""
        return identity(email=self.email, anonymous_id=self.anonymous_id)

    def journey(self, journey_id: str | None = None, **kwargs: Any) -> journey:
        """A :func:`leadtrace.journey` for this person, flagged synthetic.

        Keyword arguments (``campaign=``, ``consent=``, ...) go to ``leadtrace.journey``;
        ``synthetic`` cannot be turned off.
        """
        if kwargs.pop("synthetic", True) is not True:
            raise ConfigError("a synthetic identity's journey is always synthetic=True")
        return journey(journey_id, identity=self.keys, synthetic=True, **kwargs)


def _check_domain(domain: str) -> str:
    if not _DOMAIN.match(domain):
        raise ConfigError(
            f"synthetic identity domain {domain!r} is not a lower-case host name such as "
            f"{DEFAULT_DOMAIN!r}"
        )
    return domain


def _check_token(what: str, value: str) -> str:
    if not _TOKEN.match(value):
        raise ConfigError(
            f"synthetic identity {what} {value!r} must be 1-64 lower-case letters, digits, "
            "'.', '_' or '-'"
        )
    return value


class SyntheticIdentities:
    """A numbered series of synthetic identities sharing one run id.

    Args:
        run: run id; defaults to ``LEADTRACE_SYNTHETIC_RUN`` or, unset, the current time as
            ``YYYYMMDDtHHMMSS`` from leadtrace's clock (fixed under the test fixture); the
            ``t`` keeps the scrubber from taking the digits for a phone number.
        domain: e-mail domain; keep to reserved names (``example.test``, ``*.invalid``, or a
            domain you own and route nowhere).
        prefix: local-part prefix before ``+``.

    Raises:
        ConfigError: the run, domain or prefix is not a plain token / host name.
    """

    def __init__(
        self, *, run: str | None = None, domain: str = DEFAULT_DOMAIN, prefix: str = DEFAULT_PREFIX
    ) -> None:
        self.domain = _check_domain(domain)
        self.prefix = _check_token("prefix", prefix)
        self._run = _check_token("run", run) if run is not None else None
        self._count = 0
        self._lock = threading.Lock()

    @property
    def run(self) -> str:
        """The run id (decided on first use when not given)."""
        if self._run is None:
            env = os.environ.get(RUN_ENV)
            self._run = (
                _check_token(RUN_ENV, env.lower()) if env else now().strftime("%Y%m%dt%H%M%S")
            )
        return self._run

    def next(self, *, domain: str | None = None) -> SyntheticIdentity:
        """The next identity of the series (at ``domain`` instead of the series' domain)."""
        domain = self.domain if domain is None else _check_domain(domain)
        with self._lock:
            self._count += 1
            number = self._count
        run = self.run
        return SyntheticIdentity(
            email=f"{self.prefix}+{run}-{number}@{domain}",
            anonymous_id=f"synthetic-{run}-{number}",
            run=run,
            number=number,
        )

    def is_synthetic(self, email: str) -> bool:
        """Whether ``email`` belongs to this series' prefix and domain (any run)."""
        return is_synthetic_email(email, domain=self.domain, prefix=self.prefix)


def is_synthetic_email(
    email: str, *, domain: str = DEFAULT_DOMAIN, prefix: str = DEFAULT_PREFIX
) -> bool:
    """Whether ``email`` is a synthetic address (``{prefix}+...@{domain}``).

    Use it where traffic enters your app, to start the journey with ``synthetic=True``.
    """
    local, _, host = email.strip().lower().rpartition("@")
    return host == domain and local.startswith(f"{prefix}+")


_default = SyntheticIdentities()
_default_lock = threading.Lock()


def synthetic_identity(*, domain: str | None = None) -> SyntheticIdentity:
    """The next synthetic identity of this process's run (the fixture resets the series).

    Args:
        domain: e-mail domain for this identity; defaults to ``example.test``.
    """
    with _default_lock:
        series = _default
    return series.next(domain=domain)


def reset_synthetic_identities(series: SyntheticIdentities | None = None) -> None:
    """Start the default series again (numbering from 1, run id decided anew)."""
    global _default
    with _default_lock:
        _default = series if series is not None else SyntheticIdentities()
