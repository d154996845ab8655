"""Logit-adjusted loss (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...declarations.params import Param
from ...declarations.part import each_class
from .base import Loss, LossContext

if TYPE_CHECKING:
    import torch


class LogitAdjusted(Loss):
    """Cross-entropy on ``z + tau * log(pi)`` (Menon et al. 2021, eq. 10).

    The training prior ``pi`` is the class balance of the training set the loss is given
    (minority classes incl. generated images). Adding the log prior during training lets the
    model's raw logits estimate the balanced (prior-free) ones, so the plain argmax then
    minimises the balanced error. With class-balanced batches the prior the model actually
    sees is already uniform: this loss would correct twice.

    Two classes: the binary form ``s + tau * log(pi_1 / pi_0)`` on the log-odds (the
    softmax of two logits is the sigmoid of their difference, and only the difference of
    the two offsets survives).
    """

    name = "la"
    description = "Logit-adjusted cross-entropy: the log class prior is added to the logits while training."
    cite = "Menon et al., Long-tail learning via logit adjustment, ICLR 2021"
    params = (
        Param("tau", 1.0, "float", 0.0, 5.0, help="Scale of the log-prior offset (0 = plain cross-entropy)."),
    )

    def _binary(self, s: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        import torch.nn.functional as F  # torch: loaded where the part computes, its class loads torch-free

        n_maj, n_min = each_class(ctx.counts, f"loss '{self.name}'")
        offset = self.values["tau"] * math.log(n_min / n_maj)
        return F.binary_cross_entropy_with_logits(s + offset, y)

    def log_prior(self, ctx: LossContext) -> list[float]:
        """``log(pi_k)`` of every class, ``pi = counts / sum(counts)``."""
        counts = each_class(ctx.counts, f"loss '{self.name}'")
        total = sum(counts)
        return [math.log(n / total) for n in counts]

    def _multiclass(self, z: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        import torch  # torch: loaded where the part computes, its class loads torch-free
        import torch.nn.functional as F  # torch: loaded where the part computes, its class loads torch-free

        log_pi = torch.tensor(self.log_prior(ctx), dtype=z.dtype, device=z.device)
        return F.cross_entropy(z + self.values["tau"] * log_pi, y)
