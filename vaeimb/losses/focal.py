"""Focal loss (Lin et al., "Focal loss for dense object detection", ICCV 2017)."""

from __future__ import annotations

import torch

from ..errors import ConfigError
from ..params import Param
from .base import Loss, LossContext


class Focal(Loss):
    """``torchvision.ops.sigmoid_focal_loss`` on the minority log-odds, batch mean.

    ``(1 - p_t) ** gamma`` down-weights images the model already gets right; ``alpha``
    weights the minority (label 1) rows by alpha and the majority by 1 - alpha, -1 = no
    weighting (torchvision's convention). Lin et al.'s default 0.25 *lowers* the rare class's
    weight: with gamma = 2 the easy majority images are already discounted.
    """

    name = "focal"
    description = "Focal loss: easy, confidently right images count less."
    cite = "Lin et al., Focal loss for dense object detection, ICCV 2017"
    params = (
        Param("gamma", 2.0, "float", 0.0, 10.0, help="Focusing exponent (0 = cross-entropy)."),
        Param("alpha", 0.25, "float", -1.0, 1.0, help="Minority weight in [0, 1]; -1 = no class weighting."),
    )

    def __init__(self, **values):
        super().__init__(**values)
        if -1.0 < self.values["alpha"] < 0.0:
            raise ConfigError(
                f"loss '{self.name}': alpha must be in [0, 1] or -1 (none), got {self.values['alpha']!r}."
            )

    def _loss(self, s: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        from torchvision.ops import sigmoid_focal_loss  # loaded on first use: the registry stays light

        return sigmoid_focal_loss(s, y, alpha=self.values["alpha"], gamma=self.values["gamma"], reduction="mean")
