"""vaeimb: does a VAE's synthetic minority data beat oversampling on imbalanced MNIST?

The core package (no UI). Its folders are its layers, bottom to top (``LAYERS``); a module
imports only from its own layer or the ones below:

- ``declarations``: what things are: settings and their constraints, the experiment config,
  protocols, the classification tasks (a digit pair, a long tail), the part contract, jobs
  and their progress events, errors, provenance, where shipped files lie;
- ``statistics``: paired tests, intervals, corrections, the verdict (numpy and scipy only);
- ``parts``: MNIST data, models, the training loop, metrics, and one folder per family of
  parts (sources, generators, losses, decisions, augmentations, batches, mixing);
- ``running``: recipes and their results, the runner that trains one job, the executor that
  runs many (processes, Ray, the app's child), the result cache, results as files;
- ``studies``: an experiment, generator quality, sweeps, the recipe search, the atlas;
- ``presentation``: reports, figures, the shipped references, the latent explorer's data;
- ``interfaces``: the command line and the app's run in a child process.

The Streamlit pages and the CLI (``python -m vaeimb``) call it. The names below are loaded
on first use, so importing a light module (``vaeimb.declarations.config``) does not import
torch: the dashboard can paint its first screen before torch has loaded.
"""

from __future__ import annotations

import importlib

from .declarations.version import __version__

#: The package's layers, bottom to top: each is a folder of ``vaeimb/``.
LAYERS = ("declarations", "statistics", "parts", "running", "studies", "presentation", "interfaces")

_EXPORTS = {
    "PRESETS": "running.recipes", "Recipe": "running.recipes", "build_approach": "running.recipes",
    "parse_recipe": "running.recipes",
    "PROTOCOLS": "declarations.protocols", "TASK_KINDS": "declarations.task_kinds",
    "ResultCache": "running.cache",
    "ExperimentConfig": "declarations.config", "from_settings": "declarations.config",
    "n_minority_from_ratio": "declarations.config",
    "ConfigError": "declarations.errors", "DataUnavailableError": "declarations.errors",
    "VaeimbError": "declarations.errors",
    "ExperimentResult": "running.results", "ProgressEvent": "declarations.jobs", "RunResult": "running.results",
    "load_generator": "studies.experiment", "run_experiment": "studies.experiment",
    "DEFAULT_RATIOS": "studies.sweep", "SweepResult": "studies.sweep", "run_sweep": "studies.sweep",
    "verdict": "statistics.verdict",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vaeimb' has no attribute {name!r}")
