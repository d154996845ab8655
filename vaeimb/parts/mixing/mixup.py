"""Mixup (Zhang, Cisse, Dauphin & Lopez-Paz, "mixup: Beyond empirical risk minimization",
ICLR 2018): each image of the batch blended with another of the same batch, its label
blended with the same weight."""

from __future__ import annotations

from .base import ALPHA, Mixing, check_alpha


class Mixup(Mixing):
    """``lam * x_i + (1 - lam) * x_j`` with ``j`` a random permutation of the batch and one
    ``lam ~ Beta(alpha, alpha)`` per batch (Zhang et al.'s code); the label weights are the
    image weights."""

    name = "mixup"
    description = "Mixup: images blended in pairs, their labels blended with the same weight."
    cite = "Zhang et al., mixup: Beyond empirical risk minimization, ICLR 2018"
    params = (ALPHA,)

    def __init__(self, **values):
        super().__init__(**values)
        check_alpha(self.values["alpha"], f"mixing '{self.name}'")

    def _labels(self, y_a, y_b, lam):
        return y_a, y_b
