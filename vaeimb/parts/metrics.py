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


#: The metrics of a task of K > 2 classes (the long tail). ``balanced_accuracy`` is the mean
#: class recall, which the long-tail literature calls ACSA (average class-specific accuracy).
METRICS_MULTICLASS: dict[str, tuple[str, bool]] = {
    "misclassified": ("Misclassified test images", False),
    "accuracy": ("Accuracy", True),
    "balanced_accuracy": ("ACSA (balanced accuracy)", True),
    "g_mean": ("Macro G-mean", True),
    "macro_f1": ("Macro F1", True),
}


def metrics_for(n_classes: int) -> dict[str, tuple[str, bool]]:
    """The metric table of a task of ``n_classes`` classes."""
    return METRICS if n_classes == 2 else METRICS_MULTICLASS


def metric_info(name: str) -> tuple[str, bool]:
    """(label, higher is better) of any metric, whatever the task."""
    return {**METRICS_MULTICLASS, **METRICS}[name]


def confusion_matrix_k(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """K x K counts, rows = true label, columns = predicted label (scikit-learn's
    ``confusion_matrix(..., labels=range(K))``)."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    return np.bincount(n_classes * y_true + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_rates(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Recall and precision of each label from a K x K confusion matrix (0 where undefined,
    as scikit-learn's ``zero_division=0``)."""
    cm = np.asarray(cm, np.int64)
    tp, true, pred = np.diag(cm), cm.sum(1), cm.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(true > 0, tp / np.maximum(true, 1), 0.0)
        precision = np.where(pred > 0, tp / np.maximum(pred, 1), 0.0)
    return {"recall": recall.astype(np.float64), "precision": precision.astype(np.float64)}


def multiclass_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
    """Every metric of ``METRICS_MULTICLASS`` for predicted labels, from the confusion counts.

    With recall_k = TP_k / P_k and specificity_k = TN_k / (TN_k + FP_k), each class k against
    the rest, over the task's K classes:

    * ACSA = the mean recall over the classes present in ``y_true`` (scikit-learn's
      ``balanced_accuracy_score``);
    * macro G-mean = sqrt(mean_k recall_k x mean_k specificity_k) (imbalanced-learn's
      ``geometric_mean_score(labels=range(K), average="macro")``). Not the K-th root of the
      product of the recalls (its default ``average="multiclass"``, never above ACSA), nor
      the mean of the per-class sqrt(recall_k x specificity_k) that imbalanced-learn's issue
      #1096 argues "macro" should mean. At K = 2 it equals the balanced accuracy; on a test
      set with as many images of every class it is sqrt(ACSA x (1 - (1 - ACSA) / (K - 1)));
    * macro F1 = the mean of the per-class F1 = 2 TP_k / (2 TP_k + FP_k + FN_k), 0 where
      undefined (scikit-learn's ``f1_score(labels=range(K), average="macro", zero_division=0)``).

    A class absent from ``y_true`` (never in this project's test sets; only in hand-made
    inputs): its recall is 0/0, so ACSA leaves it out, as scikit-learn does, while macro
    G-mean and macro F1 average over all K classes and count it with recall 0 and F1 0 (the
    libraries with their default labels drop it only when it is not predicted either).
    tests/test_metrics_libraries.py checks all of this against both libraries on 400 seeded
    random cases (a class never predicted, one absent from ``y_true``, K = 2 to 10).
    """
    cm = confusion_matrix_k(y_true, y_pred, n_classes)
    tp, true, pred = np.diag(cm).astype(np.float64), cm.sum(1), cm.sum(0)
    n = int(cm.sum())
    present = true > 0
    recall = per_class_rates(cm)["recall"]
    negatives = n - true
    fp = pred - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        specificity = np.where(negatives > 0, (negatives - fp) / np.maximum(negatives, 1), 0.0)
        f1 = np.where(2 * tp + fp + (true - tp) > 0, 2 * tp / np.maximum(2 * tp + fp + (true - tp), 1), 0.0)
    return {
        "misclassified": float(n - tp.sum()),
        "accuracy": float(tp.sum() / n) if n else float("nan"),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan"),
        "g_mean": float(np.sqrt(recall.mean() * specificity.mean())),
        "macro_f1": float(f1.mean()),
    }


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """2x2 counts, rows = true class, columns = predicted class, 0 = majority, 1 = minority
    (scikit-learn's ``confusion_matrix(..., labels=[0, 1])``: a one-class prediction stays 2x2)."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    return np.bincount(2 * y_true + y_pred, minlength=4).reshape(2, 2)


def classification_metrics(y_true: np.ndarray, logit: np.ndarray, threshold: float = 0.0) -> dict[str, float]:
    """Every metric of ``METRICS`` for minority log-odds ``logit`` cut at ``threshold``.

    scikit-learn's and imbalanced-learn's definitions (tests/test_metrics.py checks them
    against both), computed from the confusion counts: a cache hit computes them for every
    run and importing those libraries would take longer than the whole hit. A metric that
    is undefined (e.g. precision with no minority prediction) is 0, and ROC AUC, balanced
    accuracy and G-mean with one class in ``y_true`` are NaN.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    score = np.asarray(logit, dtype=np.float64)
    y_pred = (score > threshold).astype(np.int64)
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred).tolist()
    n_neg, n_pos = tn + fp, fn + tp
    both = n_neg > 0 and n_pos > 0
    nan = float("nan")
    recall = tp / n_pos if n_pos else 0.0
    specificity = tn / n_neg if n_neg else 0.0
    return {
        "misclassified": float(fp + fn),
        "accuracy": (tp + tn) / len(y_true),
        "balanced_accuracy": (recall + specificity) / 2 if both else nan,
        "minority_recall": recall,
        "minority_precision": tp / (tp + fp) if tp + fp else 0.0,
        "minority_f1": 2 * tp / (2 * tp + fp + fn) if tp else 0.0,
        "g_mean": _geometric_mean(specificity, recall) if both else nan,
        "roc_auc": roc_auc(y_true, score) if both else nan,
    }


def _geometric_mean(*rates: float) -> float:
    """imbalanced-learn's G-mean of the class recalls, to the last bit: exp of the mean log."""
    with np.errstate(divide="ignore"):  # a zero recall: log 0 = -inf, and the G-mean is 0
        return float(np.exp(np.mean(np.log(np.asarray(rates, np.float64)))))


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (both classes present): the share of (minority, majority)
    pairs the score orders correctly, a tie counting one half (Mann-Whitney U / n1 n0;
    scikit-learn's ``roc_auc_score`` up to rounding). Counted in integers, divided once."""
    values, group = np.unique(score, return_inverse=True)
    pos = np.bincount(group[y_true == 1], minlength=len(values))
    neg = np.bincount(group[y_true == 0], minlength=len(values))
    neg_below = np.cumsum(neg) - neg
    twice_u = int(np.sum(pos * (2 * neg_below + neg)))
    return twice_u / (2 * int(pos.sum()) * int(neg.sum()))


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
