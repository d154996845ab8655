"""Post-hoc logit adjustment (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021)."""

from __future__ import annotations

import math

from ..errors import ConfigError
from ..params import Param
from .base import Decision, DecisionContext


class PostHoc(Decision):
    """Threshold ``tau * log(pi_1 / pi_0)``: with tau = 1 the Bayes rule for the balanced
    error when the model's log-odds carry the prior ``pi``. Nothing is tuned.

    ``prior`` "real" (default, as the ``threshold`` approach) uses the real training counts
    ``n_minority_real / n_majority``. "seen" uses the balance the classifier actually saw:
    0.5 under class-balanced batches (threshold 0), else the training counts incl. generated
    images. "real" can still help after balanced batches or oversampling: the model has seen
    only a few distinct minority images, many times, so it is over-confident on the majority
    side of unseen minority digits, and the real prior's shift counters that.
    """

    name = "posthoc"
    description = "Move the threshold by the log class prior (post-hoc logit adjustment; nothing tuned)."
    cite = "Menon et al., Long-tail learning via logit adjustment, ICLR 2021"
    params = (
        Param("tau", 1.0, "float", 0.0, 5.0, help="Scale of the log-prior shift (0 = argmax)."),
        Param("prior", "real", "choice", choices=("real", "seen"),
              help="real: real training counts; seen: the class balance of the batches the model saw."),
    )

    def prior_ratio(self, ctx: DecisionContext) -> float:
        """``pi_1 / pi_0`` under the chosen prior."""
        if self.values["prior"] == "seen":
            if ctx.balanced_batches:
                return 1.0
            n_min = ctx.n_minority
        else:
            n_min = ctx.n_minority_real
        if n_min < 1 or ctx.n_majority < 1:
            raise ConfigError(
                f"decision '{self.name}' needs at least one training image of each class, got "
                f"{ctx.n_majority} majority and {n_min} minority."
            )
        return n_min / ctx.n_majority

    def _threshold(self, ctx: DecisionContext) -> float:
        return self.values["tau"] * math.log(self.prior_ratio(ctx))
