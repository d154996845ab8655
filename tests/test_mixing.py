"""Batch-level mixing (recipe key ``mix``): mixup (Zhang et al. 2018) and Remix (Chou et al.
2020) checked against their papers' formulas, their draws against Beta(alpha, alpha), their
composition with every loss in the training loop, and a bad value refused before anything trains."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vaeimb.declarations.errors import ConfigError
from vaeimb.interfaces import cli
from vaeimb.parts.batches import make_batches
from vaeimb.parts.losses import LOSSES, LossContext, make_loss
from vaeimb.parts.mixing import (
    MIXINGS,
    Mixed,
    Mixup,
    NoMixing,
    Remix,
    get_mixing,
    make_mixing,
)
from vaeimb.parts.mixing.base import beta_draw
from vaeimb.parts.training import train_classifier

ROOT = Path(__file__).resolve().parents[1]


def _batch(n=32, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 28, 28, generator=g), torch.randint(k, (n,), generator=g)


def _draws(alpha, seed, n):
    """What a mixing part draws from a generator seeded ``seed``: lam, then the permutation."""
    g = torch.Generator().manual_seed(seed)
    lam = beta_draw(alpha, g)
    return lam, torch.randperm(n, generator=g)


def _ctx(counts, step=1, steps=10):
    return LossContext(counts=tuple(counts), counts_real=tuple(counts), step=step, steps=steps)


# --- registry and parameters ---------------------------------------------------------------


def test_registry_names_and_defaults():
    assert list(MIXINGS) == ["none", "mixup", "remix"]
    assert MIXINGS["none"] is NoMixing and MIXINGS["mixup"] is Mixup and MIXINGS["remix"] is Remix
    assert make_mixing("none").values == {}
    assert make_mixing("mixup").values == {"alpha": 1.0}
    assert make_mixing("remix").values == {"alpha": 1.0, "kappa": 3.0, "tau": 0.5}  # Chou et al.'s defaults
    assert make_mixing("remix", alpha=0.4, kappa=10, tau=0.3).key() == {"name": "remix", "alpha": 0.4, "kappa": 10.0,
                                                                         "tau": 0.3}
    for name in ("mixup", "remix"):
        assert "et al." in MIXINGS[name].cite and MIXINGS[name].description
    with pytest.raises(ConfigError, match="Unknown mixing 'cutmix'; choose from none, mixup, remix"):
        get_mixing("cutmix")


@pytest.mark.parametrize("name", ["mixup", "remix"])
@pytest.mark.parametrize("alpha", [0.0, 0])
def test_alpha_zero_is_refused_as_not_above_0(name, alpha):
    with pytest.raises(ConfigError) as e:
        make_mixing(name, alpha=alpha)
    text = str(e.value)
    assert "alpha" in text and "above 0" in text and f"'{name}'" in text and "mix=none" in text
    assert "\n" not in text
    assert make_mixing(name, alpha=1e-3).values["alpha"] == 1e-3  # anything above 0 is a Beta


@pytest.mark.parametrize("name, values, fragment", [
    ("mixup", {"alpha": -1.0}, r"mixing 'mixup': alpha must be float in \[0, 100\]"),
    ("mixup", {"alpha": 101.0}, r"mixing 'mixup': alpha must be float in \[0, 100\]"),
    ("mixup", {"alpha": "1"}, r"mixing 'mixup': alpha must be float"),
    ("remix", {"kappa": 0.5}, r"mixing 'remix': kappa must be float in \[1, 1000\]"),
    ("remix", {"tau": 1.5}, r"mixing 'remix': tau must be float in \[0, 1\]"),
    ("remix", {"tau": -0.1}, r"mixing 'remix': tau must be float in \[0, 1\]"),
    ("mixup", {"kappa": 3.0}, r"mixing 'mixup': unknown parameter\(s\) kappa; allowed: alpha"),
    ("none", {"alpha": 1.0}, r"mixing 'none': unknown parameter\(s\) alpha; allowed: none"),
])
def test_parameter_ranges_are_refused_with_the_parts_wording(name, values, fragment):
    with pytest.raises(ConfigError, match=fragment):
        make_mixing(name, **values)


# --- no mixing -----------------------------------------------------------------------------


def test_no_mixing_returns_the_batch_and_draws_nothing():
    x, y = _batch()
    g = torch.Generator().manual_seed(5)
    before = g.get_state().clone()
    m = NoMixing()
    m.prepare((10, 0, 3))  # counts of any shape: it reads none
    out = m(x, y, g)
    assert out.x is x and torch.equal(out.y_a, y) and torch.equal(out.y_b, y) and out.lam == 1.0
    assert torch.equal(g.get_state(), before)


# --- mixup ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_mixup_blends_the_batch_with_a_permutation_of_itself(alpha):
    x, y = _batch(40)
    out = Mixup(alpha=alpha)(x, y, torch.Generator().manual_seed(11))
    lam, perm = _draws(alpha, 11, len(x))
    assert 0.0 <= out.lam <= 1.0 and out.lam == lam
    assert not torch.equal(perm, torch.arange(len(x)))  # a real shuffle, so the check below checks something
    assert torch.equal(out.x, lam * x + (1.0 - lam) * x[perm])
    assert torch.equal(out.y_a, y) and torch.equal(out.y_b, y[perm])
    assert not torch.equal(out.x, x)


def test_mixup_is_deterministic_per_seed_and_differs_across_seeds():
    x, y = _batch(24)
    a, b = (Mixup(alpha=0.5)(x, y, torch.Generator().manual_seed(3)) for _ in range(2))
    c = Mixup(alpha=0.5)(x, y, torch.Generator().manual_seed(4))
    assert a.lam == b.lam and torch.equal(a.x, b.x) and torch.equal(a.y_b, b.y_b)
    assert a.lam != c.lam and not torch.equal(a.x, c.x)
    g = torch.Generator().manual_seed(3)
    first, second = Mixup()(x, y, g), Mixup()(x, y, g)  # successive batches draw anew
    assert first.lam != second.lam


@pytest.mark.parametrize("alpha", [0.2, 1.0, 2.0, 8.0])
def test_beta_draw_follows_beta_alpha_alpha(alpha):
    from scipy import stats

    g = torch.Generator().manual_seed(123)
    lam = np.array([beta_draw(alpha, g) for _ in range(4000)])
    assert lam.min() >= 0.0 and lam.max() <= 1.0
    assert abs(lam.mean() - 0.5) < 0.02
    var = 1.0 / (4.0 * (2.0 * alpha + 1.0))  # Beta(a, a): a^2 / ((2a)^2 (2a + 1))
    assert abs(lam.var() / var - 1.0) < 0.08, (lam.var(), var)
    assert stats.kstest(lam, "beta", args=(alpha, alpha)).pvalue > 1e-3


def test_beta_draw_is_one_float64_uniform_through_the_inverse_cdf():
    from scipy.special import betaincinv

    g, h = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    u = float(torch.rand((), generator=h, dtype=torch.float64))
    assert beta_draw(0.7, g) == float(betaincinv(0.7, 0.7, u))
    assert torch.equal(g.get_state(), h.get_state())  # exactly one draw


def test_mixed_loss_with_lam_1_is_the_loss_of_y_a_alone():
    calls = []

    def spy(out, y, ctx):
        calls.append(y)
        return make_loss("ce")(out, y, ctx) if len(calls) == 1 else torch.tensor(float("nan"))

    z = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    y_a, y_b = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]), torch.tensor([2, 2, 2, 2, 0, 0, 0, 0])
    got = Mixed(torch.zeros(8, 28, 28), y_a, y_b, 1.0).loss(spy, z, _ctx((5, 3, 2)))
    assert len(calls) == 1 and torch.equal(calls[0], y_a)  # y_b's loss (NaN here) is never computed
    want = make_loss("ce")(z, y_a, _ctx((5, 3, 2)))
    assert torch.equal(got, want)  # bitwise


@pytest.mark.parametrize("lam", [0.0, 0.27, 0.5, 0.9])
def test_mixed_cross_entropy_is_cross_entropy_on_the_blended_labels(lam):
    """Zhang et al.'s mixup criterion: lam CE(y_a) + (1 - lam) CE(y_b) is the cross-entropy of
    the soft label lam e_{y_a} + (1 - lam) e_{y_b} (K logits) and of lam y_a + (1 - lam) y_b (log-odds)."""
    g = torch.Generator().manual_seed(1)
    z = torch.randn(16, 3, generator=g, dtype=torch.float64) * 2
    y_a, y_b = torch.randint(3, (16,), generator=g), torch.randint(3, (16,), generator=g)
    m = Mixed(torch.zeros(16, 28, 28), y_a, y_b, lam)
    soft = lam * F.one_hot(y_a, 3).double() + (1 - lam) * F.one_hot(y_b, 3).double()
    assert torch.allclose(m.loss(make_loss("ce"), z, _ctx((50, 20, 5))), F.cross_entropy(z, soft), atol=1e-12)
    s, b_a, b_b = z[:, 0], y_a % 2, y_b % 2
    m2 = Mixed(torch.zeros(16, 28, 28), b_a, b_b, lam)
    target = lam * b_a.double() + (1 - lam) * b_b.double()
    assert torch.allclose(m2.loss(make_loss("ce"), s, _ctx((50, 5))), F.binary_cross_entropy_with_logits(s, target),
                          atol=1e-12)


# --- remix ---------------------------------------------------------------------------------

PAIRS3 = [(a, b) for a in range(3) for b in range(3)]
#: Chou et al.'s rule worked by hand for counts (1000, 100, 10), kappa 3, tau 0.5: every
#: off-diagonal pair has a count ratio of 10 or 100 (>= kappa) or 1/10, 1/100 (<= 1/kappa).
HAND = {
    # lam 0.3 < tau: the frequent first image gets no label (0); the rare first keeps lam (1 - lam = 0.7 >= tau)
    0.3: {(0, 0): 0.3, (0, 1): 0.0, (0, 2): 0.0,
          (1, 0): 0.3, (1, 1): 0.3, (1, 2): 0.0,
          (2, 0): 0.3, (2, 1): 0.3, (2, 2): 0.3},
    # lam 0.8: the rare first image takes the whole label (1 - lam = 0.2 < tau); the frequent first keeps lam
    0.8: {(0, 0): 0.8, (0, 1): 0.8, (0, 2): 0.8,
          (1, 0): 1.0, (1, 1): 0.8, (1, 2): 0.8,
          (2, 0): 1.0, (2, 1): 1.0, (2, 2): 0.8},
}


def _remix(counts, **values):
    r = Remix(**values)
    r.prepare(counts)
    return r


@pytest.mark.parametrize("lam", [0.3, 0.8])
def test_remix_label_weights_follow_chou_et_al(lam):
    r = _remix((1000, 100, 10))
    y_a, y_b = torch.tensor([a for a, _ in PAIRS3]), torch.tensor([b for _, b in PAIRS3])
    w = r.label_weights(y_a, y_b, lam)
    assert w.dtype == torch.float64
    assert w.tolist() == [HAND[lam][p] for p in PAIRS3]


def test_remix_weights_below_kappa_at_kappa_and_with_tau_0():
    y_a, y_b = torch.tensor([0, 1]), torch.tensor([1, 0])
    # counts 1000 / 500: ratio 2 < kappa 3, so mixup's lam either way
    assert _remix((1000, 500)).label_weights(y_a, y_b, 0.3).tolist() == [0.3, 0.3]
    assert _remix((1000, 500)).label_weights(y_a, y_b, 0.8).tolist() == [0.8, 0.8]
    # ratio exactly kappa (and 1/kappa) counts: ">=" and "<=" in the paper
    assert _remix((300, 100)).label_weights(y_a, y_b, 0.3).tolist() == [0.0, 0.3]
    assert _remix((300, 100)).label_weights(y_a, y_b, 0.8).tolist() == [0.8, 1.0]
    # a larger kappa: ratio 10 no longer rebalances
    assert _remix((1000, 100), kappa=20).label_weights(y_a, y_b, 0.3).tolist() == [0.3, 0.3]
    # tau 0: neither lam < 0 nor 1 - lam < 0, so Remix is mixup
    assert _remix((1000, 10), tau=0.0).label_weights(y_a, y_b, 0.1).tolist() == [0.1, 0.1]


def _by_hand(per_row_loss, w, y_a, y_b):
    return (w * per_row_loss(y_a) + (1 - w) * per_row_loss(y_b)).mean()


@pytest.mark.parametrize("lam", [0.3, 0.8])
@pytest.mark.parametrize("loss_name", ["ce", "la"])
def test_remix_loss_is_the_per_row_weighted_loss_k_logits(lam, loss_name):
    counts = (1000, 100, 10)
    r = _remix(counts)
    y_a, y_b = torch.tensor([a for a, _ in PAIRS3] * 2), torch.tensor([b for _, b in PAIRS3] * 2)
    z = torch.randn(len(y_a), 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 2
    w = torch.tensor([HAND[lam][p] for p in PAIRS3] * 2, dtype=torch.float64)
    la, lb = r._labels(y_a, y_b, lam)
    got = Mixed(torch.zeros(len(y_a), 28, 28), la, lb, lam).loss(make_loss(loss_name), z, _ctx(counts))
    if loss_name == "ce":
        row = lambda y: F.cross_entropy(z, y, reduction="none")  # noqa: E731
    else:  # Menon et al.'s logit-adjusted loss, tau 1: CE of z + log prior
        prior = torch.tensor(counts, dtype=torch.float64) / sum(counts)
        row = lambda y: F.cross_entropy(z + prior.log(), y, reduction="none")  # noqa: E731
    assert torch.allclose(got, _by_hand(row, w, y_a, y_b), atol=1e-12)


@pytest.mark.parametrize("lam", [0.3, 0.8])
def test_remix_loss_is_the_per_row_weighted_loss_log_odds(lam):
    counts = (1000, 10)
    r = _remix(counts)
    y_a, y_b = torch.tensor([0, 1, 0, 1, 0, 1]), torch.tensor([1, 0, 0, 1, 1, 0])
    hand = {0.3: [0.0, 0.3, 0.3, 0.3, 0.0, 0.3], 0.8: [0.8, 1.0, 0.8, 0.8, 0.8, 1.0]}[lam]
    w = torch.tensor(hand, dtype=torch.float64)
    assert r.label_weights(y_a, y_b, lam).tolist() == hand
    s = torch.randn(6, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 3
    la, lb = r._labels(y_a, y_b, lam)
    got = Mixed(torch.zeros(6, 28, 28), la, lb, lam).loss(make_loss("ce"), s, _ctx(counts))
    row = lambda y: F.binary_cross_entropy_with_logits(s, y.double(), reduction="none")  # noqa: E731
    assert torch.allclose(got, _by_hand(row, w, y_a, y_b), atol=1e-12)


def test_remix_mixes_images_as_mixup_and_labels_by_its_rule():
    counts = (1000, 100, 10)
    x, y = _batch(64, 3, seed=4)
    out = _remix(counts, alpha=0.5)(x, y, torch.Generator().manual_seed(21))
    lam, perm = _draws(0.5, 21, len(x))
    assert out.lam == lam and torch.equal(out.x, lam * x + (1 - lam) * x[perm])
    w = _remix(counts).label_weights(y, y[perm], lam)
    assert set(w.tolist()) - {lam} <= {0.0, 1.0} and set(w.tolist()) & {0.0, 1.0}  # some rows rebalanced
    assert torch.equal(out.y_a, torch.where(w == 0, y[perm], y)) and torch.equal(out.y_b, torch.where(w == 1, y, y[perm]))
    z = torch.randn(64, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    row = lambda t: F.cross_entropy(z, t, reduction="none")  # noqa: E731
    assert torch.allclose(out.loss(make_loss("ce"), z, _ctx(counts)), _by_hand(row, w, y, y[perm]), atol=1e-12)


def test_remix_refuses_an_empty_class_and_mixing_before_prepare():
    with pytest.raises(ConfigError, match=r"mixing 'remix' needs at least one training image of each class, "
                                          r"got none of class 1 \(counts 5, 0, 3\)"):
        Remix().prepare((5, 0, 3))
    with pytest.raises(ConfigError, match="mixing 'remix' needs at least one training image of each class, "
                                          "got 5 majority and 0 minority"):
        Remix().prepare((5, 0))
    x, y = _batch(8)
    with pytest.raises(ConfigError, match=r"mixing 'remix': call prepare\(counts\) before mixing"):
        Remix()(x, y, torch.Generator().manual_seed(0))


# --- in the training loop ------------------------------------------------------------------


def _synthetic(counts=(200, 40), seed=0):
    """Class k: a bright vertical band at its own place, plus noise (any number of classes)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, size=(sum(counts), 28, 28)).astype(np.uint8)
    y = np.concatenate([np.full(n, k, np.int64) for k, n in enumerate(counts)])
    width = 28 // len(counts)
    for k in range(len(counts)):
        x[y == k, :, k * width:(k + 1) * width] += 150
    return x, y


def _train(counts, mixing, loss="ce", steps=20, batches=None, **kw):
    x, y = _synthetic(counts)
    k = len(counts)
    return train_classifier("mlp", k, x, y, {"test": x[::7]}, batches=batches or make_batches("random"),
                            loss=kw.pop("loss_obj", None) or make_loss(loss), mixing=mixing, n_classes=k,
                            steps=steps, batch_size=16, lr=1e-3, seed=0, n_checkpoints=2, **kw)


@pytest.mark.parametrize("counts", [(200, 40), (150, 60, 30)], ids=["K2", "K3"])
def test_no_mixing_trains_as_none_and_mixup_trains_differently(counts):
    plain = _train(counts, None).logits["test"]
    none = _train(counts, NoMixing()).logits["test"]
    mixup = _train(counts, Mixup()).logits["test"]
    assert plain.shape == ((2, len(_synthetic(counts)[0][::7])) if len(counts) == 2
                           else (2, len(_synthetic(counts)[0][::7]), 3))
    assert np.array_equal(plain, none)
    assert np.isfinite(mixup).all() and not np.array_equal(plain, mixup)
    assert np.array_equal(mixup, _train(counts, Mixup()).logits["test"])  # deterministic per seed


def test_mixing_draws_from_its_own_generator_so_batches_are_unchanged():
    def spied():
        b, seen = make_batches("random"), []
        real = b.indices
        b.indices = lambda size, gen: seen.append(real(size, gen)) or seen[-1]
        return b, seen

    b0, idx0 = spied()
    b1, idx1 = spied()
    _train((200, 40), None, batches=b0, steps=6)
    _train((200, 40), Mixup(), batches=b1, steps=6)
    assert len(idx0) == 6 and all(torch.equal(a, b) for a, b in zip(idx0, idx1))


def test_the_loss_sees_both_label_vectors_of_a_mixed_batch():
    calls = []

    def spy(out, y, ctx):
        calls.append(y.clone())
        return make_loss("ce")(out, y, ctx)

    _train((200, 40, 20), None, loss_obj=spy, steps=4)
    assert len(calls) == 4  # no mixing: one loss per step
    calls.clear()
    _train((200, 40, 20), Mixup(), loss_obj=spy, steps=4)
    assert len(calls) == 8  # y_a and y_b each step
    pairs = list(zip(calls[::2], calls[1::2]))
    assert all(torch.equal(a.sort().values, b.sort().values) for a, b in pairs)  # y_b is y_a permuted
    assert any(not torch.equal(a, b) for a, b in pairs)


def test_remix_is_prepared_with_the_training_counts_generated_images_included():
    seen = []
    r = Remix()
    real = r.prepare
    r.prepare = lambda counts: seen.append(tuple(counts)) or real(counts)
    _train((150, 60, 30), r, steps=3, counts_real=(150, 6, 3))  # most minority rows generated
    assert seen == [(150, 60, 30)]


def test_mixing_blends_the_augmented_batch():
    seen = []

    class Spy(NoMixing):
        def __call__(self, x, y, generator):
            seen.append(x.clone())
            return super().__call__(x, y, generator)

    _train((200, 40), Spy(), steps=3, augmentation=lambda xb, yb, gen: torch.full_like(xb, 0.25))
    assert len(seen) == 3 and all(bool((x == 0.25).all()) for x in seen)


@pytest.mark.parametrize("mix", ["mixup", "remix"])
@pytest.mark.parametrize("counts", [(200, 40), (150, 60, 30)], ids=["K2", "K3"])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_every_loss_composes_with_mixing(loss, counts, mix):
    run = _train(counts, make_mixing(mix), loss=loss, steps=5)
    assert np.isfinite(run.logits["test"]).all()


# --- the command line refuses a bad mixing value before anything trains --------------------
RECIPE = "batches=balanced,mix=mixup"


@pytest.mark.parametrize("argv, fragment", [
    (["--recipe", RECIPE, "--param", f"{RECIPE}.mix.alpha=0"], "mixing 'mixup': alpha must be above 0"),
    (["--recipe", RECIPE, "--param", f"{RECIPE}.alpha=0"], "mixing 'mixup': alpha must be above 0"),
    (["--recipe", RECIPE, "--param", f"{RECIPE}.mix.alpha=-1"], "alpha must be float in [0, 100]"),
    (["--recipe", "mix=remix", "--param", "mix=remix.kappa=0.5"], "kappa must be float in [1, 1000]"),
    (["--recipe", "mix=cutmix"], "Unknown mixing 'cutmix'; choose from none, mixup, remix"),
    (["--approaches", "augment-remix", "--param", "augment-remix.tau=2"], "tau must be float in [0, 1]"),
])
def test_a_bad_mixing_is_one_line_exit_2_nothing_trained_or_cached(argv, fragment, tmp_path, mnist_dir, capsys,
                                                                    monkeypatch, count_training):
    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path / "env-cache"))
    rc = cli.main(["run", *argv, "--steps", "5", "--seeds", "0", "--quiet", "--in-process",
                   "--data-dir", str(mnist_dir), "--cache-dir", str(tmp_path / "c")])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err
    assert "Traceback" not in err and count_training["clf"] == 0
    assert list(tmp_path.iterdir()) == []  # nothing cached, in either cache folder


def test_the_console_refuses_mixup_alpha_0_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vaeimb", "run", "--recipe", RECIPE, "--param",
                           f"{RECIPE}.mix.alpha=0", "--steps", "5", "--seeds", "0"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "VAEIMB_CACHE_DIR": str(tmp_path / "c")})
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert proc.stderr == ("error: mixing 'mixup': alpha must be above 0 (lam ~ Beta(alpha, alpha)), got 0; "
                           "for no mixing choose mix=none.\n")
    assert list(tmp_path.iterdir()) == []
