"""Random affine transforms of the minority images in each batch.

The classic label-preserving augmentation for digits (small rotations, shifts and scalings,
as in Simard et al., "Best practices for convolutional neural networks applied to visual
document analysis", ICDAR 2003): each repeated minority image is seen slightly changed.
"""

from __future__ import annotations

import torch

from .affine_ops import AFFINE_PARAMS, check_affine, random_affine
from .base import Augmentation


class RandomAffine(Augmentation):
    """Minority rows through ``random_affine``; majority rows untouched."""

    name = "affine"
    description = "Rotate, shift and scale each minority image a little, anew in every batch."
    cite = "Simard et al., Best practices for CNNs applied to visual document analysis, ICDAR 2003"
    params = AFFINE_PARAMS

    def __init__(self, **values):
        super().__init__(**values)
        check_affine(self.values, f"augmentation '{self.name}'")

    def _augment(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        rows = torch.nonzero(y == 1).flatten()
        v = self.values
        out = x.clone()
        out[rows] = random_affine(
            x[rows], generator, degrees=v["degrees"], translate=v["translate"], scale=(v["scale_low"], v["scale_high"])
        )
        return out
