"""The training draw plus minority images from the recipe's generator."""

from __future__ import annotations

import numpy as np

from ..params import Param
from .base import DataSource, TrainingSet


class GeneratedData(DataSource):
    name = "generated"
    description = "The real training draw plus minority images from the recipe's generator."
    uses_generator = True
    label = "real images + {gen}-generated minority images"
    params = (
        Param("n_generate", None, "int", 0, 200_000, optional=True,
              help="generated minority images to add (none = up to the majority count)"),
    )

    def n_generate(self, n_majority: int, n_minority: int) -> int:
        n = self.values["n_generate"]
        return int(n) if n is not None else max(0, n_majority - n_minority)

    def training_set(self, draw, sample=None) -> TrainingSet:
        n_min = int((draw.train_y == 1).sum())
        generated = sample(self.n_generate(int((draw.train_y == 0).sum()), n_min))
        x = np.concatenate([draw.train_x, generated])
        y = np.r_[draw.train_y, np.ones(len(generated), np.int64)]
        return TrainingSet(x, y, n_min, len(generated))
