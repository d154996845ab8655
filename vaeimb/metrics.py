"""Test-set metrics with the minority class as the positive class, and their spread over seeds."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Metric name -> (short label, whether higher is better). Order = display order.
METRICS: dict[str, tuple[str, bool]] = {
    "misclassified": ("Misclassified test images", False),
    "accuracy": ("Accuracy", True),
    "balanced_accuracy": ("Balanced accuracy", True),
    "minority_recall": ("Minority recall", True),
    "minority_precision": ("Minority precision", True),
    "minority_f1": ("Minority F1", True),
    "g_mean": ("G-mean", True),
    "roc_auc": ("ROC AUC", True),
}


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """2x2 counts, rows = true class, columns = predicted class, 0 = majority, 1 = minority
    (scikit-learn's, with both labels fixed so a one-class prediction stays 2x2)."""
    from sklearn.metrics import confusion_matrix as sk_confusion

    return sk_confusion(np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64), labels=[0, 1])


def classification_metrics(y_true: np.ndarray, logit: np.ndarray, threshold: float = 0.0) -> dict[str, float]:
    """Every metric of ``METRICS`` for minority log-odds ``logit`` cut at ``threshold``.

    The formulas are scikit-learn's and imbalanced-learn's (the libraries our users
    trust); a metric that is undefined (e.g. precision with no minority prediction) is 0,
    and ROC AUC with one class in ``y_true`` is NaN.
    """
    from imblearn.metrics import geometric_mean_score
    from sklearn import metrics as sk

    y_true = np.asarray(y_true, dtype=np.int64)
    score = np.asarray(logit, dtype=np.float64)
    y_pred = (score > threshold).astype(np.int64)
    both = len(np.unique(y_true)) == 2
    # imbalanced-learn's binary G-mean: no `average` argument (its issue #1096).
    return {
        "misclassified": float((y_pred != y_true).sum()),
        "accuracy": float(sk.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(sk.balanced_accuracy_score(y_true, y_pred)) if both else float("nan"),
        "minority_recall": float(sk.recall_score(y_true, y_pred, pos_label=1, zero_division=0)),
        "minority_precision": float(sk.precision_score(y_true, y_pred, pos_label=1, zero_division=0)),
        "minority_f1": float(sk.f1_score(y_true, y_pred, pos_label=1, zero_division=0)),
        "g_mean": float(geometric_mean_score(y_true, y_pred, pos_label=1)) if both else float("nan"),
        "roc_auc": float(sk.roc_auc_score(y_true, score)) if both else float("nan"),
    }


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation and a 95 % Student-t confidence interval over seeds."""

    mean: float
    std: float
    ci_low: float
    ci_high: float
    n: int

    def format(self, digits: int = 1) -> str:
        if self.n <= 1:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "std": self.std, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n}


def spread(values, bounds: tuple[float, float] | None = None) -> Spread:
    """Summarise one metric over seeds: mean, sd and a 95 % Student-t interval.

    ``bounds``: the metric's possible range (a count of misclassified images lies in
    [0, n_test], a rate in [0, 1]); the interval is clipped to it, so it never claims an
    impossible value. With a single seed the interval is undefined (NaN).
    """
    v = np.asarray([x for x in values if not (isinstance(x, float) and math.isnan(x))], dtype=np.float64)
    n = len(v)
    if n == 0:
        nan = float("nan")
        return Spread(nan, nan, nan, nan, 0)
    mean = float(v.mean())
    if n == 1:
        return Spread(mean, 0.0, float("nan"), float("nan"), 1)
    from scipy.stats import t  # the exact Student-t quantile for small seed counts

    std = float(v.std(ddof=1))
    half = float(t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Spread(mean, std, low, high, n)
