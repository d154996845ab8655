"""Random horizontal flips, then the affine jitter: only for a dataset whose classes survive a
mirror image (``Dataset.flips``: Fashion-MNIST's clothing), never for digits or characters.

A mirrored shirt is still a shirt, a mirrored 2 or hiragana is not the same class (or any
class), so a recipe asking for ``aug=flip`` on a dataset that declares no flips is refused
before anything trains (``Augmentation.refused_on``). Each image is mirrored with
probability ``p_flip`` (one draw per image from the run's generator), then jittered as
``affine`` does (set degrees, translate to 0 and both scales to 1 for the flip alone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...declarations.params import Param
from .affine_ops import AFFINE_PARAMS, AffineJitter
from .base import CLASSES, Augmentation

if TYPE_CHECKING:
    import torch

#: How often an image is mirrored.
FLIP_P = Param("p_flip", 0.5, "float", 0.0, 1.0, help="Probability that an image is mirrored left-right.")


def random_hflip(x: torch.Tensor, generator: torch.Generator, *, p: float = 0.5) -> torch.Tensor:
    """Each image of ``x`` (B, H, W) mirrored left-right with probability ``p``: one uniform
    draw per image, on the CPU (the same on every device), even at p = 0 or 1 (the draws
    that follow stay where they are)."""
    import torch  # torch: loaded where the part computes, its class loads torch-free

    if len(x) == 0:
        return x
    flip = (torch.rand(len(x), generator=generator, dtype=torch.float64) < p).to(x.device)
    return torch.where(flip[:, None, None], x.flip(-1), x)


class FlipAffine(AffineJitter, Augmentation):
    """A random horizontal flip, then the affine jitter; refused on datasets without flips."""

    name = "flip"
    description = ("Mirror each image left-right with probability p_flip, then rotate, shift and scale it a little "
                   "(datasets whose classes survive a mirror only: Fashion-MNIST).")
    cite = "Krizhevsky, Sutskever & Hinton, ImageNet classification with deep CNNs, NeurIPS 2012 (horizontal reflections)"
    params = (FLIP_P, *AFFINE_PARAMS, CLASSES)
    needs_flips = True

    def _transform(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.jitter(random_hflip(x, generator, p=self.values["p_flip"]), generator)
