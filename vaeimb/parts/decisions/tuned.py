"""A decision tuned on the validation split for the balanced error (never on test).

The usual threshold-moving baseline: keep the model, choose the cut on held-out data. Two
classes: the cut of the minority log-odds with the least balanced error. K classes: the
scale ``tau`` of post-hoc logit adjustment (offsets ``tau * log(pi_k / pi_0)``, Menon et al.
2021) with the best validation ACSA, one number fitted however rare the rarest class: its
handful of validation images cannot carry K - 1 free offsets. The validation split is carved
from the training draw (stratified: the rarest long-tail class of 40 images gives up 8 at
the default fraction 0.2); the test set is never passed here.
"""

from __future__ import annotations

import math

import numpy as np

from ...declarations.errors import ConfigError
from ...declarations.params import Param
from ...declarations.part import each_class
from .base import Decision, DecisionContext, predict


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


def tau_grid(low: float, high: float, steps: int) -> np.ndarray:
    """The candidate scales: ``steps`` evenly spaced values from ``low`` to ``high``."""
    return np.linspace(low, high, steps) if steps > 1 else np.asarray([low], dtype=np.float64)


def acsa_of(z: np.ndarray, y: np.ndarray, offsets: np.ndarray) -> float:
    """Validation ACSA (mean recall over the classes present) of ``argmax(z - offsets)``."""
    pred = predict(z, offsets)
    return float(np.mean([(pred[y == c] == c).mean() for c in np.unique(y)]))


def fit_offsets(z: np.ndarray, y: np.ndarray, start: np.ndarray, span: float = 2.0, steps: int = 41,
                passes: int = 2) -> np.ndarray:
    """Per-class offsets from ``start`` by coordinate ascent on validation ACSA: each class
    1..K-1 in turn moves within ``start_k ± span`` (``steps`` values) to its best value, ties
    to the smallest move; class 0 stays the reference at 0."""
    z = np.asarray(z, dtype=np.float64)
    o = np.asarray(start, dtype=np.float64).copy()
    grid = np.linspace(-span, span, steps)
    for _ in range(passes):
        for k in range(1, len(o)):
            candidates = o[k] + grid
            scores = []
            for c in candidates:
                trial = o.copy()
                trial[k] = c
                scores.append(acsa_of(z, y, trial))
            scores = np.asarray(scores)
            best = np.flatnonzero(scores >= scores.max() - 1e-12)
            o[k] = candidates[best[np.argmin(np.abs(grid[best]))]]
    return o


def fit_tau(logits: np.ndarray, y: np.ndarray, log_prior: np.ndarray, taus: np.ndarray) -> float:
    """The ``tau`` of ``taus`` whose offsets ``tau * log_prior`` give the best validation ACSA
    (mean recall over the classes present); ties go to the tau closest to 1, plain post-hoc
    adjustment."""
    z = np.asarray(logits, dtype=np.float64)
    scores = np.asarray([acsa_of(z, y, tau * log_prior) for tau in taus])
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    return float(taus[best[np.argmin(np.abs(taus[best] - 1.0))]])


class TunedOnValidation(Decision):
    """Two classes: the cut of the validation log-odds with the least balanced error (the
    mean of the two class error rates); ties go to the cut closest to 0, the untuned rule;
    its offsets are ``(0, cut)``. K classes: offsets ``tau * log(n_k / n_0)`` of the real
    training counts, ``tau`` from ``tau_low``..``tau_high`` (``tau_steps`` values) with the
    best validation ACSA (``fit_tau``); where the validation split holds ``per_class_min``
    images of every class, each offset is then refined on its own (``fit_offsets``)."""

    name = "tuned"
    description = ("Tuned on a validation split carved from the training draw (never the test set): the threshold "
                   "(two classes) or the post-hoc adjustment's scale tau (K classes), for the balanced error.")
    needs_validation = True
    params = (
        Param("tau_low", 0.0, "float", 0.0, 5.0, help="K classes: the smallest tau tried (0 = argmax)."),
        Param("tau_high", 3.0, "float", 0.0, 5.0, help="K classes: the largest tau tried."),
        Param("tau_steps", 31, "int", 1, 1001, help="K classes: how many evenly spaced taus are tried."),
        Param("per_class_min", 50, "int", 1, 100_000,
              help="K classes: when the validation split holds at least this many images of every class, the "
                   "offsets are then fitted class by class too (else the one tau)."),
    )

    def __init__(self, **values):
        super().__init__(**values)
        v = self.values
        if v["tau_low"] > v["tau_high"]:
            raise ConfigError(f"decision '{self.name}': the tau range is empty (tau_low {v['tau_low']:g} > "
                              f"tau_high {v['tau_high']:g}).")

    def _validation(self, ctx: DecisionContext) -> tuple[np.ndarray, np.ndarray]:
        if ctx.val_logits is None or ctx.val_y is None:
            raise ConfigError(f"decision '{self.name}' needs a validation split: set validation_fraction above 0.")
        s, y = np.asarray(ctx.val_logits, dtype=np.float64), np.asarray(ctx.val_y).ravel()
        if len(s) != len(y):
            raise ValueError(f"decision '{self.name}': {len(s)} validation scores but {len(y)} labels.")
        return s, y

    def _offsets(self, ctx: DecisionContext):
        if ctx.n_classes == 2:
            return [0.0, self._threshold(ctx)]
        z, y = self._validation(ctx)
        missing = [k for k in range(ctx.n_classes) if not (y == k).any()]
        if missing:
            raise ConfigError(f"decision '{self.name}': the validation split holds no image of class "
                              f"{', '.join(map(str, missing))}: raise validation_fraction or those training counts.")
        counts = each_class(ctx.counts_real, f"decision '{self.name}'")
        log_prior = np.asarray([math.log(n / counts[0]) for n in counts])
        v = self.values
        tau = fit_tau(z, y, log_prior, tau_grid(v["tau_low"], v["tau_high"], v["tau_steps"]))
        if min(int((y == k).sum()) for k in range(ctx.n_classes)) >= v["per_class_min"]:
            return fit_offsets(z, y, tau * log_prior)  # enough images of every class for K - 1 offsets
        return tau * log_prior

    def _threshold(self, ctx: DecisionContext) -> float:
        s, y = self._validation(ctx)
        s = s.ravel()
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
