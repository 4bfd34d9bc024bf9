"""Run every benchmark module (``make bench``): each prints its side-by-side ratios."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    """Import and run ``main()`` of every ``benchmarks/bench_*.py``, or those named on argv."""
    wanted = set(sys.argv[1:])
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if not info.name.startswith("bench_") or (wanted and info.name not in wanted):
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        print(f"\n=== {info.name} ===", flush=True)
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
