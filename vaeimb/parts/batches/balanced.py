"""Class-balanced batches: an equal share of every batch from each class, drawn with
replacement.

The simplest re-sampling remedy for imbalance (random over-sampling of the minority classes
within each batch; cf. Buda et al., "A systematic study of the class imbalance problem in
convolutional neural networks", Neural Networks 2018). For two classes the draws are
exactly those of ``training.train_classifier`` with ``balanced=True``: half of the batch
from the majority, then half from the minority.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...declarations.errors import ConfigError
from .base import BatchPolicy

if TYPE_CHECKING:
    import torch


class BalancedBatches(BatchPolicy):
    """``max(1, batch_size // K)`` rows of each class, class by class in label order."""

    name = "balanced"
    balances = True
    description = "An equal share of every batch from each class (half each of two; the minority images repeat)."
    cite = "Buda et al., A systematic study of the class imbalance problem in CNNs, Neural Networks 2018"

    def prepare(self, y, n_classes: int | None = None, steps: int | None = None) -> None:
        import torch  # torch: loaded where the part computes, its class loads torch-free

        super().prepare(y, n_classes, steps)
        k = n_classes if n_classes is not None else max(2, int(self._y.max(initial=0)) + 1)
        if len(self._y) and not (0 <= self._y.min() and self._y.max() < k):
            raise ValueError(f"batches '{self.name}': labels must lie in 0..{k - 1}, "
                             f"got {self._y.min()}..{self._y.max()}.")
        self._pools = [torch.from_numpy(np.flatnonzero(self._y == c)) for c in range(k)]
        for c, pool in enumerate(self._pools):
            if len(pool) == 0:
                what = ("majority", "minority")[c] if k == 2 else f"class-{c}"
                raise ConfigError(
                    f"batches '{self.name}' need at least one {what} training image; the training set has none."
                )

    def indices(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        import torch  # torch: loaded where the part computes, its class loads torch-free

        if not hasattr(self, "_pools"):
            raise RuntimeError(f"batches '{self.name}': call prepare(y) before drawing batches.")
        share = max(1, batch_size // len(self._pools))
        return torch.cat([p[torch.randint(len(p), (share,), generator=generator)] for p in self._pools])
