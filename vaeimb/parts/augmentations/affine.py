"""Random affine transforms of the images in each batch.

The classic label-preserving augmentation for digits (small rotations, shifts and scalings,
as in Simard et al., "Best practices for convolutional neural networks applied to visual
document analysis", ICDAR 2003): each repeated image is seen slightly changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .affine_ops import AFFINE_PARAMS, AffineJitter
from .base import CLASSES, Augmentation

if TYPE_CHECKING:
    import torch


class RandomAffine(AffineJitter, Augmentation):
    """The chosen classes' rows (``classes``: every row, or the minority's) through ``random_affine``."""

    name = "affine"
    description = "Rotate, shift and scale each image a little, anew in every batch."
    cite = "Simard et al., Best practices for CNNs applied to visual document analysis, ICDAR 2003"
    params = (*AFFINE_PARAMS, CLASSES)

    def _transform(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.jitter(x, generator)
