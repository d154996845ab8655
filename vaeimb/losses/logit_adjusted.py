"""Logit-adjusted loss (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..params import Param
from ._counts import train_counts
from .base import Loss, LossContext


class LogitAdjusted(Loss):
    """Cross-entropy on ``s + tau * log(pi_1 / pi_0)`` (Menon et al. 2021, eq. 10, binary form).

    The training prior ``pi`` is the class balance of the training set the loss is given
    (minority incl. generated images). Adding the log prior ratio during training lets the
    model's raw log-odds ``s`` estimate the balanced (prior-free) log-odds, so the plain
    threshold 0 then minimises the balanced error. With class-balanced batches the prior the
    model actually sees is already 0.5: this loss would correct twice.
    """

    name = "la"
    description = "Logit-adjusted cross-entropy: the log class prior is added to the logits while training."
    cite = "Menon et al., Long-tail learning via logit adjustment, ICLR 2021"
    params = (
        Param("tau", 1.0, "float", 0.0, 5.0, help="Scale of the log-prior offset (0 = plain cross-entropy)."),
    )

    def _loss(self, s: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        n_maj, n_min = train_counts(ctx, f"loss '{self.name}'")
        offset = self.values["tau"] * math.log(n_min / n_maj)
        return F.binary_cross_entropy_with_logits(s + offset, y)
