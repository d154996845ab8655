import math

import numpy as np
import pytest
from imblearn.metrics import geometric_mean_score
from scipy import stats
from sklearn import metrics as skm

from vaeimb.parts.metrics import (
    METRICS,
    classification_metrics,
    confusion_matrix,
    spread,
)


@pytest.mark.parametrize("seed", range(5))
def test_metrics_agree_with_scikit_learn_and_imbalanced_learn(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(500) < 0.3).astype(int)
    logit = rng.normal(size=500) + 1.5 * y
    logit[:50] = np.round(logit[:50])  # some ties
    thr = rng.normal() * 0.5
    m = classification_metrics(y, logit, thr)
    pred = (logit > thr).astype(int)
    assert set(m) == set(METRICS)
    assert m["misclassified"] == (pred != y).sum()
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["minority_recall"] == pytest.approx(skm.recall_score(y, pred))
    assert m["minority_precision"] == pytest.approx(skm.precision_score(y, pred, zero_division=0))
    assert m["minority_f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["g_mean"] == pytest.approx(geometric_mean_score(y, pred))
    # G-mean is the geometric mean of the two class recalls
    spec = skm.recall_score(y, pred, pos_label=0)
    assert m["g_mean"] == pytest.approx(math.sqrt(m["minority_recall"] * spec))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, logit))
    assert np.array_equal(confusion_matrix(y, pred), skm.confusion_matrix(y, pred, labels=[0, 1]))


def test_degenerate_predictions_do_not_crash():
    y = np.array([0, 0, 1, 1])
    m = classification_metrics(y, np.full(4, -5.0))
    assert m["minority_recall"] == 0 and m["minority_precision"] == 0 and m["minority_f1"] == 0
    assert m["misclassified"] == 2 and m["roc_auc"] == 0.5 and m["g_mean"] == 0
    assert m["balanced_accuracy"] == 0.5


@pytest.mark.parametrize("label", [0, 1])
def test_one_class_truth_gives_nan_where_undefined(label):
    """With one class in y_true, AUC, balanced accuracy and G-mean are undefined: NaN, not a number."""
    y = np.full(6, label)
    logit = np.array([-2.0, -1.0, 0.5, 1.0, 2.0, 3.0])
    m = classification_metrics(y, logit)
    for name in ("roc_auc", "balanced_accuracy", "g_mean"):
        assert math.isnan(m[name]), name
    pred = (logit > 0).astype(int)
    assert m["misclassified"] == (pred != y).sum()
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["minority_recall"] == pytest.approx(skm.recall_score(y, pred, zero_division=0))
    assert confusion_matrix(y, pred).shape == (2, 2) and confusion_matrix(y, pred).sum() == 6


def test_spread_mean_std_and_t_interval():
    v = [70, 64, 81, 59, 77]
    s = spread(v)
    assert s.mean == pytest.approx(np.mean(v)) and s.std == pytest.approx(np.std(v, ddof=1)) and s.n == 5
    lo, hi = stats.t.interval(0.95, 4, loc=np.mean(v), scale=stats.sem(v))
    assert (s.ci_low, s.ci_high) == pytest.approx((lo, hi))
    one = spread([30])
    assert one.mean == 30 and one.std == 0 and math.isnan(one.ci_low) and one.format() == "30.0"
    assert spread([]).n == 0
    assert spread([1.0, float("nan"), 3.0]).n == 2
    assert s.format(1) == f"{np.mean(v):.1f} ± {np.std(v, ddof=1):.1f}"
    assert s.to_dict() == {"mean": s.mean, "std": s.std, "ci_low": s.ci_low, "ci_high": s.ci_high, "n": 5}


def test_spread_interval_is_clipped_to_the_possible_range():
    """Two seeds far apart: the raw t-interval leaves [0, n_test]; the reported one must not."""
    v = [5.0, 1900.0]
    raw = spread(v)
    assert raw.ci_low < 0 and raw.ci_high > 1938  # the unclipped interval claims impossible counts
    s = spread(v, bounds=(0.0, 1938.0))
    assert (s.ci_low, s.ci_high) == (0.0, 1938.0)
    assert (s.mean, s.std, s.n) == (raw.mean, raw.std, raw.n)  # only the interval changes
    inside = spread([10.0, 12.0, 11.0], bounds=(0.0, 1938.0))
    assert (inside.ci_low, inside.ci_high) == (spread([10.0, 12.0, 11.0]).ci_low, spread([10.0, 12.0, 11.0]).ci_high)
