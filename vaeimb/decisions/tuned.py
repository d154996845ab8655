"""A threshold tuned on the validation split for the balanced error (never on test).

The usual threshold-moving baseline: keep the model, choose the cut on held-out data.
The validation split is carved from the training draw; the test set is never passed here.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import Decision, DecisionContext


def balanced_error_cuts(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every distinct cut of ``logits`` (both classes present) and its balanced error
    ``(fn/n_1 + fp/n_0) / 2``, the cuts in ascending order.

    The cuts are the points of scikit-learn's ``roc_curve``: the midpoints between
    consecutive distinct values, plus one below the smallest (all minority) and one above
    the largest (all majority). The error comes back scaled to the integer
    ``fn * n_0 + fp * n_1`` so that ties compare exactly.
    """
    from sklearn.metrics import roc_curve  # heavy (about 1 s): only this rule needs it

    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    fpr, tpr, values = roc_curve(y, logits, drop_intermediate=False)
    # values: inf (nothing is minority), then the distinct log-odds in descending order; the
    # curve's "minority where log-odds >= value" is "log-odds > cut" halfway down to the next.
    v = values[1:]
    cuts = np.concatenate([[v[0] + 1.0], (v[:-1] + v[1:]) / 2, [v[-1] - 1.0]])
    fn = n_pos - np.rint(tpr * n_pos).astype(np.int64)
    fp = np.rint(fpr * n_neg).astype(np.int64)
    return cuts[::-1], (fn * n_neg + fp * n_pos)[::-1]


class TunedOnValidation(Decision):
    """The cut of the validation log-odds with the least balanced error (the mean of the two
    class error rates); ties go to the cut closest to 0, the untuned rule. Two classes only
    (``unsupported`` says why): its offsets are ``(0, cut)``."""

    name = "tuned"
    description = "Threshold with the least balanced error on the validation split (never the test set)."
    needs_validation = True

    @classmethod
    def unsupported(cls, n_classes: int) -> str | None:
        if n_classes == 2:
            return None
        return (f"the tuned decision fits one threshold between two classes; with {n_classes} classes it would "
                f"fit {n_classes - 1} offsets on a validation split holding a handful of images of the rarest "
                "classes: use posthoc")

    def _threshold(self, ctx: DecisionContext) -> float:
        if ctx.val_logits is None or ctx.val_y is None:
            raise ConfigError(f"decision '{self.name}' needs a validation split: set validation_fraction above 0.")
        s = np.asarray(ctx.val_logits, dtype=np.float64).ravel()
        y = np.asarray(ctx.val_y).ravel()
        if len(s) != len(y):
            raise ValueError(f"decision '{self.name}': {len(s)} validation log-odds but {len(y)} labels.")
        if not (y == 1).any():
            raise ConfigError(
                f"decision '{self.name}': the validation split holds no minority image: "
                "raise validation_fraction or n_minority"
            )
        if not (y == 0).any():
            raise ConfigError(
                f"decision '{self.name}': the validation split holds no majority image: raise validation_fraction"
            )
        cuts, err = balanced_error_cuts(s, y)
        best = np.flatnonzero(err == err.min())
        return float(cuts[best[np.argmin(np.abs(cuts[best]))]])
