"""Class-balanced batches: half of every batch from each class, drawn with replacement.

The simplest re-sampling remedy for imbalance (random over-sampling of the minority within
each batch; cf. Buda et al., "A systematic study of the class imbalance problem in
convolutional neural networks", Neural Networks 2018). The draws are exactly those of
``training.train_classifier`` with ``balanced=True``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError
from .base import BatchPolicy


class BalancedBatches(BatchPolicy):
    """``max(1, batch_size // 2)`` majority rows, then as many minority rows."""

    name = "balanced"
    balances = True
    description = "Half of every batch from each class (the minority images repeat)."
    cite = "Buda et al., A systematic study of the class imbalance problem in CNNs, Neural Networks 2018"

    def prepare(self, y) -> None:
        super().prepare(y)
        self._pools = [torch.from_numpy(np.flatnonzero(self._y == c)) for c in (0, 1)]
        for c, pool in zip(("majority", "minority"), self._pools):
            if len(pool) == 0:
                raise ConfigError(
                    f"batches '{self.name}' need at least one {c} training image; the training set has none."
                )

    def indices(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        if not hasattr(self, "_pools"):
            raise RuntimeError(f"batches '{self.name}': call prepare(y) before drawing batches.")
        half = max(1, batch_size // 2)
        return torch.cat([p[torch.randint(len(p), (half,), generator=generator)] for p in self._pools])
