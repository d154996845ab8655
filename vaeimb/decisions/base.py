"""The contract of a decision rule: where to cut the minority log-odds.

A rule sees the training counts and, if it tunes anything, the validation split's
log-odds and labels — never the test set (``vaeimb.experiment`` passes no test data here).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..parts import Part


@dataclass(frozen=True)
class DecisionContext:
    n_majority: int  # majority training images
    n_minority_real: int  # real minority training images
    n_minority: int  # minority training images incl. generated ones
    balanced_batches: bool  # whether the classifier saw class-balanced batches
    #: Validation split (carved from the training draw); None when the recipe has none.
    val_logits: np.ndarray | None = None
    val_y: np.ndarray | None = None


class Decision(Part):
    kind = "decision"
    #: Whether the rule needs a validation split (then the runner carves one).
    needs_validation: ClassVar[bool] = False

    def threshold(self, ctx: DecisionContext) -> float:
        """Threshold on the minority log-odds: predict the minority when log-odds > it."""
        t = float(self._threshold(ctx))
        if not math.isfinite(t):
            raise ValueError(f"decision '{self.name}' gave a non-finite threshold {t}.")
        return t

    @abstractmethod
    def _threshold(self, ctx: DecisionContext) -> float: ...
