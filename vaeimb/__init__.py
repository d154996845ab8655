"""vaeimb: does a VAE's synthetic minority data beat oversampling on imbalanced MNIST?

The core package (no UI): tasks (a digit pair, a long tail over several digits), data,
models, balancing approaches, training, metrics, cached experiment runs and sweeps. The Streamlit pages and the CLI (``python -m vaeimb``) call it.

The names below are loaded on first use, so importing a light module (``vaeimb.config``)
does not import torch: the dashboard can paint its first screen before torch has loaded.
"""

from __future__ import annotations

import importlib

from .version import __version__

_EXPORTS = {
    "PRESETS": "recipes", "Recipe": "recipes", "build_approach": "recipes", "parse_recipe": "recipes",
    "PROTOCOLS": "protocols", "TASK_KINDS": "task_kinds",
    "ResultCache": "cache",
    "ExperimentConfig": "config", "from_settings": "config", "n_minority_from_ratio": "config",
    "ConfigError": "errors", "DataUnavailableError": "errors", "VaeimbError": "errors",
    "ExperimentResult": "results", "ProgressEvent": "tasks", "RunResult": "results",
    "load_generator": "experiment", "run_experiment": "experiment",
    "DEFAULT_RATIOS": "sweep", "SweepResult": "sweep", "run_sweep": "sweep",
    "verdict": "verdict",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vaeimb' has no attribute {name!r}")
