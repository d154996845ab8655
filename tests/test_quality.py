"""Generator quality: known answers for each metric, held-out images, and a tiny cached judge."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vaeimb.declarations.errors import ConfigError
from vaeimb.parts.data import Images
from vaeimb.running.cache import ResultCache
from vaeimb.parts.judge import FEATURE_DIM
from vaeimb.statistics.image_quality import frechet_distance, memorisation, precision_recall
from vaeimb.studies.quality import generator_quality, heldout_minority, load_judge


def _cloud(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)) + shift


def _with_moments(n: int, mean: np.ndarray, cov: np.ndarray, seed: int) -> np.ndarray:
    """Points whose sample mean and (ddof=1) covariance are exactly ``mean`` and ``cov``."""
    x = _cloud(n, len(mean), seed)
    x -= x.mean(0)
    x = x @ np.linalg.inv(np.linalg.cholesky(np.cov(x, rowvar=False))).T
    return x @ np.linalg.cholesky(cov).T + mean


def _fake_mnist(n_train: int = 400, n_test: int = 100, seed: int = 0) -> Images:
    """Images that encode their own index (pixels 0 and 1) and show a bright block where their label says."""

    def split(n, offset):
        rng = np.random.default_rng(seed + offset)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(labels):
            r, col = 3 + (c // 5) * 12, 1 + (c % 5) * 5
            images[i, r : r + 8, col : col + 4] = 255
        images[:, 0, 0] = np.arange(n) % 256
        images[:, 0, 1] = np.arange(n) // 256
        return images, labels

    tr, trl = split(n_train, 0)
    te, tel = split(n_test, 1)
    return Images(tr, trl, te, tel, source=Path("fake"))


def _index_of(images: np.ndarray) -> np.ndarray:
    return images[:, 0, 0].astype(int) + 256 * images[:, 0, 1].astype(int)


# ---------------------------------------------------------------- precision and recall
def test_a_set_against_itself_has_full_precision_and_recall_and_zero_frechet():
    x = _cloud(200, 8, 0)
    assert precision_recall(x, x.copy(), k=3) == (1.0, 1.0)
    assert frechet_distance(x, x.copy()) == pytest.approx(0.0, abs=1e-6)


def test_disjoint_clouds_have_zero_precision_and_recall_and_a_large_frechet():
    real, fake = _cloud(150, 5, 0), _cloud(150, 5, 1, shift=100.0)
    assert precision_recall(real, fake, k=3) == (0.0, 0.0)
    # the means differ by 100 in each of 5 dimensions: about 5 * 100^2
    assert frechet_distance(real, fake) == pytest.approx(5e4, rel=0.01)


def test_half_overlapping_sets_score_in_between():
    """Real = A + B, generated = A + C, with A, B, C far apart: half of each set is covered."""
    a, b, c = _cloud(100, 4, 0), _cloud(100, 4, 1, shift=50.0), _cloud(100, 4, 2, shift=-50.0)
    real, fake = np.concatenate([a, b]), np.concatenate([a, c])
    assert precision_recall(real, fake, k=3) == (0.5, 0.5)
    far = frechet_distance(real, np.concatenate([c, c + 1.0]))
    assert 0.0 < frechet_distance(real, fake) < far


def test_precision_recall_balls_reach_the_kth_neighbour_worked_by_hand():
    real = np.array([[0.0], [1.0], [3.0], [7.0]])
    fake = np.array([[-0.5], [1.9], [5.5], [11.5], [20.0]])
    # k=1: real radii 1, 1, 2, 4, so -0.5, 1.9 and 5.5 (in 7's ball [3, 11]) are inside, 11.5 and 20 not
    assert precision_recall(real, fake, k=1) == (0.6, 1.0)
    # k=2: real radii 3, 2, 3, 6, so 7's ball [1, 13] now holds 11.5 too
    assert precision_recall(real, fake, k=2)[0] == 0.8


def test_precision_and_recall_are_asymmetric_for_a_collapsed_generator():
    """Samples all near one real point are realistic (precision 1) but cover little (low recall)."""
    real = _cloud(300, 3, 0)
    fake = real[:1] + 1e-3 * _cloud(50, 3, 1)
    precision, recall = precision_recall(real, fake, k=3)
    assert precision == 1.0
    assert recall < 0.1


def test_precision_recall_rejects_sets_no_larger_than_k():
    with pytest.raises(ValueError, match="at least 4 generated"):
        precision_recall(_cloud(10, 2, 0), _cloud(3, 2, 1), k=3)
    with pytest.raises(ConfigError, match="at least 6 real"):
        precision_recall(_cloud(5, 2, 0), _cloud(30, 2, 1), k=5)


# ---------------------------------------------------------------- Fréchet distance
def test_frechet_matches_the_closed_form_for_diagonal_gaussians():
    m1, m2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.diag([1.0, 4.0, 0.25]), np.diag([9.0, 1.0, 0.25])
    x1, x2 = _with_moments(500, m1, s1, 0), _with_moments(500, m2, s2, 1)
    # commuting covariances: |m1 - m2|^2 + sum (sd1 - sd2)^2 = 5 + (4 + 1 + 0)
    assert frechet_distance(x1, x2) == pytest.approx(10.0, rel=1e-8)


def test_frechet_matches_the_closed_form_against_a_standard_gaussian():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 4))
    s2 = a @ a.T + 0.5 * np.eye(4)
    m2 = np.array([0.5, -1.0, 0.0, 2.0])
    x1, x2 = _with_moments(800, np.zeros(4), np.eye(4), 2), _with_moments(800, m2, s2, 3)
    # tr(I + S2 - 2 S2^(1/2)) = sum over S2's eigenvalues l of (1 - sqrt(l))^2
    expected = float(m2 @ m2 + np.sum((1.0 - np.sqrt(np.linalg.eigvalsh(s2))) ** 2))
    assert frechet_distance(x1, x2) == pytest.approx(expected, rel=1e-6)


def test_frechet_survives_features_that_never_fire():
    """Dead ReLU units give zero-variance features, so both covariances are singular."""
    x1, x2 = _cloud(100, 6, 0), _cloud(100, 6, 1, shift=1.0)
    x1[:, :2] = 0.0
    x2[:, :2] = 0.0
    value = frechet_distance(x1, x2)
    assert np.isfinite(value)
    assert value == pytest.approx(4.0, abs=1.5)  # 4 live dimensions, mean shift 1 each


# ---------------------------------------------------------------- memorisation
def test_exact_copies_of_the_training_set_have_zero_memorisation_distance():
    train, heldout = _cloud(50, 4, 0), _cloud(50, 4, 1)
    copies = train[np.random.default_rng(2).integers(0, 50, 80)]
    to_train, heldout_to_train = memorisation(copies, train, heldout)
    assert to_train == 0.0
    assert heldout_to_train > 0.1
    fresh, _ = memorisation(_cloud(80, 4, 3), train, heldout)
    assert fresh == pytest.approx(heldout_to_train, rel=0.5)


# ---------------------------------------------------------------- held-out minority images
def test_heldout_minority_skips_drawn_indices_and_other_digits():
    mnist = _fake_mnist(n_train=600)
    pool = np.flatnonzero(mnist.train_labels == 7)
    drawn = pool[: len(pool) // 2]
    images = heldout_minority(mnist, 7, drawn, n=1000, seed=0)
    idx = _index_of(images)
    assert len(idx) == len(pool) - len(drawn)  # fewer available than asked: all of them
    assert set(idx) == set(pool) - set(drawn)
    assert (mnist.train_labels[idx] == 7).all()

    few = _index_of(heldout_minority(mnist, 7, drawn, n=5, seed=1))
    assert len(few) == 5 and not set(few) & set(drawn) and (mnist.train_labels[few] == 7).all()
    assert np.array_equal(few, _index_of(heldout_minority(mnist, 7, drawn, n=5, seed=1)))
    assert not np.array_equal(few, _index_of(heldout_minority(mnist, 7, drawn, n=5, seed=2)))


def test_heldout_minority_rejects_a_bad_digit():
    with pytest.raises(ConfigError, match="digit must be 0-9"):
        heldout_minority(_fake_mnist(50, 10), 10, np.array([], int), n=5, seed=0)


# ---------------------------------------------------------------- the judge
@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory):
    mnist = _fake_mnist()
    cache = ResultCache(tmp_path_factory.mktemp("judge-cache"))
    calls = []
    judge = load_judge(mnist, cache, max_train=300, epochs=10, progress=lambda d, t: calls.append((d, t)))
    return judge, mnist, cache, calls


def test_the_judge_trains_once_and_is_then_loaded_from_the_cache(tiny_judge):
    judge, mnist, cache, calls = tiny_judge
    assert calls and calls[-1][0] == calls[-1][1] == judge.info["steps"]
    assert len(list((cache.root / "judge").glob("*.npz"))) == 1
    again = []
    loaded = load_judge(mnist, cache, max_train=300, epochs=10, progress=lambda d, t: again.append(d))
    assert again == []  # nothing trained
    assert loaded.info == judge.info
    images = mnist.test_images[:20]
    assert np.array_equal(loaded.features(images), judge.features(images))


def test_the_judge_features_have_the_documented_shape_and_the_judge_learned(tiny_judge):
    judge, mnist, _, _ = tiny_judge
    f = judge.features(mnist.train_images[:37])
    assert f.shape == (37, FEATURE_DIM) and f.dtype == np.float32
    assert (f >= 0).all()  # after ReLU
    assert judge.features(np.zeros((0, 28, 28), np.uint8)).shape == (0, FEATURE_DIM)
    assert judge.accuracy > 0.5, judge.accuracy  # ten classes: chance is 0.1
    with pytest.raises(ConfigError, match=r"\(n, 28, 28\)"):
        judge.features(np.zeros((3, 784), np.uint8))


def test_other_judge_settings_get_their_own_cache_entry(tiny_judge, tmp_path):
    _, mnist, _, _ = tiny_judge
    cache = ResultCache(tmp_path)
    load_judge(mnist, cache, max_train=40, epochs=1)
    load_judge(mnist, cache, max_train=50, epochs=1)
    assert len(list((cache.root / "judge").glob("*.npz"))) == 2


def test_generator_quality_of_perfect_copies_and_its_keys(tiny_judge):
    judge, mnist, _, _ = tiny_judge
    digit = mnist.train_images[mnist.train_labels == 3]
    fit, heldout = digit[:10], digit[10:]
    q = generator_quality(judge, heldout.copy(), fit, heldout, k=3, max_images=1000, seed=0)
    keys = {"precision", "recall", "frechet", "memorisation", "memorisation_real", "n_generated", "n_reference"}
    assert set(q) == keys
    json.dumps(q)  # plain floats and ints
    assert q["precision"] == q["recall"] == 1.0
    assert q["frechet"] == pytest.approx(0.0, abs=1e-4)
    assert q["n_generated"] == q["n_reference"] == len(heldout)

    copier = generator_quality(judge, np.repeat(fit, 5, axis=0), fit, heldout, k=3, seed=0)
    assert copier["memorisation"] == 0.0 < copier["memorisation_real"]

    other = mnist.train_images[mnist.train_labels == 8]
    wrong = generator_quality(judge, other, fit, heldout, k=3, max_images=20, seed=0)
    assert wrong["n_generated"] == wrong["n_reference"] == 20
    assert wrong["precision"] < 0.5 and wrong["frechet"] > 10 * q["frechet"] + 1e-3
    assert wrong == generator_quality(judge, other, fit, heldout, k=3, max_images=20, seed=0)
