"""SLOs: the SLI file, Prometheus rule generation, Sloth compatibility.

- :mod:`leadtrace.slo.spec`: the SLI / SLO YAML file (pydantic models, built-in defaults).
- :mod:`leadtrace.slo.rules`: recording rules and multi-window multi-burn-rate alerts.
- :mod:`leadtrace.slo.sloth`: Sloth's ``prometheus/v1`` spec as an input.

The CLI (``leadtrace slo check`` / ``leadtrace slo generate``) calls :func:`load_slos`.
"""

from __future__ import annotations

from pathlib import Path

from leadtrace.errors import ConfigError
from leadtrace.slo.rules import SloRules, from_slis, render
from leadtrace.slo.sloth import from_sloth, parse_sloth
from leadtrace.slo.spec import DEFAULT_SLIS_FILE, SliFile, load_slis, parse_slis

__all__ = [
    "DEFAULT_SLIS_FILE",
    "SliFile",
    "SloRules",
    "generate",
    "load_slis",
    "load_slos",
]


def load_slos(path: str | Path | None = None) -> list[SloRules]:
    """SLOs of a leadtrace SLI file or a Sloth ``prometheus/v1`` spec (built-in when None).

    Raises:
        ConfigError: the file cannot be read or is invalid; the message says where and why.
    """
    if path is None:
        return from_slis(load_slis())
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"SLO file {str(file)!r} cannot be read: {exc.strerror}") from None
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None  # parse_slis reports the line
    if isinstance(data, dict) and data.get("version") == "prometheus/v1":
        return from_sloth(parse_sloth(data, str(file)))
    return from_slis(parse_slis(text, str(file)))


def generate(path: str | Path | None = None) -> str:
    """The Prometheus rules file (YAML text) for an SLO file (built-in SLIs when None)."""
    source = str(path) if path is not None else "the built-in SLIs"
    return render(load_slos(path), source)
