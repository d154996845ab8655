"""Post-hoc logit adjustment (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ...declarations.params import Param
from ...declarations.part import each_class
from .base import Decision, DecisionContext


class PostHoc(Decision):
    """Offsets ``tau * log(pi_k / pi_0)``: with tau = 1 the Bayes rule for the balanced
    error when the model's logits carry the prior ``pi`` (predict ``argmax(z - offsets)``,
    i.e. ``argmax(z - tau * log pi)``). Nothing is tuned. Two classes: the threshold
    ``tau * log(pi_1 / pi_0)`` on the minority log-odds.

    ``prior`` "real" (default, as the ``threshold`` approach) uses the real training counts.
    "seen" uses the balance the classifier actually saw: uniform under class-balanced
    batches (offsets 0), else the training counts incl. generated images. "real" can still
    help after balanced batches or oversampling: the model has seen only a few distinct
    minority images, many times, so it is over-confident on the majority side of unseen
    minority digits, and the real prior's shift counters that.
    """

    name = "posthoc"
    description = "Move the threshold by the log class prior (post-hoc logit adjustment; nothing tuned)."
    cite = "Menon et al., Long-tail learning via logit adjustment, ICLR 2021"
    params = (
        Param("tau", 1.0, "float", 0.0, 5.0, help="Scale of the log-prior shift (0 = argmax)."),
        Param("prior", "real", "choice", choices=("real", "seen"),
              help="real: real training counts; seen: the class balance of the batches the model saw."),
    )

    def prior_counts(self, ctx: DecisionContext) -> Sequence[int] | None:
        """The class counts of the chosen prior; None for the uniform one (balanced batches, "seen")."""
        if self.values["prior"] == "seen":
            if ctx.balanced_batches:
                return None
            counts = ctx.counts
        else:
            counts = ctx.counts_real
        return each_class(counts, f"decision '{self.name}'")

    def _offsets(self, ctx: DecisionContext) -> Sequence[float]:
        counts = self.prior_counts(ctx)
        if counts is None:
            return np.zeros(ctx.n_classes)
        return [self.values["tau"] * math.log(n / counts[0]) for n in counts]
