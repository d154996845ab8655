"""No mixing: the batch as drawn."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Mixed, Mixing

if TYPE_CHECKING:
    import torch


class NoMixing(Mixing):
    """The identity; draws nothing, so batches match a run without mixing."""

    name = "none"
    description = "No mixing: each image keeps its own label."

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Mixed:
        return Mixed(x, y, y, 1.0)

    def _labels(self, y_a, y_b, lam):
        return y_a, y_a
