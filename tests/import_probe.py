"""Which heavy modules a piece of code loads, asked of a fresh interpreter (this test
process has them all loaded already)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sklearn", "imblearn")


def heavy_modules_loaded(code: str, modules=HEAVY) -> list[str]:
    """The ``modules`` that running ``code`` in a fresh python (in the repository root) loads."""
    probe = f"{code}\nimport sys; print(sorted(m for m in {tuple(modules)!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])
