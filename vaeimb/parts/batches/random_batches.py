"""Uniform batches: every training row equally likely, drawn with replacement.

The draws are exactly those of ``training.train_classifier`` with ``balanced=False``
(``torch.randint`` on the same generator), so runs stay comparable with earlier numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...declarations.errors import ConfigError
from .base import BatchPolicy

if TYPE_CHECKING:
    import torch


class RandomBatches(BatchPolicy):
    """Batches that carry the training set's own class balance (on average)."""

    name = "random"
    description = "Uniform batches drawn with replacement: the training set's class balance."

    def prepare(self, y, n_classes: int | None = None, steps: int | None = None) -> None:
        super().prepare(y, n_classes, steps)
        if len(self._y) == 0:
            raise ConfigError(f"batches '{self.name}': the training set is empty.")

    def indices(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        import torch  # torch: loaded where the part computes, its class loads torch-free

        if not hasattr(self, "_y"):
            raise RuntimeError(f"batches '{self.name}': call prepare(y) before drawing batches.")
        return torch.randint(len(self._y), (batch_size,), generator=generator)
