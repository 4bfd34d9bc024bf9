"""Data contracts: which attributes each stage must carry to be sales-ready.

One definition drives the runtime quality verdict on every emitted event
(``martech.quality.missing`` / ``martech.quality.complete``) and the journey assertions in
tests. Defaults follow the domain brief (a CRM record must carry campaign id, source /
medium, consent status, lead score and routing rule id); a YAML file replaces them::

    version: 1
    stages:
      crm_updated:
        required: [campaign.id, campaign.source, campaign.medium, consent.status,
                   lead.score, routing.rule_id]

Short names are relative to ``martech.``; a full attribute name works too. A file that
starts with ``extends: defaults`` keeps the built-in stages and replaces only those it lists.
The built-in defaults ship as ``leadtrace/default_contracts.yaml`` (:data:`DEFAULT_CONTRACTS_FILE`),
a starting point to copy; a test keeps it equal to :data:`DEFAULT_CONTRACTS`.

Owns: data contracts: the attributes each stage must carry.

May import: ``errors`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadtrace.errors import ConfigError

__all__ = [
    "DEFAULT_CONTRACTS",
    "DEFAULT_CONTRACTS_FILE",
    "Contracts",
    "full_name",
    "load_contracts",
    "short_name",
]

DEFAULT_CONTRACTS_FILE = Path(__file__).with_name("default_contracts.yaml")
"""The built-in contracts as YAML: copy it to start your own file."""

DEFAULT_CONTRACTS: Mapping[str, tuple[str, ...]] = {
    "form_submitted": ("form.id", "campaign.source", "campaign.medium", "consent.status"),
    "consent_captured": ("consent.status", "consent.source"),
    "lead_created": ("lead.id", "lead.dedupe_outcome", "campaign.id", "consent.status"),
    "lead_enriched": ("lead.id", "enrichment.outcome"),
    "lead_routed": (
        "lead.id",
        "routing.rule_id",
        "routing.owner_id",
        "campaign.id",
        "consent.status",
    ),
    "crm_updated": (
        "crm.record_id",
        "campaign.id",
        "campaign.source",
        "campaign.medium",
        "consent.status",
        "lead.score",
        "routing.rule_id",
    ),
    "sales_acknowledged": ("lead.id", "routing.owner_id", "consent.status"),
}
"""Built-in required fields per stage (short attribute names)."""


def full_name(name: str) -> str:
    """Full attribute name of a contract field: ``lead.score`` -> ``martech.lead.score``.

    Names that already start with ``martech.`` and names without a dot are kept as they are.
    """
    return name if name.startswith("martech.") or "." not in name else f"martech.{name}"


def short_name(attribute: str) -> str:
    """Name of an attribute relative to ``martech.``, as contracts and messages write it."""
    return attribute.removeprefix("martech.")


@dataclass(frozen=True)
class Contracts:
    """Required attributes per stage, with names expanded to full attribute keys."""

    stages: Mapping[str, tuple[str, ...]]
    source: str = "built-in defaults"

    @classmethod
    def from_mapping(cls, stages: Mapping[str, Any], source: str) -> Contracts:
        """Build from ``{stage: [name, ...]}``; short names get the ``martech.`` prefix."""
        return cls({k: tuple(full_name(str(n)) for n in v) for k, v in stages.items()}, source)

    def required(self, stage: str) -> tuple[str, ...]:
        """Full attribute names ``stage`` requires (empty when it has no contract)."""
        return self.stages.get(stage, ())

    def missing(self, stage: str, attributes: Mapping[str, Any]) -> list[str]:
        """Required attributes of ``stage`` absent (or empty) in ``attributes``."""
        return [
            name for name in self.stages.get(stage, ()) if attributes.get(name) in (None, "", ())
        ]


def load_contracts(path: str | Path | None) -> Contracts:
    """Load contracts from a YAML file, or the defaults when ``path`` is None.

    Raises:
        ConfigError: the file is missing, not YAML, or not of the documented shape.
    """
    if path is None:
        return Contracts.from_mapping(DEFAULT_CONTRACTS, "built-in defaults")
    try:
        import yaml
    except ImportError as exc:
        raise ConfigError(
            "LEADTRACE_CONTRACTS points at a YAML file; install PyYAML: "
            "pip install 'leadtrace[yaml]'"
        ) from exc
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"contracts file {str(file)!r} cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"contracts file {str(file)!r} is not valid YAML: {exc}") from exc
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict):
        raise ConfigError(
            f"contracts file {str(file)!r} needs a top-level 'stages:' mapping of "
            "stage -> {required: [field, ...]}"
        )
    extends = data.get("extends")
    if extends not in (None, "defaults"):
        raise ConfigError(
            f"contracts file {str(file)!r}: 'extends' can only be 'defaults', got {extends!r}"
        )
    parsed: dict[str, Any] = dict(DEFAULT_CONTRACTS) if extends == "defaults" else {}
    for stage, body in stages.items():
        required = body.get("required") if isinstance(body, dict) else None
        if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
            raise ConfigError(
                f"contracts file {str(file)!r}: stage {stage!r} needs 'required:' as a list of "
                "field names such as [campaign.id, consent.status]"
            )
        parsed[str(stage)] = required
    return Contracts.from_mapping(parsed, str(file))
