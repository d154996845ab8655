"""The recipe parts on K classes (label 0 = the head, 1..K-1 = the minority classes), and
the digit pair as their K = 2 case: its numbers must not move, bit for bit.

The K = 2 checks compare against frozen copies of the binary code as it was before the
parts learnt K classes (``old_*`` below), with ``torch.equal``: same floating-point
operations, same bits.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vaeimb.declarations.errors import ConfigError
from vaeimb.parts.augmentations import AUGMENTATIONS, make_augmentation
from vaeimb.parts.batches import BATCHES, make_batches
from vaeimb.parts.decisions import DECISIONS, DecisionContext, make_decision, predict
from vaeimb.parts.decisions.tuned import balanced_error_cuts
from vaeimb.parts.losses import LOSSES, LossContext, make_loss

COUNTS = (5000, 1200, 300, 80, 20, 5)  # a long tail, non-increasing in label order


def lctx(counts, counts_real=None, step=1, steps=100) -> LossContext:
    return LossContext(counts=tuple(counts), counts_real=tuple(counts if counts_real is None else counts_real),
                       step=step, steps=steps)


def logits(n=96, k=len(COUNTS), seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=g, dtype=dtype) * 3
    y = torch.randint(k, (n,), generator=g)
    return z, y


# --- frozen copies of the binary parts before K classes ------------------------------------


def old_effective_number(n, beta):
    if beta is None:
        return float(n)
    if beta == 0.0:
        return 1.0
    return (1.0 - beta**n) / (1.0 - beta)


def old_loss(name, v, s, y, n_maj, n_min, step, steps):
    """The old ``Loss.__call__`` + ``_loss`` of each loss (``y`` int64 labels)."""
    y = y.to(s.dtype)
    if name == "ce":
        return F.binary_cross_entropy_with_logits(s, y)
    if name == "la":
        offset = v["tau"] * math.log(n_min / n_maj)
        return F.binary_cross_entropy_with_logits(s + offset, y)
    if name == "weighted":
        w = (old_effective_number(n_maj, v["beta"]) / old_effective_number(n_min, v["beta"])) ** v["power"]
        return F.binary_cross_entropy_with_logits(s, y, pos_weight=torch.tensor(w, dtype=s.dtype))
    if name == "focal":
        from torchvision.ops import sigmoid_focal_loss

        return sigmoid_focal_loss(s, y, alpha=v["alpha"], gamma=v["gamma"], reduction="mean")
    assert name == "ldam-drw"
    raw = [n**-0.25 for n in (n_maj, n_min)]
    m0, m1 = (v["max_margin"] * r / max(raw) for r in raw)
    if step < min(steps + 1, math.floor(v["drw_start"] * steps + 1e-9) + 1):
        w0, w1 = 1.0, 1.0
    else:
        inv = [1.0 / old_effective_number(n, v["beta"]) for n in (n_maj, n_min)]
        w0, w1 = (2 * w / sum(inv) for w in inv)
    z = v["scale"] * (s - y * m1 + (1 - y) * m0)
    w = w0 + (w1 - w0) * y
    return (w * F.binary_cross_entropy_with_logits(z, y, reduction="none")).sum() / w.sum()


def old_threshold(name, v, n_maj, n_real, n_min, balanced, val_s=None, val_y=None):
    if name == "argmax":
        return 0.0
    if name == "posthoc":
        if v["prior"] == "seen":
            if balanced:
                return float(v["tau"] * math.log(1.0))
            n = n_min
        else:
            n = n_real
        return float(v["tau"] * math.log(n / n_maj))
    cuts, err = balanced_error_cuts(val_s, val_y)
    best = np.flatnonzero(err == err.min())
    return float(cuts[best[np.argmin(np.abs(cuts[best]))]])


def same_bits(a: float, b: float) -> bool:
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


# --- K = 2: the digit pair's numbers do not move -------------------------------------------

LOSS_VALUES = [
    ("ce", {}), ("la", {}), ("la", {"tau": 0.0}), ("la", {"tau": 2.3}),
    ("weighted", {}), ("weighted", {"power": 0.5}), ("weighted", {"beta": 0.999}), ("weighted", {"beta": 0.0}),
    ("focal", {}), ("focal", {"alpha": -1.0}), ("focal", {"gamma": 0.0, "alpha": 0.7}),
    ("ldam-drw", {}), ("ldam-drw", {"scale": 30.0, "max_margin": 1.3}), ("ldam-drw", {"drw_start": 0.0, "beta": 0.99}),
]


@pytest.mark.parametrize("name, values", LOSS_VALUES, ids=lambda x: str(x))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_binary_loss_and_its_gradient_are_unchanged_bit_for_bit(name, values, dtype):
    loss = make_loss(name, **values)
    v = loss.values
    for seed, (n_maj, n_min, n_real), step in itertools.product(
            range(3), [(5000, 100, 100), (5000, 3000, 40), (300, 300, 300), (50, 800, 10)], (1, 80, 81)):
        g = torch.Generator().manual_seed(seed)
        s0 = torch.randn(64, generator=g, dtype=dtype) * 4
        y = torch.randint(2, (64,), generator=g)
        s_new, s_old = s0.clone().requires_grad_(), s0.clone().requires_grad_()
        got = loss(s_new, y, lctx((n_maj, n_min), (n_maj, n_real), step=step))
        want = old_loss(name, v, s_old, y, n_maj, n_min, step, 100)
        got.backward()
        want.backward()
        assert got.dtype == want.dtype and torch.equal(got, want), (seed, n_maj, n_min, step)
        assert torch.equal(s_new.grad, s_old.grad)


@pytest.mark.parametrize("name, values", [
    ("argmax", {}), ("posthoc", {}), ("posthoc", {"tau": 0.0}), ("posthoc", {"tau": 0.37}),
    ("posthoc", {"prior": "seen"}), ("posthoc", {"prior": "seen", "tau": 2.0}),
], ids=str)
def test_binary_thresholds_are_unchanged_bit_for_bit(name, values):
    rule = make_decision(name, **values)
    for (n_maj, n_real, n_min), balanced in itertools.product(
            [(5000, 100, 100), (5000, 100, 5000), (5000, 7, 2500), (300, 300, 300), (10, 30, 31)], (False, True)):
        ctx = DecisionContext(counts_real=(n_maj, n_real), counts=(n_maj, n_min), balanced_batches=balanced)
        got = rule.threshold(ctx)
        assert type(got) is float and same_bits(got, old_threshold(name, rule.values, n_maj, n_real, n_min, balanced))
        o = rule.offsets(ctx)
        assert o.dtype == np.float64 and o.shape == (2,) and o[0] == 0.0


def test_tuned_threshold_is_unchanged_bit_for_bit():
    rng = np.random.default_rng(4)
    for i in range(20):
        n = int(rng.integers(2, 300))
        y = (rng.random(n) < 0.2).astype(int)
        y[:2] = [0, 1]
        s = rng.normal(size=n) + 2 * y
        if i % 2:
            s = np.round(s * 2) / 2
        ctx = DecisionContext(counts_real=(500, 50), counts=(500, 50), balanced_batches=False, val_logits=s, val_y=y)
        got = make_decision("tuned").threshold(ctx)
        assert same_bits(got, old_threshold("tuned", {}, 500, 50, 50, False, s, y))
        assert np.array_equal(make_decision("tuned").offsets(ctx), [0.0, got])


def test_balanced_batches_draw_as_before_for_two_classes():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.1).astype(np.int64)
    policy = make_batches("balanced")
    policy.prepare(y)
    for seed, batch_size in itertools.product(range(3), (1, 2, 3, 31, 64)):
        got = policy.indices(batch_size, torch.Generator().manual_seed(seed))
        g = torch.Generator().manual_seed(seed)
        half = max(1, batch_size // 2)
        pools = [torch.from_numpy(np.flatnonzero(y == c)) for c in (0, 1)]  # the old draw
        assert torch.equal(got, torch.cat([p[torch.randint(len(p), (half,), generator=g)] for p in pools]))


def test_affine_on_two_classes_is_unchanged():
    aug = make_augmentation("affine", degrees=15.0, classes="minority")
    x = torch.rand(40, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.randint(2, (40,), generator=torch.Generator().manual_seed(1))
    rows = torch.nonzero(y == 1).flatten()  # the old rows
    want = x.clone()
    want[rows] = aug.jitter(x[rows], torch.Generator().manual_seed(2))
    assert torch.equal(aug(x, y, torch.Generator().manual_seed(2)), want)


# --- contexts ------------------------------------------------------------------------------


def test_contexts_name_their_classes_and_keep_the_binary_names():
    c = lctx((5000, 100), (5000, 40))
    assert (c.n_classes, c.n_majority, c.n_minority, c.n_minority_real) == (2, 5000, 100, 40)
    k = lctx(COUNTS)
    assert k.n_classes == len(COUNTS) and k.n_majority == 5000
    with pytest.raises(ValueError, match="two classes"):
        k.n_minority
    d = DecisionContext(counts_real=(900, 30), counts=(900, 600), balanced_batches=False)
    assert (d.n_classes, d.n_majority, d.n_minority_real, d.n_minority) == (2, 900, 30, 600)
    with pytest.raises(ValueError, match="two classes"):
        DecisionContext(counts_real=COUNTS, counts=COUNTS, balanced_batches=False).n_minority_real
    with pytest.raises(ValueError, match="same two or more classes"):
        LossContext(counts=(5, 3, 1), counts_real=(5, 3), step=1, steps=1)
    with pytest.raises(ValueError, match="same two or more classes"):
        DecisionContext(counts_real=(5,), counts=(5,), balanced_batches=True)


def test_a_loss_refuses_outputs_that_do_not_fit_the_classes():
    z, y = logits()
    with pytest.raises(ValueError, match=r"log-odds \(B,\) serve two classes"):
        make_loss("ce")(z[:, 0], y, lctx(COUNTS))
    with pytest.raises(ValueError, match=r"expected \(B, 6\)"):
        make_loss("ce")(z[:, :4], y, lctx(COUNTS))


# --- losses on K classes -------------------------------------------------------------------


def test_ce_is_torch_cross_entropy():
    z, y = logits()
    assert torch.equal(make_loss("ce")(z, y, lctx(COUNTS)), F.cross_entropy(z, y))


def test_la_is_ce_on_logits_shifted_by_the_log_prior():
    z, y = logits()
    c = lctx(COUNTS)
    assert torch.equal(make_loss("la", tau=0.0)(z, y, c), make_loss("ce")(z, y, c))
    pi = torch.tensor(COUNTS, dtype=torch.float64) / sum(COUNTS)
    for tau in (1.0, 0.5):
        assert torch.allclose(make_loss("la", tau=tau)(z, y, c), F.cross_entropy(z + tau * torch.log(pi), y),
                              atol=1e-12)
    # Menon et al.: with labels drawn at the training prior, the logit-adjusted loss is
    # stationary at equal logits (its minimiser is the balanced, prior-free score), while
    # plain cross-entropy pulls the head's logit up.
    y_prior = torch.repeat_interleave(torch.arange(len(COUNTS)), torch.tensor(COUNTS))
    z0 = torch.zeros(len(y_prior), len(COUNTS), dtype=torch.float64, requires_grad=True)
    make_loss("la")(z0, y_prior, c).backward()
    assert z0.grad.sum(0).abs().max() < 1e-12
    z0.grad = None
    make_loss("ce")(z0, y_prior, c).backward()
    assert z0.grad.sum(0)[0] < -0.5


def test_weighted_weighs_class_k_by_the_count_ratio():
    z, y = logits()
    c = lctx(COUNTS)
    assert torch.allclose(make_loss("weighted", power=0.0)(z, y, c), F.cross_entropy(z, y), atol=1e-12)
    per_row = F.cross_entropy(z, y, reduction="none")
    for power in (1.0, 0.5):
        w = (max(COUNTS) / torch.tensor(COUNTS, dtype=torch.float64)) ** power
        got = make_loss("weighted", power=power)(z, y, c)
        assert torch.allclose(got, (w[y] * per_row).sum() / w[y].sum(), atol=1e-12)
    cb = make_loss("weighted", beta=0.999).class_weights(c)
    assert cb[0] == 1.0 and all(a < b for a, b in zip(cb, cb[1:]))
    # Two classes: the same weights as the binary form's pos_weight, the majority's 1.
    two = lctx((5000, 100))
    for values in ({}, {"power": 0.5}, {"beta": 0.999}):
        loss = make_loss("weighted", **values)
        assert loss.class_weights(two) == [1.0, loss.minority_weight(two)]


def test_focal_is_lin_et_al_multiclass_form():
    z, y = logits()
    c = lctx(COUNTS)
    assert torch.allclose(make_loss("focal", gamma=0.0, alpha=-1.0)(z, y, c), F.cross_entropy(z, y), atol=1e-12)
    p_t = torch.softmax(z, 1)[torch.arange(len(y)), y]
    for gamma, alpha in ((2.0, 0.25), (1.5, -1.0), (0.0, 0.9)):
        alpha_t = torch.ones_like(p_t) if alpha < 0 else torch.where(y == 0, 1 - alpha, alpha).double()
        want = (-alpha_t * (1 - p_t) ** gamma * torch.log(p_t)).mean()
        assert torch.allclose(make_loss("focal", gamma=gamma, alpha=alpha)(z, y, c), want, atol=1e-10)
    easy = torch.tensor([[9.0, 0.0, 0.0], [0.0, 0.0, 9.0]], dtype=torch.float64)
    easy_y, c3 = torch.tensor([0, 2]), lctx((50, 20, 5))
    assert make_loss("focal", alpha=-1.0)(easy, easy_y, c3) < 1e-3 * make_loss("ce")(easy, easy_y, c3)


def cao_ldam_reference(z, y, counts, max_m, s, weight):
    """Cao et al.'s LDAMLoss.forward (github.com/kaidic/LDAM-DRW, losses.py) on K logits."""
    m_list = 1.0 / np.sqrt(np.sqrt(np.asarray(counts, dtype=np.float64)))
    m_list = torch.tensor(m_list * (max_m / np.max(m_list)), dtype=z.dtype)
    index = F.one_hot(y, z.shape[1]).bool()
    x_m = z - m_list[y][:, None]
    return F.cross_entropy(s * torch.where(index, x_m, z), y, weight=weight)


def test_ldam_margins_grow_for_rarer_classes_and_drw_switches_on_time():
    loss = make_loss("ldam-drw", max_margin=0.8)
    m = loss.margins(lctx(COUNTS))
    assert len(m) == len(COUNTS) and all(a < b for a, b in zip(m, m[1:])) and m[-1] == pytest.approx(0.8)
    assert m[2] / m[-1] == pytest.approx((COUNTS[-1] / COUNTS[2]) ** 0.25)
    assert loss.first_reweighted_step(100) == 81
    assert loss.class_weights(lctx(COUNTS, step=80)) == (1.0,) * len(COUNTS)
    w = loss.class_weights(lctx(COUNTS, step=81))
    assert sum(w) == pytest.approx(len(COUNTS)) and all(a < b for a, b in zip(w, w[1:]))
    eff = [(1 - 0.9999**n) / (1 - 0.9999) for n in COUNTS]
    assert w[3] / w[1] == pytest.approx(eff[1] / eff[3])

    z, y = logits()
    for step, weight in ((80, None), (81, torch.tensor(w, dtype=torch.float64))):
        got = make_loss("ldam-drw", max_margin=0.8, scale=2.0)(z, y, lctx(COUNTS, step=step))
        assert torch.allclose(got, cao_ldam_reference(z, y, COUNTS, 0.8, 2.0, weight), atol=1e-10)


@pytest.mark.parametrize("name, values", LOSS_VALUES, ids=lambda x: str(x))
def test_the_k_class_form_on_two_logits_agrees_with_the_binary_form(name, values):
    loss = make_loss(name, **values)
    z, y = logits(k=2, seed=3)
    for step in (1, 90):
        c = lctx((5000, 100), step=step)
        k_form = loss(z, y, c)  # (B, 2): the K-class form
        binary = loss(z[:, 1] - z[:, 0], y, c)  # (B,): the binary closed form
        if name == "weighted":  # same weights; the K-class mean divides by the summed weight
            w = torch.tensor(loss.class_weights(c), dtype=z.dtype)[y]
            binary = binary * len(y) / w.sum()
        assert torch.allclose(k_form, binary, atol=1e-10, rtol=1e-10), step


@pytest.mark.parametrize("name", list(LOSSES))
def test_k_class_gradients_flow(name):
    z, y = logits(seed=1, dtype=torch.float32)
    z.requires_grad_()
    loss = make_loss(name)(z, y, lctx(COUNTS, step=90))
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_count_based_losses_name_the_empty_class():
    z, y = logits(k=4)
    for name in ("la", "weighted", "ldam-drw"):
        with pytest.raises(ConfigError, match=f"loss '{name}' needs at least one training image of each class, "
                                              r"got none of class 2 \(counts 50, 20, 0, 3\)"):
            make_loss(name)(z, y, lctx((50, 20, 0, 3), step=99))


# --- batches -------------------------------------------------------------------------------


def test_balanced_batches_hold_every_class_equally_in_label_order():
    y = np.repeat(np.arange(len(COUNTS)), np.array(COUNTS) // 5)
    np.random.default_rng(0).shuffle(y)
    policy = make_batches("balanced")
    policy.prepare(y)
    for batch_size in (64, 100, 5, 1):
        share = max(1, batch_size // len(COUNTS))
        got = policy.indices(batch_size, torch.Generator().manual_seed(batch_size))
        assert len(got) == share * len(COUNTS)
        assert np.array_equal(y[got.numpy()], np.repeat(np.arange(len(COUNTS)), share))
        g = torch.Generator().manual_seed(batch_size)
        pools = [torch.from_numpy(np.flatnonzero(y == c)) for c in range(len(COUNTS))]
        assert torch.equal(got, torch.cat([p[torch.randint(len(p), (share,), generator=g)] for p in pools]))


def test_balanced_batches_refuse_a_class_without_images():
    with pytest.raises(ConfigError, match="batches 'balanced' need at least one class-2 training image"):
        make_batches("balanced").prepare(np.array([0, 0, 1, 3, 3]))
    with pytest.raises(ConfigError, match="need at least one class-3 training image"):
        make_batches("balanced").prepare(np.array([0, 1, 2, 2]), n_classes=4)
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        make_batches("balanced").prepare(np.array([0, 1, 3]), n_classes=3)


# --- augmentations -------------------------------------------------------------------------


def test_affine_touches_only_the_minority_classes():
    x = torch.rand(30, 28, 28, generator=torch.Generator().manual_seed(0))
    x[:, 10:18, 10:18] = 1.0
    y = torch.arange(30) % 4
    a = make_augmentation("affine", degrees=20.0, classes="minority")(x, y, torch.Generator().manual_seed(1))
    assert torch.equal(a[y == 0], x[y == 0])
    assert all(not torch.equal(a[i], x[i]) for i in torch.nonzero(y != 0).flatten())
    g = torch.Generator().manual_seed(3)
    state = g.get_state()
    assert torch.equal(make_augmentation("affine", classes="minority")(x, torch.zeros(30, dtype=torch.int64), g), x)
    assert torch.equal(g.get_state(), state)


# --- decisions -----------------------------------------------------------------------------


def kctx(counts_real=COUNTS, counts=None, balanced=False) -> DecisionContext:
    return DecisionContext(counts_real=tuple(counts_real), counts=tuple(counts_real if counts is None else counts),
                           balanced_batches=balanced)


def test_posthoc_offsets_are_the_log_prior_relative_to_the_head():
    for tau in (1.0, 0.5):
        o = make_decision("posthoc", tau=tau).offsets(kctx())
        assert o.dtype == np.float64 and o[0] == 0.0
        assert np.allclose(o, [tau * math.log(n / COUNTS[0]) for n in COUNTS], rtol=0, atol=1e-15)
    seen = (5000, 1200, 1200, 1200, 1200, 1200)
    assert np.array_equal(make_decision("posthoc", prior="seen").offsets(kctx(COUNTS, seen, balanced=True)),
                          np.zeros(len(COUNTS)))
    assert np.allclose(make_decision("posthoc", prior="seen").offsets(kctx(COUNTS, seen)),
                       np.log(np.array(seen) / seen[0]))
    assert np.allclose(make_decision("posthoc").offsets(kctx(COUNTS, seen, balanced=True)),
                       np.log(np.array(COUNTS) / COUNTS[0]))
    assert np.array_equal(make_decision("argmax").offsets(kctx()), np.zeros(len(COUNTS)))
    with pytest.raises(ConfigError, match=r"decision 'posthoc' needs at least one training image of each class, "
                                          r"got none of class 1 \(counts 9, 0, 2\)"):
        make_decision("posthoc").offsets(kctx((9, 0, 2)))


def test_predict_shifts_towards_the_rare_classes():
    o = make_decision("posthoc").offsets(kctx())
    z = np.array([[2.0, 0.0, 0.0, 0.0, 0.0, 0.5],   # the head by 1.5 nats: the rarest class after adjustment
                  [9.0, 0.0, 0.0, 0.0, 0.0, 0.0],   # far ahead: stays the head
                  [0.0, 0.0, 0.0, 5.0, 0.0, 0.0]])  # class 3 by 5 nats: stays class 3
    assert np.array_equal(predict(z, np.zeros(len(COUNTS))), [0, 0, 3])
    assert np.array_equal(predict(z, o), [5, 0, 3])
    rng = np.random.default_rng(0)
    zz = rng.normal(size=(2000, len(COUNTS)))
    plain, adjusted = np.bincount(predict(zz, 0 * o), minlength=6), np.bincount(predict(zz, o), minlength=6)
    assert adjusted[0] < plain[0] and adjusted[-1] > plain[-1]
    # Two classes: log-odds against the threshold, the same as argmax over two logits.
    z2 = rng.normal(size=(500, 2))
    o2 = make_decision("posthoc").offsets(kctx((5000, 100)))
    s = z2[:, 1] - z2[:, 0]
    assert predict(s, o2).dtype == np.int64
    assert np.array_equal(predict(s, o2), (s > make_decision("posthoc").threshold(kctx((5000, 100)))).astype(int))
    assert np.array_equal(predict(s, o2), predict(z2, o2))
    with pytest.raises(ValueError, match="expected"):
        predict(zz, o2)


def test_predict_cuts_log_odds_in_their_own_dtype_as_before():
    """``val_logits > threshold`` (float32 log-odds, a Python float) compared in float32:
    ``predict`` gives the same labels, also where float64 would differ."""
    t = make_decision("posthoc").threshold(kctx((5000, 1)))  # log(1/5000) rounds up in float32
    assert float(np.float32(t)) > t
    s32 = np.array([np.float32(t), np.nextafter(np.float32(t), np.float32(1)), np.float32(0.0), np.float32(-9.0)],
                   dtype=np.float32)
    o = np.array([0.0, t])
    assert np.array_equal(predict(s32, o), (s32 > t).astype(np.int64))
    assert np.array_equal(predict(s32.astype(np.float64), o), (s32.astype(np.float64) > t).astype(np.int64))
    assert (s32 > t).astype(int)[0] != (s32.astype(np.float64) > t).astype(int)[0]  # the case that differs


def test_every_part_serves_k_classes():
    from vaeimb.parts.mixing import MIXINGS

    for table in (LOSSES, DECISIONS, BATCHES, AUGMENTATIONS, MIXINGS):
        for name, cls in table.items():
            assert cls.unsupported(10) is None and cls.unsupported(2) is None, name
    with pytest.raises(ValueError, match="a threshold cuts two classes"):
        make_decision("posthoc").threshold(kctx())


def _val_logits(rng, counts, shift):
    """Validation logits of a model that leans to the head: class k's true logit +2, and a
    prior-like bias ``shift * log(n_k / n_0)`` on every row (a model trained on the long tail)."""
    y = np.concatenate([np.full(n, k) for k, n in enumerate(counts)])
    z = rng.normal(0, 1, (len(y), len(counts)))
    z[np.arange(len(y)), y] += 2.0
    z += shift * np.log(np.asarray(COUNTS, float) / COUNTS[0])
    return z, y


def test_tuned_fits_the_post_hoc_scale_tau_on_validation_for_k_classes():
    from vaeimb.parts.decisions.tuned import fit_tau, tau_grid

    rng = np.random.default_rng(0)
    z, y = _val_logits(rng, [200] * len(COUNTS), shift=1.5)
    ctx = DecisionContext(counts_real=COUNTS, counts=COUNTS, balanced_batches=False, val_logits=z, val_y=y)
    dec = make_decision("tuned", per_class_min=1000)  # 200 images a class: the one tau
    o = dec.offsets(ctx)
    log_prior = np.log(np.asarray(COUNTS, float) / COUNTS[0])
    tau = o[1] / log_prior[1]
    assert np.allclose(o, tau * log_prior) and 1.2 <= tau <= 1.8  # undoes the model's lean of 1.5
    # it is the grid's best validation ACSA, and beats plain post-hoc (tau 1) there
    def acsa(t):
        pred = np.argmax(z - t * log_prior, axis=1)
        return np.mean([(pred[y == c] == c).mean() for c in range(len(COUNTS))])
    grid = tau_grid(0.0, 3.0, 31)
    assert acsa(tau) == max(acsa(t) for t in grid) and acsa(tau) > acsa(1.0)
    assert fit_tau(z, y, log_prior, grid) == tau
    # a flat score prefers tau = 1 (plain post-hoc adjustment)
    flat = np.zeros_like(z)
    assert fit_tau(flat, y, log_prior, grid) == 1.0
    # the range is the user's: a single value is that value
    assert make_decision("tuned", tau_low=0.5, tau_high=0.5, tau_steps=1, per_class_min=1000).offsets(ctx)[1] == \
        0.5 * log_prior[1]


def test_tuned_refuses_an_empty_range_and_a_validation_split_without_a_class():
    with pytest.raises(ConfigError, match="tau range is empty .*tau_low 2 > tau_high 1"):
        make_decision("tuned", tau_low=2.0, tau_high=1.0)
    with pytest.raises(ConfigError, match="tau_steps must be int in \\[1, 1001\\], got 0"):
        make_decision("tuned", tau_steps=0)
    rng = np.random.default_rng(1)
    z, y = _val_logits(rng, [20, 20, 20, 20, 20, 0], shift=1.0)
    ctx = DecisionContext(counts_real=COUNTS, counts=COUNTS, balanced_batches=False, val_logits=z, val_y=y)
    with pytest.raises(ConfigError, match="validation split holds no image of class 5"):
        make_decision("tuned").offsets(ctx)
    with pytest.raises(ConfigError, match="needs a validation split"):
        make_decision("tuned").offsets(kctx())


def test_offsets_are_checked_finite():
    class Broken(type(make_decision("argmax"))):
        def _offsets(self, ctx):
            return [0.0, float("inf"), 1.0]

    with pytest.raises(ValueError, match="non-finite offsets"):
        Broken().offsets(kctx((5, 3, 1)))


def test_tuned_fits_offsets_class_by_class_only_where_validation_holds_enough_images():
    from vaeimb.parts.decisions.tuned import acsa_of

    rng = np.random.default_rng(3)
    k = len(COUNTS)
    y = np.repeat(np.arange(k), 300)
    z = rng.normal(0, 1, (len(y), k))
    z[np.arange(len(y)), y] += 2.0
    bias = np.array([0.0, 1.5, -1.0, 0.5, 2.0, -0.5])  # a lean no single tau can undo
    z += bias
    ctx = DecisionContext(counts_real=COUNTS, counts=COUNTS, balanced_batches=False, val_logits=z, val_y=y)
    per_class = make_decision("tuned", per_class_min=300).offsets(ctx)
    one_tau = make_decision("tuned", per_class_min=301).offsets(ctx)  # one image short: tau alone
    log_prior = np.log(np.asarray(COUNTS, float) / COUNTS[0])
    assert np.allclose(one_tau, (one_tau[1] / log_prior[1]) * log_prior)
    assert per_class[0] == 0.0 and not np.allclose(per_class, one_tau)
    assert acsa_of(z, y, per_class) > acsa_of(z, y, one_tau)
    assert np.corrcoef(per_class[1:], bias[1:])[0, 1] > 0.9  # it follows the lean it undoes
