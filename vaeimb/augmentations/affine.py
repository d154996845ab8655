"""Random affine transforms of the minority images in each batch.

The classic label-preserving augmentation for digits (small rotations, shifts and scalings,
as in Simard et al., "Best practices for convolutional neural networks applied to visual
document analysis", ICDAR 2003): each repeated minority image is seen slightly changed.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError
from ..params import Param
from .affine_ops import random_affine
from .base import Augmentation


class RandomAffine(Augmentation):
    """Minority rows through ``random_affine``; majority rows untouched."""

    name = "affine"
    description = "Rotate, shift and scale each minority image a little, anew in every batch."
    cite = "Simard et al., Best practices for CNNs applied to visual document analysis, ICDAR 2003"
    params = (
        Param("degrees", 10.0, "float", 0.0, 180.0, help="Largest rotation, in degrees."),
        Param("translate", 0.1, "float", 0.0, 0.5, help="Largest shift, as a fraction of the image size."),
        Param("scale_low", 0.9, "float", 0.5, 2.0, help="Smallest scale factor."),
        Param("scale_high", 1.1, "float", 0.5, 2.0, help="Largest scale factor."),
    )

    def __init__(self, **values):
        super().__init__(**values)
        if self.values["scale_low"] > self.values["scale_high"]:
            raise ConfigError(
                f"augmentation '{self.name}': scale_low ({self.values['scale_low']:g}) must not exceed "
                f"scale_high ({self.values['scale_high']:g})."
            )

    def _augment(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        rows = torch.nonzero(y == 1).flatten()
        v = self.values
        out = x.clone()
        out[rows] = random_affine(
            x[rows], generator, degrees=v["degrees"], translate=v["translate"], scale=(v["scale_low"], v["scale_high"])
        )
        return out
