"""Where the package lives on disk, and where everything that ships with it lies.

Every shipped file is under ``vaeimb/shipped/`` (package data): the reference results, the
generator study, the recipe searches' records, the atlas and the first-view result.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The ``vaeimb`` package folder.
PACKAGE_DIR = Path(__file__).resolve().parents[1]
#: The folder that holds the package: a child process or a Ray worker puts it on its path.
SOURCE_ROOT = PACKAGE_DIR.parent
SHIPPED_DIR = PACKAGE_DIR / "shipped"
#: The digit pair's reference results (every preset, 5 paired seeds, both classifiers).
REFERENCE_PAIR_FILE = SHIPPED_DIR / "reference_results.json"
#: The ten-digit long tail's reference results.
REFERENCE_LONGTAIL_FILE = SHIPPED_DIR / "reference_longtail.json"
#: Generators given their best shot (issue #23's study).
GENERATOR_STUDY_FILE = SHIPPED_DIR / "generator_study.json"
#: The recipe searches' records, one JSON per searched preset.
SEARCHED_DIR = SHIPPED_DIR / "searched"
#: The atlas at the reference budget (every digit pair).
ATLAS_DIR = SHIPPED_DIR / "atlas"
#: The app's first view: a finished experiment at the default settings, with its generators.
FIRST_VIEW_DIR = SHIPPED_DIR / "default"


def user_cache_root() -> Path:
    """``$XDG_CACHE_HOME/vaeimb`` (default ``~/.cache/vaeimb``): the user's results, MNIST
    and what is kept to start faster (decoded MNIST, the code fingerprint's file digests)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vaeimb"
