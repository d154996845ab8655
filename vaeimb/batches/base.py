"""The contract of a batch policy: which training rows each step sees."""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

import numpy as np
import torch

from ..parts import Part


class BatchPolicy(Part):
    kind = "batches"
    #: Whether batches hold the classes in equal shares (the decision's prior then is
    #: the balanced one, not the training set's).
    balances: ClassVar[bool] = False

    def prepare(self, y: np.ndarray) -> None:
        """Called once with the training labels (1 = minority) before the first batch."""
        self._y = np.asarray(y)

    @abstractmethod
    def indices(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """Row indices (int64) of the next batch, drawn from ``generator``."""
