"""The oracle: as many REAL minority images as majority ones, the limit a perfect
generator could reach. A bound to compare with, never a realistic approach."""

from __future__ import annotations

import numpy as np

from ..config import TRAIN_COUNTS
from ..errors import ConfigError
from .base import DataSource, TrainingSet


class OracleData(DataSource):
    name = "oracle"
    description = "n_majority REAL minority images (a bound)."
    is_bound = True
    label = "n_majority REAL minority images (a bound)"

    def unavailable(self, config) -> str | None:
        have = TRAIN_COUNTS[config.minority]
        if have < config.n_majority:
            return (f"the oracle needs {config.n_majority} real images of digit {config.minority} "
                    f"but MNIST train holds {have}")
        return None

    def training_set(self, draw, sample=None) -> TrainingSet:
        if draw.oracle_minority_x is None:
            raise ConfigError("the oracle needs more real minority images than MNIST train holds")
        majority = draw.train_x[draw.train_y == 0]
        x = np.concatenate([majority, draw.oracle_minority_x])
        y = np.r_[np.zeros(len(majority), np.int64), np.ones(len(draw.oracle_minority_x), np.int64)]
        return TrainingSet(x, y, len(draw.oracle_minority_x))
