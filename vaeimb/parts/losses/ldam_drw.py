"""LDAM with deferred re-weighting (Cao et al., "Learning imbalanced datasets with
label-distribution-aware margin loss", NeurIPS 2019), on K logits or, for two classes, in
binary form on the log-odds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...declarations.errors import ConfigError
from ...declarations.params import Param
from ...declarations.part import each_class, first_switched_step
from .base import Loss, LossContext
from .class_weighted import effective_number

if TYPE_CHECKING:
    import torch


class LdamDrw(Loss):
    """Class margins ``Delta_j = C / n_j^(1/4)``, the largest equal to ``max_margin``.

    As Cao et al.'s code: the true class's logit is lowered by its margin, the logits are
    multiplied by ``scale`` and fed to cross-entropy. With two classes the binary form on
    ``s = z1 - z0`` (the softmax of two logits is the sigmoid of their difference): that
    is ``s - Delta_1`` for a minority row and ``s + Delta_0`` for a majority row.
    Cao et al. use scale 30 on a cosine (normalised) head; our heads give raw logits, so the
    default scale is 1 and the margins are in logit units.

    Deferred re-weighting: from the first step past ``drw_start * steps`` (a fixed fraction,
    not tuned; 0.8 is Cao et al.'s epoch 160 of 200) rows are weighted by the inverse
    effective number ``(1 - beta) / (1 - beta^n_j)``, normalised to sum K, and the loss is
    their weighted mean, as ``F.cross_entropy(weight=...)``.
    """

    name = "ldam-drw"
    description = "Larger margins for the rarer classes (LDAM), re-weighted by class late in training (DRW)."
    cite = "Cao et al., Learning imbalanced datasets with label-distribution-aware margin loss, NeurIPS 2019"
    params = (
        Param("max_margin", 0.5, "float", 0.0, 5.0, help="Margin of the rarest class, in logit units."),
        Param("scale", 1.0, "float", 0.01, 100.0, help="Logit scale (Cao et al.: 30 on a normalised head)."),
        Param("drw_start", 0.8, "float", 0.0, 1.0,
              help="Fraction of the steps after which re-weighting starts (1 = never)."),
        Param("beta", 0.9999, "float", 0.0, 1.0, help="Effective-number beta of the re-weighting, in [0, 1)."),
    )

    def __init__(self, **values):
        super().__init__(**values)
        if self.values["beta"] == 1.0:
            raise ConfigError(f"loss '{self.name}': beta must be below 1, got 1.0.")

    def margins(self, ctx: LossContext) -> tuple[float, ...]:
        """``Delta_k`` of every class in label order (two classes: majority, minority)."""
        counts = each_class(ctx.counts, f"loss '{self.name}'")
        raw = [n**-0.25 for n in counts]
        return tuple(self.values["max_margin"] * r / max(raw) for r in raw)

    def first_reweighted_step(self, steps: int) -> int:
        """The first 1-based step that is re-weighted (``steps + 1`` = never)."""
        return first_switched_step(self.values["drw_start"], steps)

    def class_weights(self, ctx: LossContext) -> tuple[float, ...]:
        """``w_k`` of every class at this step: 1 before the switch, normalised to sum K after it."""
        if ctx.step < self.first_reweighted_step(ctx.steps):
            return (1.0,) * ctx.n_classes
        inv = [1.0 / effective_number(n, self.values["beta"]) for n in each_class(ctx.counts, f"loss '{self.name}'")]
        return tuple(len(inv) * w / sum(inv) for w in inv)

    def _binary(self, s: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        import torch.nn.functional as F  # torch: loaded where the part computes, its class loads torch-free

        m0, m1 = self.margins(ctx)
        w0, w1 = self.class_weights(ctx)
        z = self.values["scale"] * (s - y * m1 + (1 - y) * m0)
        w = w0 + (w1 - w0) * y
        return (w * F.binary_cross_entropy_with_logits(z, y, reduction="none")).sum() / w.sum()

    def _multiclass(self, z: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        import torch  # torch: loaded where the part computes, its class loads torch-free
        import torch.nn.functional as F  # torch: loaded where the part computes, its class loads torch-free

        margin = torch.tensor(self.margins(ctx), dtype=z.dtype, device=z.device)
        w = torch.tensor(self.class_weights(ctx), dtype=z.dtype, device=z.device)
        shifted = z - margin * F.one_hot(y, ctx.n_classes).to(z.dtype)  # the true class's margin
        return F.cross_entropy(self.values["scale"] * shifted, y, weight=w)
