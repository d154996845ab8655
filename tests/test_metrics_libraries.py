"""``multiclass_metrics`` against scikit-learn and imbalanced-learn on hundreds of seeded random
cases: ACSA = ``balanced_accuracy_score``, macro F1 = ``f1_score(average="macro",
zero_division=0)`` and macro G-mean = ``geometric_mean_score(average="macro")``, the last two
over the task's K classes (``labels=range(K)``). The edge cases are the ones where the
libraries' own defaults part: a class never predicted, a class absent from the true labels,
a class absent from both, K = 2 and K = 10."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from imblearn.metrics import geometric_mean_score
from sklearn.metrics import balanced_accuracy_score, f1_score

import vaeimb.parts.metrics as M

N_CASES = 400


def libraries(y_true, y_pred, k: int) -> dict[str, float]:
    """What the two libraries compute, with the labels the docstring names."""
    labels = list(range(k))
    with warnings.catch_warnings():
        # "y_pred contains classes not in y_true", recall or specificity 0/0 set to 0: the
        # edge cases this file is about
        warnings.simplefilter("ignore")
        return {
            "balanced_accuracy": balanced_accuracy_score(y_true, y_pred),
            "macro_f1": f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
            "g_mean": geometric_mean_score(y_true, y_pred, labels=labels, average="macro"),
            "accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))),
            "misclassified": float(np.sum(np.asarray(y_true) != np.asarray(y_pred))),
        }


def random_case(seed: int) -> tuple[np.ndarray, np.ndarray, int, str]:
    """One seeded case: K in {2, 3, 5, 10}, balanced or long-tailed labels, predictions from
    perfect to random, and one of the edge cases in two cases of three."""
    rng = np.random.default_rng(seed)
    k = int(rng.choice([2, 3, 5, 10]))
    n = int(rng.integers(k + 2, 300))
    prior = rng.dirichlet(np.full(k, rng.choice([0.3, 1.0, 10.0])))  # long tail to nearly balanced
    y_true = rng.choice(k, size=n, p=prior)
    flip = rng.uniform(0, 0.9)
    y_pred = np.where(rng.random(n) < flip, rng.integers(0, k, n), y_true)
    kind = ["plain", "never predicted", "absent from y_true", "absent from both"][seed % 4] if seed % 3 else "plain"
    c = int(rng.integers(k))
    if kind in ("never predicted", "absent from both"):
        y_pred = np.where(y_pred == c, (c + 1) % k, y_pred)
    if kind in ("absent from y_true", "absent from both"):
        keep = y_true != c
        if keep.sum() < 2:
            keep = np.arange(n) < 2
            y_true[:2] = (c + 1) % k
        y_true, y_pred = y_true[keep], y_pred[keep]
        if kind == "absent from y_true":
            y_pred[0] = c  # still predicted: a false positive of a class the test lacks
    return y_true.astype(np.int64), y_pred.astype(np.int64), k, kind


CASES = [random_case(seed) for seed in range(N_CASES)]


def test_the_cases_cover_every_edge_case_at_k_2_and_k_10():
    seen = {(k, kind) for _, _, k, kind in CASES}
    for k in (2, 10):
        for kind in ("plain", "never predicted", "absent from y_true", "absent from both"):
            assert (k, kind) in seen
    for y_true, y_pred, k, kind in CASES:  # each case is what its name says
        missing_true = set(range(k)) - set(y_true.tolist())
        missing_pred = set(range(k)) - set(y_pred.tolist())
        if kind == "never predicted":
            assert missing_pred
        if kind == "absent from y_true":
            assert missing_true and not missing_true <= missing_pred
        if kind == "absent from both":
            assert missing_true & missing_pred


@pytest.mark.parametrize("case", range(N_CASES))
def test_multiclass_metrics_equal_scikit_learn_and_imbalanced_learn(case):
    y_true, y_pred, k, kind = CASES[case]
    ours = M.multiclass_metrics(y_true, y_pred, k)
    assert ours == pytest.approx(libraries(y_true, y_pred, k), rel=1e-12, abs=1e-12), kind


def test_a_class_absent_from_the_true_labels_leaves_acsa_but_counts_in_g_mean_and_f1():
    """ACSA: the mean recall over the classes the test holds (an absent class's recall is
    0/0; scikit-learn leaves it out too). Macro G-mean and macro F1 average over the task's
    K classes: the absent class counts with recall 0 and F1 0 (the libraries with
    ``labels=range(K)``; with their default labels, only when it is predicted)."""
    y_true = np.array([0, 0, 0, 1, 1, 1])
    y_pred = np.array([0, 0, 2, 1, 1, 1])  # class 2: not in the test, predicted once
    m = M.multiclass_metrics(y_true, y_pred, 3)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    mean_recall, mean_specificity = (2 / 3 + 1 + 0) / 3, (1 + 1 + 5 / 6) / 3
    assert m["g_mean"] == pytest.approx(math.sqrt(mean_recall * mean_specificity))
    assert m["macro_f1"] == pytest.approx((0.8 + 1 + 0) / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert m["g_mean"] == pytest.approx(geometric_mean_score(y_true, y_pred, average="macro"))
        assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))
    # never predicted either: the libraries' default labels drop it, we keep it
    y_pred = np.array([0, 0, 1, 1, 1, 1])
    m = M.multiclass_metrics(y_true, y_pred, 3)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["g_mean"] == pytest.approx(math.sqrt((2 / 3 + 1 + 0) / 3 * (1 + 2 / 3 + 1) / 3))
    assert m["macro_f1"] == pytest.approx((0.8 + 6 / 7 + 0) / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert m["g_mean"] < geometric_mean_score(y_true, y_pred, average="macro")
        assert m["macro_f1"] < f1_score(y_true, y_pred, average="macro", zero_division=0)


def test_a_class_never_predicted_zeroes_the_geometric_mean_of_recalls_but_not_ours():
    """Which G-mean this is: the square root of mean recall times mean specificity, not the
    K-th root of the product of the recalls (imbalanced-learn's default ``multiclass``),
    which one missed class sends to 0, nor the mean of the per-class sqrt(recall x specificity)."""
    y_true = np.array([0] * 5 + [1] * 5 + [2] * 5)
    y_pred = np.array([0] * 5 + [1] * 5 + [0] * 2 + [1] * 3)  # class 2 never predicted
    m = M.multiclass_metrics(y_true, y_pred, 3)
    recall, specificity = np.array([1, 1, 0]), np.array([8 / 10, 7 / 10, 1])
    assert m["g_mean"] == pytest.approx(math.sqrt(recall.mean() * specificity.mean()))
    assert m["g_mean"] > 0.7 and geometric_mean_score(y_true, y_pred) == 0
    assert m["g_mean"] != pytest.approx(np.mean(np.sqrt(recall * specificity)))
    assert m["macro_f1"] == pytest.approx((2 * 5 / (10 + 2) + 2 * 5 / (10 + 3) + 0) / 3)


def test_at_k_2_the_macro_g_mean_is_the_balanced_accuracy_not_the_binary_g_mean():
    """With two classes each class's recall is the other's specificity, so
    sqrt(mean recall x mean specificity) is the mean recall: the binary table's G-mean,
    sqrt(recall x specificity), is another number."""
    rng = np.random.default_rng(7)
    for _ in range(50):
        y_true = rng.integers(0, 2, 80)
        y_pred = np.where(rng.random(80) < 0.3, 1 - y_true, y_true)
        m = M.multiclass_metrics(y_true, y_pred, 2)
        assert m["g_mean"] == pytest.approx(m["balanced_accuracy"], rel=1e-12)
        binary = M.classification_metrics(y_true, np.where(y_pred == 1, 1.0, -1.0))
        recalls = [np.mean(y_pred[y_true == c] == c) for c in (0, 1)]
        assert binary["g_mean"] == pytest.approx(math.sqrt(recalls[0] * recalls[1]))
        if recalls[0] != recalls[1]:
            assert binary["g_mean"] < m["g_mean"]


def test_on_a_balanced_test_the_macro_g_mean_follows_from_acsa():
    """On a test set with n images of each of K classes, mean specificity = 1 − (1 − ACSA) / (K − 1),
    so macro G-mean = sqrt(ACSA x (1 − (1 − ACSA) / (K − 1))): it adds nothing to ACSA (README)."""
    rng = np.random.default_rng(11)
    for k in (3, 10):
        y_true = np.repeat(np.arange(k), 40)
        for flip in (0.0, 0.05, 0.3, 0.9):
            y_pred = np.where(rng.random(len(y_true)) < flip, rng.integers(0, k, len(y_true)), y_true)
            m = M.multiclass_metrics(y_true, y_pred, k)
            acsa = m["balanced_accuracy"]
            assert m["g_mean"] == pytest.approx(math.sqrt(acsa * (1 - (1 - acsa) / (k - 1))), rel=1e-12)


def test_what_the_readme_says_about_deepsmotes_g_mean_holds_for_its_table():
    """README, "Which macro G-mean": DeepSMOTE's GM is above its ACSA in every row (so not the
    geometric mean of the recalls); ours on a test of equal class sizes would give SMOTE 93.17
    and BAGAN 96.09; the imbalanced-test row is above √ACSA, which bounds all three formulas."""
    from vaeimb.declarations.task_kinds.longtail import DEEPSMOTE_REPORTED

    assert all(g > a for a, g, _ in DEEPSMOTE_REPORTED.values())

    def ours_on_equal_classes(acsa_percent: float) -> float:
        a = acsa_percent / 100
        return round(100 * math.sqrt(a * (1 - (1 - a) / 9)), 2)

    assert ours_on_equal_classes(DEEPSMOTE_REPORTED["SMOTE"][0]) == 93.17 != DEEPSMOTE_REPORTED["SMOTE"][1]
    assert ours_on_equal_classes(DEEPSMOTE_REPORTED["BAGAN"][0]) == 96.09 != DEEPSMOTE_REPORTED["BAGAN"][1]
    acsa, g_mean, _ = DEEPSMOTE_REPORTED["DeepSMOTE (imbalanced test)"]
    assert round(100 * math.sqrt(acsa / 100), 2) == 98.06 < g_mean
    # the bound: every formula's G-mean is at most √ACSA, whatever the counts
    for y_true, y_pred, k, _ in CASES[:100]:
        m = M.multiclass_metrics(y_true, y_pred, k)
        if set(y_true.tolist()) == set(range(k)):
            assert m["g_mean"] <= math.sqrt(m["balanced_accuracy"]) + 1e-12
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert geometric_mean_score(y_true, y_pred) <= m["balanced_accuracy"] + 1e-12
