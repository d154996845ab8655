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
    """2x2 counts, rows = true class, columns = predicted class, 0 = majority, 1 = minority."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    return np.bincount(2 * y_true + y_pred, minlength=4).reshape(2, 2)


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied scores counted half); NaN if one class."""
    y_true = np.asarray(y_true).astype(bool)
    n_pos, n_neg = int(y_true.sum()), int((~y_true).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    score = np.asarray(score, dtype=np.float64)
    order = np.argsort(score, kind="mergesort")
    sorted_scores = score[order]
    ranks = np.empty(len(score), dtype=np.float64)
    # average rank for ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[y_true].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def classification_metrics(y_true: np.ndarray, logit: np.ndarray, threshold: float = 0.0) -> dict[str, float]:
    """Every metric of ``METRICS`` for minority log-odds ``logit`` cut at ``threshold``."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = (np.asarray(logit) > threshold).astype(np.int64)
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
    recall = _ratio(tp, tp + fn)
    specificity = _ratio(tn, tn + fp)
    precision = _ratio(tp, tp + fp)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {
        "misclassified": float(fp + fn),
        "accuracy": _ratio(tp + tn, len(y_true)),
        "balanced_accuracy": (recall + specificity) / 2.0,
        "minority_recall": recall,
        "minority_precision": precision,
        "minority_f1": f1,
        "g_mean": math.sqrt(recall * specificity),
        "roc_auc": roc_auc(y_true, logit),
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


def spread(values) -> Spread:
    """Summarise one metric over seeds; with a single seed the interval is undefined (NaN)."""
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
    return Spread(mean, std, mean - half, mean + half, n)
