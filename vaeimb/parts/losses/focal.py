"""Focal loss (Lin et al., "Focal loss for dense object detection", ICCV 2017)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...declarations.errors import ConfigError
from ...declarations.params import Param
from .base import Loss, LossContext

if TYPE_CHECKING:
    import torch


class Focal(Loss):
    """``-alpha_t (1 - p_t) ** gamma log p_t`` with ``p_t`` the softmax probability of the
    true class (Lin et al.'s multi-class form), batch mean.

    ``(1 - p_t) ** gamma`` down-weights images the model already gets right; ``alpha``
    weights the minority rows (labels 1..K-1) by alpha and the majority (label 0) by
    1 - alpha, -1 = no weighting (torchvision's convention). A scalar alpha has no per-class
    meaning beyond that with K > 2 classes: every minority class gets the same alpha. Lin
    et al.'s default 0.25 *lowers* the rare classes' weight: with gamma = 2 the easy
    majority images are already discounted.

    Two classes: ``torchvision.ops.sigmoid_focal_loss`` on the minority log-odds (the
    softmax of two logits is the sigmoid of their difference: the same loss).
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

    def _binary(self, s: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        from torchvision.ops import (
            sigmoid_focal_loss,  # loaded on first use: the registry stays light
        )

        return sigmoid_focal_loss(s, y, alpha=self.values["alpha"], gamma=self.values["gamma"], reduction="mean")

    def _multiclass(self, z: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        import torch  # torch: loaded where the part computes, its class loads torch-free
        import torch.nn.functional as F  # torch: loaded where the part computes, its class loads torch-free

        ce = F.cross_entropy(z, y, reduction="none")  # -log p_t
        loss = ce * (1 - torch.exp(-ce)) ** self.values["gamma"]
        alpha = self.values["alpha"]
        if alpha >= 0:
            loss = torch.where(y == 0, loss.new_tensor(1 - alpha), loss.new_tensor(alpha)) * loss
        return loss.mean()
