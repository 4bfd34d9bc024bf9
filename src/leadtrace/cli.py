"""The ``leadtrace`` command (needs the ``cli`` extra: ``pip install 'leadtrace[cli]'``).

Owns: the ``leadtrace`` console script's entry point.

May import: ``_cli``.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["main"]


def _missing_cli() -> int:
    sys.stderr.write(
        "leadtrace: the command line needs the 'cli' extra: pip install 'leadtrace[cli]'\n"
    )
    return 2


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``leadtrace`` console script."""
    try:
        from leadtrace._cli import cli
    except ImportError:
        return _missing_cli()
    return cli.main(args=argv, prog_name="leadtrace")


if __name__ == "__main__":
    sys.exit(main())
