"""The one interface every balancing approach implements (after imbalanced-learn's samplers).

An approach decides three things and nothing else: which images the classifier trains on,
whether its batches are class-balanced, and where the decision threshold sits. Training,
evaluation and caching are shared by all of them (see ``vaeimb.experiment``).
"""

from __future__ import annotations

import math
from abc import ABC
from typing import Any, ClassVar, Mapping

import numpy as np

from ..config import ExperimentConfig
from ..data import ExperimentData


class Approach(ABC):
    """Base class. Subclasses set the class attributes and override what differs."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: Hyper-parameters and their defaults; a config may override them per approach.
    defaults: ClassVar[Mapping[str, Any]] = {}
    #: Whether the approach needs a VAE trained on the minority images.
    needs_vae: ClassVar[bool] = False
    #: Name of the approach whose trained classifier this one reuses (None: trains its own).
    reuses_model_of: ClassVar[str | None] = None

    def params(self, config: ExperimentConfig) -> dict[str, Any]:
        return config.params_for(self.name, self.defaults)

    def unavailable_reason(self, config: ExperimentConfig) -> str | None:
        """Why this approach cannot run on ``config`` (None when it can)."""
        return None

    def training_set(
        self, data: ExperimentData, config: ExperimentConfig, generated: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Images (uint8) and labels (1 = minority) the classifier trains on."""
        return data.train_x, data.train_y

    def balanced_batches(self, config: ExperimentConfig) -> bool:
        return False

    def threshold(self, config: ExperimentConfig) -> float:
        """Decision threshold on the minority log-odds (0 = the usual argmax)."""
        return 0.0

    def n_generated(self, config: ExperimentConfig) -> int:
        return 0

    def threshold_probability(self, config: ExperimentConfig) -> float:
        """The same threshold expressed as a minority probability."""
        return 1.0 / (1.0 + math.exp(-self.threshold(config)))
