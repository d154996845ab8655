"""The small parts of a training recipe: losses, decisions, augmentations, batch policies."""

from __future__ import annotations

import inspect
import math
from dataclasses import fields

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vaeimb.declarations.errors import ConfigError
from vaeimb.parts.augmentations import (
    AUGMENTATIONS,
    get_augmentation,
    make_augmentation,
)
from vaeimb.parts.augmentations.affine_ops import AFFINE_PARAMS, random_affine
from vaeimb.parts.batches import BATCHES, get_batches, make_batches
from vaeimb.parts.decisions import (
    DECISIONS,
    DecisionContext,
    get_decision,
    make_decision,
)
from vaeimb.parts.decisions.tuned import TunedOnValidation, balanced_error_cuts
from vaeimb.parts.generators import make_generator
from vaeimb.parts.losses import LOSSES, LossContext, get_loss, make_loss
from vaeimb.parts.mixing import MIXINGS, get_mixing

ALL = {"loss": LOSSES, "decision": DECISIONS, "augmentation": AUGMENTATIONS, "batches": BATCHES, "mixing": MIXINGS}
PARTS = [cls for table in ALL.values() for cls in table.values()]


def ctx(n_maj=5000, n_min=100, n_min_real=None, step=1, steps=100) -> LossContext:
    real = n_min if n_min_real is None else n_min_real
    return LossContext(counts=(n_maj, n_min), counts_real=(n_maj, real), step=step, steps=steps)


def two_logits(n=64, seed=0):
    """Random 2-logit outputs ``z``, their minority log-odds ``s = z1 - z0`` and labels."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=g, dtype=torch.float64) * 3
    y = torch.randint(2, (n,), generator=g)
    return z, z[:, 1] - z[:, 0], y


# --- registries and parameter validation -------------------------------------------------


def test_registry_names():
    assert list(LOSSES) == ["ce", "la", "weighted", "focal", "ldam-drw"]
    assert list(DECISIONS) == ["argmax", "posthoc", "tuned"]
    assert list(AUGMENTATIONS) == ["none", "affine", "elastic", "flip"]
    assert list(BATCHES) == ["random", "balanced", "deferred"]
    assert list(MIXINGS) == ["none", "mixup", "remix"]
    for table in ALL.values():
        for name, cls in table.items():
            assert cls.name == name and cls.description


@pytest.mark.parametrize("get", [get_loss, get_decision, get_augmentation, get_batches, get_mixing])
def test_unknown_part_name_lists_the_choices(get):
    with pytest.raises(ConfigError, match="choose from"):
        get("nope")


@pytest.mark.parametrize("cls", PARTS, ids=lambda c: f"{c.kind}-{c.name}")
def test_every_part_validates_its_params(cls):
    owner = f"{cls.kind} '{cls.name}'"
    assert cls().values == {p.name: p.default for p in cls.params}
    with pytest.raises(ConfigError, match=f"{owner}: unknown parameter"):
        cls(no_such_param=1)
    for p in cls.params:
        if p.kind == "choice":
            bad = ["not-a-choice"]
        else:
            bad = [v for v in (p.low - 1 if p.low is not None else None,
                               p.high + 1 if p.high is not None else None) if v is not None]
        assert bad, f"{owner}: {p.name} has no range to check"
        for v in bad:
            with pytest.raises(ConfigError, match=f"{owner}: {p.name} must be"):
                cls(**{p.name: v})


@pytest.mark.parametrize("name, values, words", [
    ("weighted", {"beta": 1.0}, "beta must be below 1"),
    ("focal", {"alpha": -0.5}, "alpha must be in"),
    ("ldam-drw", {"beta": 1.0}, "beta must be below 1"),
])
def test_loss_cross_param_checks(name, values, words):
    with pytest.raises(ConfigError, match=f"loss '{name}': {words}"):
        make_loss(name, **values)


def test_affine_scale_order_checked():
    with pytest.raises(ConfigError, match="augmentation 'affine': scale_low .* must not exceed"):
        make_augmentation("affine", scale_low=1.2, scale_high=1.1)


def test_the_affine_augmentation_and_generator_share_one_declaration_and_transform():
    values = dict(degrees=25.0, translate=0.2, scale_low=0.8, scale_high=1.3)
    aug, gen = make_augmentation("affine", **values), make_generator("augment", **values)
    assert gen.params[:len(AFFINE_PARAMS)] == AFFINE_PARAMS and aug.params[:len(AFFINE_PARAMS)] == AFFINE_PARAMS
    assert [p.name for p in gen.params[len(AFFINE_PARAMS):]] == ["filter_q"]
    assert {k: aug.values[k] for k in values} == {k: gen.values[k] for k in values}
    x = torch.rand(5, 28, 28, generator=torch.Generator().manual_seed(1))
    want = random_affine(x, torch.Generator().manual_seed(2), degrees=25.0, translate=0.2, scale=(0.8, 1.3))
    assert torch.equal(aug.jitter(x, torch.Generator().manual_seed(2)), want)
    assert torch.equal(gen.jitter(x, torch.Generator().manual_seed(2)), want)


def test_make_passes_values_and_keys():
    loss = make_loss("la", tau=0.5)
    assert loss.values == {"tau": 0.5} and loss.key() == {"name": "la", "tau": 0.5}
    assert make_decision("posthoc", prior="seen").values["prior"] == "seen"
    assert make_batches("balanced").key() == {"name": "balanced"}


# --- losses --------------------------------------------------------------------------------


def test_ce_equals_two_logit_softmax_cross_entropy():
    z, s, y = two_logits()
    got = make_loss("ce")(s, y, ctx())
    assert torch.allclose(got, F.cross_entropy(z, y), atol=1e-12)


def test_la_tau0_is_ce_and_tau1_is_menon_on_two_logits():
    z, s, y = two_logits()
    c = ctx(5000, 100)
    assert torch.allclose(make_loss("la", tau=0.0)(s, y, c), make_loss("ce")(s, y, c), atol=1e-12)
    log_prior = torch.log(torch.tensor([5000 / 5100, 100 / 5100], dtype=torch.float64))
    assert torch.allclose(make_loss("la")(s, y, c), F.cross_entropy(z + log_prior, y), atol=1e-12)


def test_weighted_equal_counts_is_ce_and_weights_minority_rows():
    z, s, y = two_logits()
    assert torch.allclose(make_loss("weighted")(s, y, ctx(300, 300)), make_loss("ce")(s, y, ctx()), atol=1e-12)
    per_row = F.cross_entropy(z, y, reduction="none")
    for power in (1.0, 0.5):
        w = torch.where(y == 1, (5000 / 100) ** power, 1.0)
        got = make_loss("weighted", power=power)(s, y, ctx(5000, 100))
        assert torch.allclose(got, (w * per_row).mean(), atol=1e-12)
    # Cui et al.: effective numbers; beta = 0 counts every class as one image (plain CE).
    assert torch.allclose(make_loss("weighted", beta=0.0)(s, y, ctx(5000, 100)), per_row.mean(), atol=1e-12)
    cb = make_loss("weighted", beta=0.999).minority_weight(ctx(5000, 100))
    assert cb == pytest.approx((1 - 0.999**5000) / (1 - 0.999**100))
    assert 1 < cb < 50


def test_focal_gamma0_no_alpha_is_ce_and_discounts_easy_rows():
    z, s, y = two_logits()
    plain = make_loss("focal", gamma=0.0, alpha=-1.0)(s, y, ctx())
    assert torch.allclose(plain, make_loss("ce")(s, y, ctx()), atol=1e-12)
    easy_s, easy_y = torch.tensor([6.0, -6.0]), torch.tensor([1, 0])
    assert make_loss("focal", alpha=-1.0)(easy_s, easy_y, ctx()) < 1e-3 * make_loss("ce")(easy_s, easy_y, ctx())


def cao_ldam_reference(z, y, counts, max_m, s, weight):
    """Cao et al.'s LDAMLoss.forward (github.com/kaidic/LDAM-DRW, losses.py) on two logits."""
    m_list = 1.0 / np.sqrt(np.sqrt(np.asarray(counts, dtype=np.float64)))
    m_list = torch.tensor(m_list * (max_m / np.max(m_list)), dtype=z.dtype)
    index = F.one_hot(y, 2).bool()
    x_m = z - m_list[y][:, None]
    return F.cross_entropy(s * torch.where(index, x_m, z), y, weight=weight)


def test_ldam_drw_margins_and_deferred_reweighting():
    loss = make_loss("ldam-drw")
    m0, m1 = loss.margins(ctx(5000, 100))
    assert m1 == pytest.approx(0.5) and m0 / m1 == pytest.approx((100 / 5000) ** 0.25)
    assert loss.first_reweighted_step(100) == 81 and loss.first_reweighted_step(10) == 9
    assert make_loss("ldam-drw", drw_start=1.0).first_reweighted_step(100) == 101
    assert loss.class_weights(ctx(step=80)) == (1.0, 1.0)
    w0, w1 = loss.class_weights(ctx(step=81))
    eff = [(1 - 0.9999**n) / (1 - 0.9999) for n in (5000, 100)]
    assert w0 + w1 == pytest.approx(2) and w1 / w0 == pytest.approx(eff[0] / eff[1]) and w1 > w0

    z, s, y = two_logits()
    for step, weight in ((80, None), (81, torch.tensor([w0, w1], dtype=torch.float64))):
        got = make_loss("ldam-drw", scale=2.0)(s, y, ctx(5000, 100, step=step))
        assert torch.allclose(got, cao_ldam_reference(z, y, (5000, 100), 0.5, 2.0, weight), atol=1e-10)


@pytest.mark.parametrize("name", list(LOSSES))
def test_gradients_flow(name):
    _, s, y = two_logits(seed=1)
    s = s.float().requires_grad_()
    loss = make_loss(name)(s, y, ctx(5000, 100, step=90))
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0


def test_count_based_losses_refuse_an_empty_class():
    _, s, y = two_logits()
    for name in ("la", "weighted", "ldam-drw"):
        with pytest.raises(ConfigError, match=f"loss '{name}' needs at least one training image of each class"):
            make_loss(name)(s, y, ctx(5000, 0))


# --- decisions -----------------------------------------------------------------------------


def dctx(n_majority=5000, n_minority_real=100, n_minority=100, balanced_batches=False, **kw) -> DecisionContext:
    return DecisionContext(counts_real=(n_majority, n_minority_real), counts=(n_majority, n_minority),
                           balanced_batches=balanced_batches, **kw)


def test_argmax_and_posthoc_thresholds():
    assert make_decision("argmax").threshold(dctx()) == 0.0
    assert make_decision("posthoc").threshold(dctx()) == pytest.approx(math.log(100 / 5000))
    assert make_decision("posthoc", tau=0.5).threshold(dctx()) == pytest.approx(0.5 * math.log(100 / 5000))
    # "real" ignores generated images and balanced batches; "seen" follows them.
    assert make_decision("posthoc").threshold(dctx(n_minority=5000, balanced_batches=True)) == pytest.approx(
        math.log(100 / 5000))
    assert make_decision("posthoc", prior="seen").threshold(dctx(balanced_batches=True)) == 0.0
    assert make_decision("posthoc", prior="seen").threshold(dctx(n_minority=2500)) == pytest.approx(math.log(0.5))
    assert not make_decision("posthoc").needs_validation and make_decision("tuned").needs_validation


def test_tuned_finds_the_known_best_cut():
    tuned = make_decision("tuned")
    neg, pos = [-3.0, -2.0, -1.0, 0.0, 1.0, 2.5], [1.5, 3.0, 4.0]
    val = dict(val_logits=np.array(neg + pos), val_y=np.array([0] * len(neg) + [1] * len(pos)))
    # Cutting at 2.0 (between 1.5 and 2.5) errs on 1/6 majority and 1/3 minority (BER 1/4);
    # 1.25 errs only on 1/6 majority (BER 1/12): the best cut.
    assert tuned.threshold(dctx(**val)) == pytest.approx(1.25)
    # Ties go to the cut nearest 0: cuts -4.5 and 3.5 both reach balanced error 1/4.
    tie = dict(val_logits=np.array([-5.0, 2.0, -4.0, 5.0]), val_y=np.array([0, 0, 1, 1]))
    assert tuned.threshold(dctx(**tie)) == pytest.approx(3.5)


def test_tuned_matches_brute_force_balanced_error():
    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.1).astype(int)
    s = rng.normal(size=300) + 2.0 * y - 1.0
    t = make_decision("tuned").threshold(dctx(val_logits=s, val_y=y))

    def ber(cut):
        pred = s > cut
        return ((~pred[y == 1]).mean() + pred[y == 0].mean()) / 2

    grid = np.concatenate([np.sort(s) - 1e-9, np.sort(s) + 1e-9])
    assert ber(t) <= min(ber(c) for c in grid) + 1e-12


def _cuts_by_search(logits, y):
    """The tuned rule's cuts and scaled errors before scikit-learn's roc_curve gave them."""
    u = np.unique(logits)
    cuts = np.concatenate([[u[0] - 1.0], (u[:-1] + u[1:]) / 2, [u[-1] + 1.0]])
    pos, neg = np.sort(logits[y == 1]), np.sort(logits[y == 0])
    fn = np.searchsorted(pos, cuts, side="right")
    fp = len(neg) - np.searchsorted(neg, cuts, side="right")
    return cuts, fn.astype(np.int64) * len(neg) + fp.astype(np.int64) * len(pos)


@pytest.mark.parametrize("seed", range(40))
def test_tuned_cuts_from_roc_curve_equal_the_searched_ones(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    y = (rng.random(n) < rng.uniform(0.05, 0.5)).astype(int)
    y[:2] = [0, 1]
    s = (rng.normal(size=n) + rng.uniform(0, 3) * y).astype(np.float32).astype(np.float64)
    if seed % 2:
        s = np.round(s * 2) / 2  # many equal log-odds, and ties in the balanced error
    cuts, err = balanced_error_cuts(s, y)
    want_cuts, want_err = _cuts_by_search(s, y)
    assert np.array_equal(cuts, want_cuts) and np.array_equal(err, want_err)
    best = np.flatnonzero(want_err == want_err.min())
    want = float(want_cuts[best[np.argmin(np.abs(want_cuts[best]))]])
    assert make_decision("tuned").threshold(dctx(val_logits=s, val_y=y)) == want


def test_tuned_refuses_a_validation_split_without_a_class_or_none():
    tuned = make_decision("tuned")
    with pytest.raises(ConfigError, match="validation split holds no minority image: raise validation_fraction"):
        tuned.threshold(dctx(val_logits=np.array([0.1, -0.2]), val_y=np.array([0, 0])))
    with pytest.raises(ConfigError, match="needs a validation split"):
        tuned.threshold(dctx())


def test_tuned_never_sees_test_data():
    assert list(inspect.signature(TunedOnValidation.threshold).parameters) == ["self", "ctx"]
    assert list(inspect.signature(TunedOnValidation._threshold).parameters) == ["self", "ctx"]
    assert not [f.name for f in fields(DecisionContext) if "test" in f.name]


# --- batches -------------------------------------------------------------------------------

Y = np.array([0] * 90 + [1] * 10)


def test_random_batches_reproduce_torch_randint():
    policy = make_batches("random")
    policy.prepare(Y)
    got = [policy.indices(32, g) for g in [torch.Generator().manual_seed(5)] for _ in range(3)]
    g = torch.Generator().manual_seed(5)
    want = [torch.randint(len(Y), (32,), generator=g) for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(got, want))


def test_balanced_batches_half_each_class_and_deterministic():
    policy = make_batches("balanced")
    policy.prepare(Y)
    a = policy.indices(32, torch.Generator().manual_seed(1))
    b = policy.indices(32, torch.Generator().manual_seed(1))
    c = policy.indices(32, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.int64 and len(a) == 32
    assert (Y[a.numpy()[:16]] == 0).all() and (Y[a.numpy()[16:]] == 1).all()
    # Exactly training.train_classifier's balanced draw.
    g = torch.Generator().manual_seed(1)
    pools = [torch.from_numpy(np.flatnonzero(Y == k)) for k in (0, 1)]
    assert torch.equal(a, torch.cat([p[torch.randint(len(p), (16,), generator=g)] for p in pools]))
    assert len(policy.indices(1, torch.Generator().manual_seed(0))) == 2


def test_batches_refuse_an_empty_class_or_set():
    with pytest.raises(ConfigError, match="batches 'balanced' need at least one minority training image"):
        make_batches("balanced").prepare(np.zeros(10, dtype=int))
    with pytest.raises(ConfigError, match="batches 'random': the training set is empty"):
        make_batches("random").prepare(np.zeros(0, dtype=int))


# --- augmentations -------------------------------------------------------------------------


def test_affine_changes_minority_rows_only_deterministically_within_01():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 28, 28, generator=g)
    x[:, 10:18, 10:18] = 1.0
    y = torch.tensor([0, 1] * 8)
    aug = make_augmentation("affine", degrees=20.0, classes="minority")
    a = aug(x, y, torch.Generator().manual_seed(7))
    b = aug(x, y, torch.Generator().manual_seed(7))
    c = aug(x, y, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a[y == 0], x[y == 0])
    assert all(not torch.equal(a[i], x[i]) for i in torch.nonzero(y == 1).flatten())
    assert a.min() >= 0 and a.max() <= 1 and a.shape == x.shape
    before = x.clone()
    aug(x, y, torch.Generator().manual_seed(7))
    assert torch.equal(x, before)  # the input batch is left as it was


def test_no_augmentation_and_no_minority_rows_leave_the_batch():
    x = torch.rand(4, 28, 28)
    assert torch.equal(make_augmentation("none")(x, torch.tensor([0, 1, 0, 1]), torch.Generator()), x)
    g = torch.Generator().manual_seed(3)
    state = g.get_state()
    assert torch.equal(make_augmentation("affine", classes="minority")(x, torch.zeros(4, dtype=torch.int64), g), x)
    assert torch.equal(g.get_state(), state)  # nothing drawn


@pytest.mark.parametrize("name", ["affine", "elastic"])
def test_every_augmentation_transforms_every_class_by_default(name):
    """The default (#22): every row, so no class carries the resampling's smoothing alone;
    ``classes=minority`` keeps the earlier recipes' rows and draws."""
    aug = make_augmentation(name)
    assert aug.values["classes"] == "all" and "classes" in {p.name for p in aug.params}
    x = torch.rand(12, 28, 28, generator=torch.Generator().manual_seed(0))
    x[:, 8:20, 8:20] = 1.0
    y = torch.tensor([0, 0, 1] * 4)
    a = aug(x, y, torch.Generator().manual_seed(4))
    assert all(not torch.equal(a[i], x[i]) for i in range(len(x)))  # the majority's rows too
    assert torch.equal(a, aug._transform(x, torch.Generator().manual_seed(4)))  # one draw over the whole batch
    minority = make_augmentation(name, classes="minority")
    m = minority(x, y, torch.Generator().manual_seed(4))
    assert torch.equal(m[y == 0], x[y == 0])
    assert torch.equal(m[y == 1], minority._transform(x[y == 1], torch.Generator().manual_seed(4)))
    assert make_augmentation(name).key() != minority.key()  # a cache key of its own
    with pytest.raises(ConfigError, match="classes must be all \\| minority, got 'head'"):
        make_augmentation(name, classes="head")


def test_elastic_distortion_follows_simard():
    from vaeimb.parts.augmentations.elastic import (
        elastic,
        elastic_field,
        gaussian_kernel,
    )

    k = gaussian_kernel(4.0)
    assert len(k) == 25 and torch.isclose(k.sum(), torch.tensor(1.0, dtype=torch.float64))
    f = elastic_field(64, 28, 28, torch.Generator().manual_seed(0), alpha=34.0, sigma=4.0)
    assert f.shape == (64, 28, 28, 2)
    # smoothed: neighbouring displacements are close; alpha scales the field linearly
    assert (f[:, 1:] - f[:, :-1]).abs().mean() < 0.2 * f.abs().mean()
    f2 = elastic_field(64, 28, 28, torch.Generator().manual_seed(0), alpha=17.0, sigma=4.0)
    assert torch.allclose(f2 * 2, f)
    assert 0.5 < f.abs().mean() < 3.0  # about a pixel or two at Simard's alpha 34, sigma 4
    x = torch.zeros(3, 28, 28)
    x[:, 6:22, 12:16] = 1.0
    out = elastic(x, torch.Generator().manual_seed(1), alpha=34.0, sigma=4.0)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1 and not torch.equal(out, x)
    assert abs(out.sum() / x.sum() - 1) < 0.2  # strokes moved, not erased
    assert torch.equal(out, elastic(x, torch.Generator().manual_seed(1), alpha=34.0, sigma=4.0))
    assert torch.equal(elastic(x, torch.Generator(), alpha=0.0), x)
    still = make_augmentation("elastic", alpha=0.0, degrees=0.0, translate=0.0, scale_low=1.0, scale_high=1.0)
    assert torch.allclose(still(x, torch.zeros(3, dtype=torch.int64), torch.Generator()), x, atol=1e-5)
    with pytest.raises(ConfigError, match="alpha must be float in \\[0, 100\\], got -1"):
        make_augmentation("elastic", alpha=-1.0)
    with pytest.raises(ConfigError, match="sigma must be float"):
        make_augmentation("elastic", sigma=0.0)


# --- deferred schedules (DRW, DRS) -----------------------------------------------------------


@pytest.mark.parametrize("make", [lambda **v: make_loss("weighted", **v), lambda **v: make_batches("deferred", **v)])
@pytest.mark.parametrize("switch", [0.0, 1.0])
def test_a_switch_point_outside_0_1_is_refused(make, switch):
    with pytest.raises(ConfigError, match=f"switch must lie strictly between 0 and 1 .*got {switch:g}"):
        make(switch=switch)
    with pytest.raises(ConfigError, match="switch must be"):
        make(switch=1.5)


def test_deferred_reweighting_is_plain_cross_entropy_until_the_switch():
    from vaeimb.parts.losses.base import LossContext

    loss, plain, always = make_loss("weighted", switch=0.5), make_loss("ce"), make_loss("weighted")
    assert always.values["switch"] is None  # from the first step, as before
    z = torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    y = torch.arange(32) % 3
    for step, before in ((1, True), (50, True), (51, False), (100, False)):
        ctx = LossContext(counts=(500, 50, 5), counts_real=(500, 50, 5), step=step, steps=100)
        want = plain(z, y, ctx) if before else always(z, y, ctx)
        assert torch.equal(loss(z, y, ctx), want), step
        s = z[:, 1] - z[:, 0]
        ctx2 = LossContext(counts=(500, 5), counts_real=(500, 5), step=step, steps=100)
        yb = (y > 0).long()
        want2 = plain(s, yb, ctx2) if before else always(s, yb, ctx2)
        assert torch.equal(loss(s, yb, ctx2), want2), step


def test_deferred_resampling_draws_random_batches_then_balanced_ones():
    y = np.array([0] * 90 + [1] * 9 + [2])
    drs = make_batches("deferred", switch=0.5)
    assert drs.values["switch"] == 0.5 and make_batches("deferred").values["switch"] == 0.8 and drs.balances
    drs.prepare(y, n_classes=3, steps=10)
    rand, bal = make_batches("random"), make_batches("balanced")
    rand.prepare(y, n_classes=3)
    bal.prepare(y, n_classes=3)
    g, g_rand, g_bal = (torch.Generator().manual_seed(5) for _ in range(3))
    for step in range(1, 11):
        got = drs.indices(30, g)
        if step <= 5:
            assert torch.equal(got, rand.indices(30, g_rand)), step
            g_bal.set_state(g_rand.get_state())
        else:
            assert torch.equal(got, bal.indices(30, g_bal)), step
            assert np.bincount(y[got.numpy()], minlength=3).tolist() == [10, 10, 10]
    with pytest.raises(ConfigError, match="need the number of training steps"):
        make_batches("deferred").prepare(y)


def test_classifier_retraining_trains_the_head_alone_from_the_switch():
    y = np.array([0] * 90 + [1] * 10)
    crt = make_batches("deferred", switch=0.8, stage2="head")
    crt.prepare(y, n_classes=2, steps=10)
    assert crt.head_only_from() == 9  # the first step past 0.8 * 10
    drs = make_batches("deferred", switch=0.8)
    drs.prepare(y, n_classes=2, steps=10)
    assert drs.head_only_from() is None and make_batches("balanced").head_only_from() is None
    with pytest.raises(ConfigError, match="stage2 must be all \\| head"):
        make_batches("deferred", stage2="features")
