"""The contract of an on-the-fly augmentation of the minority images in each batch
(labels 1..K-1: every class but the majority, label 0)."""

from __future__ import annotations

from abc import abstractmethod

import torch

from ..parts import Part


class Augmentation(Part):
    kind = "augmentation"

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A batch ``x`` (B, 28, 28) float in [0, 1] with its minority rows (y != 0; for two
        classes y == 1) transformed; every random draw comes from ``generator`` (seeded per run)."""
        if not bool((y != 0).any()):
            return x
        return self._augment(x, y, generator)

    @abstractmethod
    def _augment(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...
