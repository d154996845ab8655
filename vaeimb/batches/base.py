"""The contract of a batch policy: which training rows each step sees."""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
import torch

from ..parts import Part


class BatchPolicy(Part):
    kind = "batches"

    def prepare(self, y: np.ndarray) -> None:
        """Called once with the training labels (1 = minority) before the first batch."""
        self._y = np.asarray(y)

    @abstractmethod
    def indices(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """Row indices (int64) of the next batch, drawn from ``generator``."""
