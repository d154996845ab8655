"""Elastic distortion (Simard, Steinkraus & Platt, "Best practices for convolutional neural
networks applied to visual document analysis", ICDAR 2003, section 2.1).

Every pixel moves by a random displacement: a field of uniform values in [-1, 1], smoothed
by a Gaussian of standard deviation ``sigma`` and scaled by ``alpha`` (in pixels); the
image is resampled there (bilinear, zero padding). Small ``sigma`` with large ``alpha`` is
noise; Simard et al. use sigma = 4, alpha = 34 on MNIST, after the affine jitter, as here.
Strength and training budget matter: on the long tail (one seed, 2000 steps) that setting
helped class-balanced batches and hurt the logit-adjusted loss and the oracle itself.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

from ...declarations.params import Param
from .affine_ops import AFFINE_PARAMS, AffineJitter
from .base import CLASSES, Augmentation

if TYPE_CHECKING:
    import torch

#: The distortion's parameters, declared once.
ELASTIC_PARAMS = (
    Param("alpha", 34.0, "float", 0.0, 100.0, help="Strength: the smoothed displacement field's scale, in pixels."),
    Param("sigma", 4.0, "float", 0.5, 10.0, help="Smoothness: the Gaussian's standard deviation, in pixels."),
)


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised 1-D Gaussian of standard deviation ``sigma``, cut at 3 sigma (float64)."""
    import torch  # torch: loaded where the part computes, its class loads torch-free

    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    return k / k.sum()


@functools.lru_cache(maxsize=16)
def smoothing_matrix(size: int, sigma: float) -> torch.Tensor:
    """(size, size) float64: row i holds the Gaussian kernel centred on i, cut at the edges
    (a convolution with zero padding, written as a matrix)."""
    import torch  # torch: loaded where the part computes, its class loads torch-free

    k = gaussian_kernel(sigma)
    r = (len(k) - 1) // 2
    offset = torch.arange(size)[None, :] - torch.arange(size)[:, None]  # j - i
    inside = offset.abs() <= r
    return torch.where(inside, k[(offset + r).clamp(0, len(k) - 1)], torch.zeros((), dtype=torch.float64))


def elastic_field(n: int, h: int, w: int, generator: torch.Generator, *, alpha: float, sigma: float) -> torch.Tensor:
    """Displacements (n, h, w, 2) in pixels, (dx, dy): ``alpha`` times a Gaussian-smoothed
    uniform field, drawn on the CPU in float64 (the same on every device). The separable
    smoothing is two products with banded matrices (``S_h u S_w^T``): the zero-padded
    convolution's sums, an order of magnitude faster than ``conv2d`` in float64."""
    import torch  # torch: loaded where the part computes, its class loads torch-free

    u = torch.rand((n * 2, h, w), generator=generator, dtype=torch.float64) * 2 - 1
    u = smoothing_matrix(h, sigma) @ u @ smoothing_matrix(w, sigma).T
    return (alpha * u).view(n, 2, h, w).permute(0, 2, 3, 1)


def elastic(x: torch.Tensor, generator: torch.Generator, *, alpha: float = 34.0, sigma: float = 4.0) -> torch.Tensor:
    """Each image of ``x`` (B, H, W), float in [0, 1], elastically distorted."""
    import torch  # torch: loaded where the part computes, its class loads torch-free
    import torch.nn.functional as F  # torch: loaded where the part computes, its class loads torch-free

    n = len(x)
    if n == 0 or alpha == 0:
        return x
    h, w = x.shape[-2:]
    field = elastic_field(n, h, w, generator, alpha=alpha, sigma=sigma)
    # grid_sample reads input coordinates in [-1, 1]: identity plus the displacement in those units
    eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64).expand(n, 2, 3)
    grid = F.affine_grid(eye, [n, 1, h, w], align_corners=False)
    grid = grid + field * torch.tensor([2.0 / w, 2.0 / h], dtype=torch.float64)
    out = F.grid_sample(x[:, None], grid.to(dtype=x.dtype, device=x.device), mode="bilinear", padding_mode="zeros",
                        align_corners=False)[:, 0]
    return out.clamp_(0.0, 1.0)


class ElasticAffine(AffineJitter, Augmentation):
    """The affine jitter, then an elastic distortion (set degrees, translate to 0 and both
    scales to 1 for the distortion alone; alpha 0 for the jitter alone)."""

    name = "elastic"
    description = "Affine jitter, then an elastic distortion of each image (strength alpha, smoothness sigma)."
    cite = "Simard, Steinkraus & Platt, Best practices for CNNs applied to visual document analysis, ICDAR 2003"
    params = (*AFFINE_PARAMS, *ELASTIC_PARAMS, CLASSES)

    def _transform(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        v = self.values
        return elastic(self.jitter(x, generator), generator, alpha=v["alpha"], sigma=v["sigma"])
