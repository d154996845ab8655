"""The plain decision: the more likely class under the model's own (training) prior."""

from __future__ import annotations

import numpy as np

from .base import Decision, DecisionContext


class Argmax(Decision):
    """Predict the class with the largest logit: offsets 0 (two classes: the minority when
    its log-odds exceed 0)."""

    name = "argmax"
    description = "Predict the class the model finds more likely (threshold 0)."

    def _offsets(self, ctx: DecisionContext) -> np.ndarray:
        return np.zeros(ctx.n_classes)
