"""Where a result was computed: code fingerprint, versions, threads, device.

The fingerprint enters every cache key, so a change to any module that decides numbers
is never served stale results; the environment travels in every run's ``info`` and in
the exports.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: Modules (files or folders) whose code decides the numbers. Reports, figures, the CLI
#: and the app only show them.
RESULT_MODULES = (
    "config.py", "protocols.py", "params.py", "parts.py", "recipes.py", "data.py", "models.py",
    "training.py", "experiment.py", "metrics.py",
    "generators", "losses", "decisions", "augmentations", "batches",
)


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A short hash of the source of every module in ``RESULT_MODULES``."""
    h = hashlib.sha256()
    for name in RESULT_MODULES:
        path = PACKAGE_DIR / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for f in files:
            if f.is_file():
                h.update(str(f.relative_to(PACKAGE_DIR)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:12]


def compute_identity() -> dict:
    """What, beyond the config, changes a trained model's numbers on this machine: the
    torch thread count (reductions are ordered by thread), the device type and the
    training precision."""
    import torch

    from .training import pick_device, precision, use_all_cores

    use_all_cores()
    return {"threads": torch.get_num_threads(), "device": pick_device().type, "precision": precision()}


def environment() -> dict:
    """Versions and machine facts recorded beside every result."""
    import numpy
    import torch

    from . import __version__

    return {
        **compute_identity(),
        "vaeimb": __version__,
        "code": code_fingerprint(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": cpu_name(),
        "pid_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
