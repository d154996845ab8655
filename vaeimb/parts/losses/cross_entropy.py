"""Plain cross-entropy: the baseline every other loss is measured against."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Loss, LossContext

if TYPE_CHECKING:
    import torch


class CrossEntropy(Loss):
    """Softmax cross-entropy over the K logits.

    Two classes: sigmoid cross-entropy on the minority log-odds ``s``, equal to softmax
    cross-entropy over two logits (z0, z1) with ``s = z1 - z0`` (their softmax is the
    sigmoid of the difference), so a 1-logit and a 2-logit head train on the same objective.
    """

    name = "ce"
    description = "Plain cross-entropy: every image counts the same."

    def _binary(self, s: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        import torch.nn.functional as F  # torch: loaded where the part computes, its class loads torch-free

        return F.binary_cross_entropy_with_logits(s, y)

    def _multiclass(self, z: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        import torch.nn.functional as F  # torch: loaded where the part computes, its class loads torch-free

        return F.cross_entropy(z, y)
