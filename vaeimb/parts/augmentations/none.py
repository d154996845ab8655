"""No augmentation: the batch as drawn (the baseline every augmentation is compared with)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Augmentation

if TYPE_CHECKING:
    import torch


class NoAugmentation(Augmentation):
    """The identity; draws nothing from the generator, so batches match an un-augmented run.
    No parameters: it transforms no class."""

    name = "none"
    description = "No augmentation: the images as drawn."
    params = ()

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x

    def _transform(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x
