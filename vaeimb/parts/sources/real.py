"""The training draw as it is: the imbalanced real images."""

from __future__ import annotations

from ..data import label_counts
from .base import DataSource, TrainingSet


class RealData(DataSource):
    name = "real"
    description = "The imbalanced training draw, real images only."
    label = "real images"

    def training_set(self, draw, sample=None) -> TrainingSet:
        return TrainingSet(draw.train_x, draw.train_y, label_counts(draw.train_y, draw.n_classes))
