"""Random affine transforms of digit images, drawn from a seeded generator.

The transform itself is torchvision's (``transforms.v2.functional.affine``); only the
parameters are drawn here, from the run's own ``torch.Generator``, so augmentation is
reproducible per seed and independent of torch's global random state.
"""

from __future__ import annotations

import torch


def random_affine(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    degrees: float = 10.0,
    translate: float = 0.1,
    scale: tuple[float, float] = (0.9, 1.1),
) -> torch.Tensor:
    """Each image of ``x`` (B, 28, 28), float in [0, 1], rotated by up to ``degrees``,
    shifted by up to ``translate`` of its size and scaled within ``scale``; bilinear."""
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    n = len(x)
    if n == 0:
        return x
    u = torch.rand((n, 4), generator=generator, dtype=torch.float64) * 2 - 1  # on the CPU: device-independent draws
    out = torch.empty_like(x)
    h, w = x.shape[-2:]
    for i in range(n):
        a, tx, ty, s = u[i].tolist()
        out[i] = TF.affine(
            x[i : i + 1], angle=a * degrees, translate=[round(tx * translate * w), round(ty * translate * h)],
            scale=scale[0] + (s + 1) / 2 * (scale[1] - scale[0]), shear=[0.0, 0.0],
            interpolation=InterpolationMode.BILINEAR,
        )[0]
    return out
