"""The plain decision: the more likely class under the model's own (training) prior."""

from __future__ import annotations

from .base import Decision, DecisionContext


class Argmax(Decision):
    """Predict the minority when its log-odds exceed 0 (argmax of the two class scores)."""

    name = "argmax"
    description = "Predict the class the model finds more likely (threshold 0)."

    def _threshold(self, ctx: DecisionContext) -> float:
        return 0.0
