"""Class-weighted cross-entropy: the rare classes' errors cost more.

Inverse-frequency weighting (``power`` 1), its softened forms (``power`` < 1), and the
class-balanced weights of Cui et al. ("Class-balanced loss based on effective number of
samples", CVPR 2019) when ``beta`` is set; deferred to a fraction of training with ``switch``
(DRW: Cao et al., NeurIPS 2019).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...declarations.errors import ConfigError
from ...declarations.params import Param
from ...declarations.part import SWITCH, check_switch, each_class, switched_on
from .base import Loss, LossContext

if TYPE_CHECKING:
    import torch


def effective_number(n: int, beta: float | None) -> float:
    """``(1 - beta^n) / (1 - beta)`` (Cui et al. 2019); the count itself when beta is None."""
    if beta is None:
        return float(n)
    if beta == 0.0:
        return 1.0
    return (1.0 - beta**n) / (1.0 - beta)


class ClassWeighted(Loss):
    """Cross-entropy with the rows of class k weighted by ``(E(n_max) / E(n_k)) ** power``.

    ``E(n)`` is the count (beta none) or Cui et al.'s effective number; the largest class
    weighs 1. K classes: ``F.cross_entropy(weight=w)``, whose mean is weighted (divided by the
    rows' summed weight, torch's and Cui et al.'s convention).

    Two classes: the minority rows weighted by ``(E(n_majority) / E(n_minority)) ** power``,
    the majority weight 1 and the mean over the batch, as ``pos_weight`` of
    ``F.binary_cross_entropy_with_logits``. The same weights as the K-class form when the
    majority is the larger class; only the means differ, by the batch's factor
    ``B / sum(w_y)`` (the weighted mean's per-batch step size).
    """

    name = "weighted"
    description = "Cross-entropy with the minority weighted by the inverse class frequency."
    cite = "Cui et al., Class-balanced loss based on effective number of samples, CVPR 2019"
    params = (
        Param("power", 1.0, "float", 0.0, 2.0, help="Exponent of the count ratio (0 = plain, 1 = inverse frequency)."),
        Param("beta", None, "float", 0.0, 1.0, optional=True,
              help="Effective-number beta in [0, 1) (Cui et al.); none = raw counts."),
        SWITCH,
    )

    def __init__(self, **values):
        super().__init__(**values)
        if self.values["beta"] == 1.0:
            raise ConfigError(f"loss '{self.name}': beta must be below 1 (beta -> 1 is the raw count: leave it none).")
        check_switch(self.values["switch"], f"loss '{self.name}'")

    def active(self, ctx: LossContext) -> bool:
        """Whether the weights apply at this step: plain cross-entropy before the switch
        (deferred re-weighting, DRW, Cao et al. 2019)."""
        return switched_on(self.values["switch"], ctx.step, ctx.steps)

    def minority_weight(self, ctx: LossContext) -> float:
        """Two classes: the minority rows' weight (``pos_weight``)."""
        n_maj, n_min = each_class(ctx.counts, f"loss '{self.name}'")
        beta = self.values["beta"]
        return (effective_number(n_maj, beta) / effective_number(n_min, beta)) ** self.values["power"]

    def class_weights(self, ctx: LossContext) -> list[float]:
        """``(E(n_max) / E(n_k)) ** power`` of every class k, in label order."""
        counts = each_class(ctx.counts, f"loss '{self.name}'")
        beta = self.values["beta"]
        top = effective_number(max(counts), beta)
        return [(top / effective_number(n, beta)) ** self.values["power"] for n in counts]

    def _binary(self, s: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        import torch  # torch: loaded where the part computes, its class loads torch-free
        import torch.nn.functional as F  # torch: loaded where the part computes, its class loads torch-free

        if not self.active(ctx):
            return F.binary_cross_entropy_with_logits(s, y)
        w = torch.tensor(self.minority_weight(ctx), dtype=s.dtype, device=s.device)
        return F.binary_cross_entropy_with_logits(s, y, pos_weight=w)

    def _multiclass(self, z: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        import torch  # torch: loaded where the part computes, its class loads torch-free
        import torch.nn.functional as F  # torch: loaded where the part computes, its class loads torch-free

        if not self.active(ctx):
            return F.cross_entropy(z, y)
        w = torch.tensor(self.class_weights(ctx), dtype=z.dtype, device=z.device)
        return F.cross_entropy(z, y, weight=w)
