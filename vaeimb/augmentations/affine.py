"""Random affine transforms of the minority images in each batch.

The classic label-preserving augmentation for digits (small rotations, shifts and scalings,
as in Simard et al., "Best practices for convolutional neural networks applied to visual
document analysis", ICDAR 2003): each repeated minority image is seen slightly changed.
"""

from __future__ import annotations

import torch

from .affine_ops import AffineJitter
from .base import Augmentation


class RandomAffine(AffineJitter, Augmentation):
    """Minority rows (labels 1..K-1) through ``random_affine``; majority rows (label 0) untouched."""

    name = "affine"
    description = "Rotate, shift and scale each minority image a little, anew in every batch."
    cite = "Simard et al., Best practices for CNNs applied to visual document analysis, ICDAR 2003"

    def _augment(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        rows = torch.nonzero(y != 0).flatten()
        out = x.clone()
        out[rows] = self.jitter(x[rows], generator)
        return out
