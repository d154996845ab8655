"""The oracle: every class at the head's count in REAL images (the pair: as many minority
images as majority ones), the limit a perfect generator could reach. A bound to compare
with, never a realistic approach."""

from __future__ import annotations

import numpy as np

from ...declarations.errors import ConfigError
from ..data import label_counts
from .base import DataSource, TrainingSet


class OracleData(DataSource):
    name = "oracle"
    description = "Every class at the head's count in REAL images (a bound)."
    is_bound = True
    label = "every class at the head's count in REAL images (a bound)"

    def unavailable(self, config) -> str | None:
        head = config.class_counts[0]
        ds = config.dataset_record
        short = [d for d in config.classes[1:] if ds.train_counts[d] < head]
        if short:
            d = short[0]
            return (f"the oracle needs {head} real images {ds.holds(d)} but {ds.title} train holds "
                    f"{ds.train_counts[d]}")
        return None

    def training_set(self, draw, sample=None) -> TrainingSet:
        if draw.oracle_by_class is None:
            raise ConfigError("the oracle needs more real images of a minority class than the training split holds")
        x = np.concatenate(draw.oracle_by_class)
        y = np.concatenate([np.full(len(v), k, np.int64) for k, v in enumerate(draw.oracle_by_class)])
        return TrainingSet(x, y, label_counts(y, len(draw.oracle_by_class)))
