"""Approaches that only change how the real training images are used."""

from __future__ import annotations

import numpy as np

from ..config import TRAIN_COUNTS, ExperimentConfig
from ..data import ExperimentData
from .base import Approach


class Baseline(Approach):
    name = "baseline"
    description = "Random batches from the imbalanced training set, nothing rebalanced."


class Oversample(Approach):
    name = "oversample"
    description = "Every batch holds equal numbers of both classes (the original's approach 1)."

    def balanced_batches(self, config: ExperimentConfig) -> bool:
        return True


class Oracle(Approach):
    name = "oracle"
    description = (
        "n_majority REAL images of each class: the bound a perfect generator could reach."
    )

    def unavailable_reason(self, config: ExperimentConfig) -> str | None:
        have = TRAIN_COUNTS[config.minority]
        if have < config.n_majority:
            return (
                f"the oracle needs {config.n_majority} real images of digit {config.minority} "
                f"but MNIST train holds {have}"
            )
        return None

    def training_set(self, data: ExperimentData, config: ExperimentConfig, generated=None):
        if data.oracle_minority_x is None:
            raise ValueError(f"Oracle unavailable: {self.unavailable_reason(config)}.")
        majority = data.train_x[data.train_y == 0]
        x = np.concatenate([majority, data.oracle_minority_x])
        y = np.concatenate([np.zeros(len(majority), np.int64), np.ones(len(data.oracle_minority_x), np.int64)])
        return x, y
