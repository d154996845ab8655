"""The training draw plus images of each minority label from the recipe's generator."""

from __future__ import annotations

import numpy as np

from ..params import Param
from ..data import label_counts
from .base import DataSource, TrainingSet


class GeneratedData(DataSource):
    """Each minority label (every label but the head's) is filled up to ``fill_to`` times
    the head's count with generated images (1: as many as the head has; the pair: up to
    the majority count), or gets exactly ``n_generate`` new images when that is set."""

    name = "generated"
    description = "The real training draw plus images of each minority class from the recipe's generator."
    uses_generator = True
    label = "real images + {gen}-generated minority images"
    params = (
        Param("n_generate", None, "int", 0, 200_000, optional=True,
              help="generated images to add to each minority class (none = fill up to fill_to x the head count)"),
        Param("fill_to", 1.0, "float", 0.0, 1.0,
              help="fill each minority class up to this share of the head's count (1 = as many as the head)"),
    )

    def n_generate(self, counts: tuple[int, ...]) -> dict[int, int]:
        fixed = self.values["n_generate"]
        target = int(round(self.values["fill_to"] * counts[0]))
        return {k: int(fixed) if fixed is not None else max(0, target - n) for k, n in enumerate(counts) if k > 0}

    def training_set(self, draw, sample=None) -> TrainingSet:
        counts = label_counts(draw.train_y, draw.n_classes)
        wanted = self.n_generate(counts)
        images = {k: sample(n, k) for k, n in wanted.items()}
        x = np.concatenate([draw.train_x, *images.values()])
        y = np.concatenate([draw.train_y, *(np.full(len(v), k, np.int64) for k, v in images.items())])
        return TrainingSet(x, y, counts, (0, *(len(v) for v in images.values())))
