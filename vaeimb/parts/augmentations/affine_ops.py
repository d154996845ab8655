"""Random affine transforms of digit images, one draw per image, from a seeded generator.

Every image gets its own rotation, shift and scale, so the transform is applied as one
batched resampling (``affine_grid`` + ``grid_sample``, bilinear, zero padding) instead of
torchvision's ``transforms.v2.functional.affine``: that applies one parameter draw to a
whole batch, and calling it per image was about ten times slower on a CPU. Parameters
come from the run's own ``torch.Generator``, so augmentation is reproducible per seed and
independent of torch's global random state.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...declarations.errors import ConfigError
from ...declarations.params import Param

if TYPE_CHECKING:
    import torch

#: The transform's parameters, declared once for the augmentation and the generator.
AFFINE_PARAMS = (
    Param("degrees", 10.0, "float", 0.0, 180.0, help="Largest rotation, in degrees either way."),
    Param("translate", 0.1, "float", 0.0, 0.5, help="Largest shift, as a fraction of the image size."),
    Param("scale_low", 0.9, "float", 0.5, 2.0, help="Smallest scale factor."),
    Param("scale_high", 1.1, "float", 0.5, 2.0, help="Largest scale factor."),
)


class AffineJitter:
    """What a part that jitters images with ``random_affine`` shares (a mixin placed before
    its ``Part`` base: the augmentation and the generator): the parameters, the one
    cross-parameter rule, and the call with those parameters."""

    params = AFFINE_PARAMS

    def __init__(self, **values):
        super().__init__(**values)
        v = self.values
        if v["scale_low"] > v["scale_high"]:
            raise ConfigError(f"{self.kind} '{self.name}': scale_low ({v['scale_low']:g}) must not exceed "
                              f"scale_high ({v['scale_high']:g}).")

    def jitter(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``random_affine`` of ``x`` with this part's parameters."""
        v = self.values
        return random_affine(x, generator, degrees=v["degrees"], translate=v["translate"],
                             scale=(v["scale_low"], v["scale_high"]))


def random_affine(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    degrees: float = 10.0,
    translate: float = 0.1,
    scale: tuple[float, float] = (0.9, 1.1),
) -> torch.Tensor:
    """Each image of ``x`` (B, H, W), float in [0, 1], rotated by up to ``degrees``,
    shifted by up to ``translate`` of its size (whole pixels) and scaled within ``scale``."""
    import torch  # torch: loaded where the part computes, its class loads torch-free
    import torch.nn.functional as F  # torch: loaded where the part computes, its class loads torch-free

    n = len(x)
    if n == 0:
        return x
    h, w = x.shape[-2:]
    u = torch.rand((n, 4), generator=generator, dtype=torch.float64) * 2 - 1  # on the CPU: device-independent
    angle = u[:, 0] * degrees * math.pi / 180
    shift_x = torch.round(u[:, 1] * translate * w) * 2 / w  # in grid units ([-1, 1] spans the image)
    shift_y = torch.round(u[:, 2] * translate * h) * 2 / h
    s = scale[0] + (u[:, 3] + 1) / 2 * (scale[1] - scale[0])
    # affine_grid maps output to input coordinates: the inverse of "scale, rotate, then shift".
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([
        torch.stack([cos, sin, -(cos * shift_x + sin * shift_y)], 1),
        torch.stack([-sin, cos, -(-sin * shift_x + cos * shift_y)], 1),
    ], 1).to(dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
    out = F.grid_sample(x[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[:, 0]
    return out.clamp_(0.0, 1.0)
