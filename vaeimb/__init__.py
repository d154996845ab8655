"""vaeimb: does a VAE's synthetic minority data beat plain oversampling on imbalanced MNIST?

The core package (no UI): data, models, balancing approaches, training, metrics, cached
experiment runs and sweeps. The Streamlit pages and the CLI (``python -m vaeimb``) call it.
"""

from .approaches import APPROACHES, DEFAULT_APPROACHES, get_approach
from .cache import ResultCache
from .config import ExperimentConfig, n_minority_from_ratio
from .errors import ConfigError, DataUnavailableError, VaeimbError
from .experiment import ExperimentResult, ProgressEvent, RunResult, VaeArtifact, load_vae, run_experiment
from .sweep import DEFAULT_RATIOS, SweepResult, run_sweep

__version__ = "0.1.0"

__all__ = [
    "APPROACHES", "DEFAULT_APPROACHES", "get_approach", "ResultCache", "ExperimentConfig",
    "n_minority_from_ratio", "ConfigError", "DataUnavailableError", "VaeimbError",
    "ExperimentResult", "ProgressEvent", "RunResult", "VaeArtifact", "load_vae", "run_experiment",
    "DEFAULT_RATIOS", "SweepResult", "run_sweep",
]
