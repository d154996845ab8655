"""How a recipe uses generated images (``data`` parameters of the ``generated`` source):
their loss weight, the stage of a two-stage batch policy they enter, and the share of real
images given the generator's artefact. Synthetic images and stub generators (fast, no
generator trained); the runner's end-to-end checks read a tiny MNIST draw."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vaeimb.declarations.errors import ConfigError
from vaeimb.parts import training as T
from vaeimb.parts.batches import make_batches
from vaeimb.parts.losses import make_loss
from vaeimb.parts.losses.base import LossContext
from vaeimb.parts.mixing import MIXINGS
from vaeimb.parts.mixing.base import Mixed
from vaeimb.parts.sources import GeneratedData, TrainingSet
from vaeimb.parts.training import train_classifier, weigh_generated
from vaeimb.running.cache import MemoryCache
from vaeimb.running.recipes import build_approach, parse_param_overrides

N0, N1, N_GEN = 120, 8, 60  # real head, real minority, generated minority rows


def _training_set(seed: int = 0) -> TrainingSet:
    """Real rows first (class 0 bright left, class 1 bright right), then generated class-1 rows
    (bright right, fainter): the layout ``GeneratedData.training_set`` makes."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, size=(N0 + N1 + N_GEN, 28, 28)).astype(np.uint8)
    x[:N0, :, :14] += 150
    x[N0:N0 + N1, :, 14:] += 150
    x[N0 + N1:, :, 14:] += 100
    y = np.r_[np.zeros(N0, np.int64), np.ones(N1 + N_GEN, np.int64)]
    return TrainingSet(x, y, (N0, N1), (0, N_GEN))


def _train(ts: TrainingSet, batches="random", loss="ce", mixing=None, steps=12, **kw):
    policy = batches if not isinstance(batches, str) else make_batches(batches)
    return train_classifier("mlp", 2, ts.x, ts.y, {"test": ts.x[:30]}, batches=policy, loss=make_loss(loss),
                            mixing=None if mixing is None else MIXINGS[mixing](), counts_real=ts.counts_real,
                            steps=steps, batch_size=16, lr=1e-2, seed=0, n_checkpoints=2, **kw)


# ---- defaults: bit-identical ------------------------------------------------------------
@pytest.mark.parametrize("batches,mixing", [("random", None), ("balanced", "mixup"), ("deferred", None),
                                            ("deferred", "remix")])
def test_defaults_train_bit_identically(batches, mixing):
    """The new parameters at their defaults, passed or not: the same batches, loss and logits."""
    ts = _training_set()
    plain = _train(ts, batches, mixing=mixing)
    explicit = _train(ts, batches, mixing=mixing, n_real=ts.n_real, generated_weight=1.0, generated_stage="all")
    for name in plain.logits:
        assert np.array_equal(plain.logits[name], explicit.logits[name])


def test_default_source_values_build_the_same_training_set():
    draw = _draw(3, 2)
    sample = lambda n, k: np.full((n, 28, 28), 7 * k, np.uint8)  # noqa: E731
    a = GeneratedData().training_set(draw, sample)
    b = GeneratedData(weight=1.0, stage="all", artefact_share=0.0).training_set(
        draw, sample, reconstruct=_refuse, seed=3)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert (a.counts_real, a.generated) == (b.counts_real, b.generated) == ((3, 2), (0, 1))
    assert np.array_equal(a.x, np.concatenate([draw.train_x, sample(1, 1)]))  # the draw, then the generated
    assert (a.weight, a.stage, a.replaced, a.n_real) == (1.0, "all", (), len(draw.train_y))


@pytest.mark.parametrize("recipe", ["gen=smote", "gen=smote,batches=deferred,mix=mixup"])
def test_the_runner_trains_defaults_bit_identically(tiny_config, mnist_dir, monkeypatch, recipe):
    """A tiny recipe through the runner, with and without the defaults written out, trains
    exactly as the training loop called without the new arguments (the call before them)."""
    from vaeimb.running.runner import Runner

    calls = []
    real = T.train_classifier

    def spy(*a, **k):
        calls.append((a, k))
        return real(*a, **k)

    monkeypatch.setattr(T, "train_classifier", spy)
    plain = build_approach(recipe)
    explicit = build_approach(recipe, overrides={"data.weight": 1.0, "data.stage": "all",
                                                 "data.artefact_share": 0.0})
    out = []
    for a in (plain, explicit):
        meta, arrays, _ = Runner(tiny_config, MemoryCache(), data_dir=mnist_dir).classifier(a, 0)
        out.append((meta, arrays))
    assert np.array_equal(out[0][1]["test_logits"], out[1][1]["test_logits"])
    assert out[0][0]["info"]["generated_use"] == {"weight": 1.0, "stage": "all", "replaced": [0, 0]}
    a, k = calls[0]
    assert k["n_real"] == sum(tiny_config.class_counts) < len(a[3])  # generated rows were there
    old = {n: v for n, v in k.items() if n not in ("n_real", "generated_weight", "generated_stage", "progress")}
    fresh = {kind: build_approach(recipe).part(kind) for kind in ("batches", "loss", "aug", "mix")}
    before = real(*a, **{**old, "batches": fresh["batches"], "loss": fresh["loss"], "augmentation": fresh["aug"],
                         "mixing": fresh["mix"]})
    assert np.array_equal(before.logits["test"].astype(np.float32), out[0][1]["test_logits"])


# ---- validation -------------------------------------------------------------------------
@pytest.mark.parametrize("name,value,says", [
    ("weight", -1, "weight must be float in [0, 1]"), ("weight", 1.5, "weight must be float in [0, 1]"),
    ("artefact_share", -0.1, "artefact_share must be float in [0, 1]"),
    ("artefact_share", 1.01, "artefact_share must be float in [0, 1]"),
    ("stage", "first", "stage must be all | second"),
])
def test_bad_values_are_refused_by_the_declaration(name, value, says):
    with pytest.raises(ConfigError) as err:
        build_approach("gen=smote", overrides={f"data.{name}": value})
    assert says in str(err.value) and "\n" not in str(err.value)


def test_the_command_line_parses_and_checks_the_new_parameters():
    spec = "gen=smote,batches=deferred"
    got = parse_param_overrides([f"{spec}.data.weight=0.25", f"{spec}.data.stage=second",
                                 f"{spec}.data.artefact_share=0.5"], [spec])
    assert got == {spec: {"data.weight": 0.25, "data.stage": "second", "data.artefact_share": 0.5}}
    with pytest.raises(ConfigError, match="stage must be all | second"):
        parse_param_overrides([f"{spec}.data.stage=third"], [spec])


@pytest.mark.parametrize("batches", ["random", "balanced"])
def test_stage_second_needs_a_two_stage_policy(batches):
    source = GeneratedData(stage="second")
    reason = source.batches_conflict(make_batches(batches))
    assert reason and "batches=deferred" in reason and "\n" not in reason
    assert source.batches_conflict(make_batches("deferred")) is None
    assert source.batches_conflict(make_batches("deferred", stage2="head")) is None
    assert GeneratedData().batches_conflict(make_batches(batches)) is None
    with pytest.raises(ConfigError, match="batches=deferred"):
        make_batches(batches).first_stage_rows(10)


def test_stage_second_with_a_one_stage_policy_trains_nothing(monkeypatch):
    """``train_classifier`` refuses it before a model is even built."""
    monkeypatch.setattr(T, "seeded_init", lambda *a, **k: pytest.fail("built a model before refusing"))
    with pytest.raises(ConfigError, match="batches=deferred"):
        _train(_training_set(), "balanced", n_real=N0 + N1, generated_stage="second")


def test_the_runner_refuses_stage_second_before_training_and_caches_nothing(tiny_config, mnist_dir, no_training,
                                                                              monkeypatch):
    from vaeimb.running.runner import Runner

    approach = build_approach("gen=smote,batches=balanced", overrides={"data.stage": "second"})
    cache = MemoryCache()
    runner = Runner(tiny_config, cache, data_dir=mnist_dir)
    monkeypatch.setattr(Runner, "generator", lambda *a, **k: pytest.fail("fitted a generator before refusing"))
    with pytest.raises(ConfigError) as err:
        runner.classifier(approach, 0)
    assert "batches=deferred" in str(err.value) and "\n" not in str(err.value)
    assert not cache.records


# ---- weight -----------------------------------------------------------------------------
def _per_row_ce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.binary_cross_entropy_with_logits(out, y.float(), reduction="none")


def test_weighted_loss_is_the_hand_computed_one():
    """(n_r L(real) + lam n_g L(gen)) / (n_r + lam n_g): each real row weighs 1, each generated row lam."""
    torch.manual_seed(0)
    out = torch.randn(10, requires_grad=True)
    y = torch.tensor([0, 1, 0, 1, 1, 1, 1, 0, 1, 1])
    generated = torch.tensor([False, False, True, False, True, True, False, False, True, True])
    ctx = LossContext(counts=(5, 5), counts_real=(5, 2), step=1, steps=10)
    lam = 0.5
    value = weigh_generated(make_loss("ce"), generated, lam)(out, y, ctx)
    w = torch.where(generated, torch.tensor(lam), torch.tensor(1.0))
    by_hand = (w * _per_row_ce(out, y)).sum() / w.sum()
    assert torch.allclose(value, by_hand, rtol=1e-6, atol=1e-7)
    n_r, n_g = 5, 5
    sub = lambda m: make_loss("ce")(out[m], y[m], ctx)  # noqa: E731
    assert torch.allclose(value, (n_r * sub(~generated) + lam * n_g * sub(generated)) / (n_r + lam * n_g))
    (g,) = torch.autograd.grad(value, out)
    (g_hand,) = torch.autograd.grad(by_hand, out)
    assert torch.allclose(g, g_hand, rtol=1e-5, atol=1e-7)


def test_weighted_loss_inside_mixing_weighs_each_term_by_the_rows_own_image():
    torch.manual_seed(1)
    out = torch.randn(6)
    y_a, y_b = torch.tensor([0, 1, 1, 0, 1, 0]), torch.tensor([1, 1, 0, 0, 0, 1])
    generated = torch.tensor([False, True, True, False, False, True])
    ctx = LossContext(counts=(3, 3), counts_real=(3, 1), step=1, steps=10)
    mixed = Mixed(torch.zeros(6, 28, 28), y_a, y_b, 0.3)
    value = mixed.loss(weigh_generated(make_loss("ce"), generated, 0.25), out, ctx)
    w = torch.where(generated, torch.tensor(0.25), torch.tensor(1.0))
    term = lambda yy: (w * _per_row_ce(out, yy)).sum() / w.sum()  # noqa: E731
    assert torch.allclose(value, 0.3 * term(y_a) + 0.7 * term(y_b), rtol=1e-6)


def test_batches_of_one_kind_and_weight_zero():
    ctx = LossContext(counts=(3, 3), counts_real=(3, 1), step=1, steps=10)
    ce = make_loss("ce")
    out = torch.randn(4, requires_grad=True)
    y = torch.tensor([0, 1, 1, 0])
    every_real, every_gen = torch.zeros(4, dtype=torch.bool), torch.ones(4, dtype=torch.bool)
    assert torch.equal(weigh_generated(ce, every_real, 0.3)(out, y, ctx), ce(out, y, ctx))
    assert torch.equal(weigh_generated(ce, every_gen, 0.3)(out, y, ctx), ce(out, y, ctx))
    zero = weigh_generated(ce, every_gen, 0.0)(out, y, ctx)
    (g,) = torch.autograd.grad(zero, out)
    assert float(zero.detach()) == 0.0 and torch.equal(g, torch.zeros(4)) and not torch.isnan(g).any()
    half = torch.tensor([False, True, False, True])
    only_real = weigh_generated(ce, half, 0.0)(out, y, ctx)
    assert torch.allclose(only_real, ce(out[~half], y[~half], ctx))
    (g,) = torch.autograd.grad(only_real, out)
    assert torch.equal(g[half], torch.zeros(2))


class _Recording:
    """A batch policy wrapper that keeps every batch's row indices."""

    def __init__(self, policy):
        self.policy, self.drawn = policy, []

    def __getattr__(self, name):
        return getattr(self.policy, name)

    def indices(self, batch_size, generator):
        idx = self.policy.indices(batch_size, generator)
        self.drawn.append(idx.clone())
        return idx


def test_weight_changes_training_and_the_loop_splits_each_batch_by_row_kind():
    ts = _training_set()
    sizes = []
    ce = make_loss("ce")

    def spy(out, y, ctx):
        sizes.append(len(out))
        return ce(out, y, ctx)

    policy = _Recording(make_batches("random"))
    weighted = train_classifier("mlp", 2, ts.x, ts.y, {"test": ts.x[:30]}, batches=policy, loss=spy,
                                counts_real=ts.counts_real, steps=12, batch_size=16, lr=1e-2, seed=0,
                                n_checkpoints=2, n_real=ts.n_real, generated_weight=0.5)
    expected = []
    for idx in policy.drawn:
        n_gen = int((idx >= ts.n_real).sum())
        expected += [16] if n_gen in (0, 16) else [16 - n_gen, n_gen]  # real rows first, then generated
    assert sizes == expected and len(expected) > len(policy.drawn)  # some batch held both kinds
    plain = _train(ts, n_real=ts.n_real)
    assert not np.array_equal(weighted.logits["test"], plain.logits["test"])
    again = _train(ts, n_real=ts.n_real, generated_weight=0.5)
    assert np.array_equal(weighted.logits["test"], again.logits["test"])


def test_weight_zero_trains_without_nan():
    ts = _training_set()
    run = _train(ts, n_real=ts.n_real, generated_weight=0.0, mixing="mixup")
    assert np.isfinite(run.logits["test"]).all()


# ---- stage ------------------------------------------------------------------------------
@pytest.mark.parametrize("stage2", ["all", "head"])
def test_stage_second_draws_generated_rows_only_after_the_switch(stage2):
    ts = _training_set()
    steps = 20
    policy = _Recording(make_batches("deferred", switch=0.5, stage2=stage2))
    _train(ts, policy, steps=steps, n_real=ts.n_real, generated_stage="second")
    first, second = policy.drawn[:10], policy.drawn[10:]
    assert len(policy.drawn) == steps
    assert all(int(idx.max()) < ts.n_real for idx in first)
    assert any(int(idx.min()) < N0 for idx in first) and any(int(idx.max()) >= N0 for idx in first)
    assert all(int((idx >= ts.n_real).sum()) > 0 for idx in second)  # balanced: half class 1, mostly generated
    everything = _Recording(make_batches("deferred", switch=0.5, stage2=stage2))
    _train(ts, everything, steps=steps, n_real=ts.n_real)
    assert any(int(idx.max()) >= ts.n_real for idx in everything.drawn[:10])  # stage=all: from the start


# ---- artefact_share ---------------------------------------------------------------------
def _draw(n0=1200, n1=800, seed=0):
    """A fake draw whose images carry their label (pixel value 10 * label) and their row."""
    x = np.zeros((n0 + n1, 28, 28), np.uint8)
    y = np.r_[np.zeros(n0, np.int64), np.ones(n1, np.int64)]
    x[:] = (10 * y)[:, None, None]
    x[:, 0, 0] = np.arange(n0 + n1) % 251
    return SimpleNamespace(train_x=x, train_y=y, n_classes=2)


def _refuse(images, label):
    raise AssertionError("reconstruct called with artefact_share = 0")


class _StubReconstruct:
    """``reconstruct(images, label)``: 200 + label everywhere, recording what it was given."""

    def __init__(self):
        self.calls = []

    def __call__(self, images, label):
        assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)
        assert (images[:, 1:, :] == 10 * label).all()  # only images of ``label``
        self.calls.append((label, len(images)))
        return np.full_like(images, 200 + label)


def _sample(n, label):
    return np.full((n, 28, 28), 99, np.uint8)


def test_artefact_share_one_replaces_every_real_row():
    draw = _draw()
    before = draw.train_x.copy()
    stub = _StubReconstruct()
    ts = GeneratedData(artefact_share=1.0, n_generate=50).training_set(draw, _sample, reconstruct=stub, seed=0)
    real = ts.x[: ts.n_real]
    assert (real == (200 + draw.train_y)[:, None, None]).all()
    assert (ts.x[ts.n_real:] == 99).all() and ts.n_generated == 50  # generated rows untouched
    assert ts.replaced == (1200, 800) and sorted(stub.calls) == [(0, 1200), (1, 800)]
    assert np.array_equal(draw.train_x, before)  # the draw itself is left alone


def test_artefact_share_replaces_about_that_share_deterministically_per_seed():
    draw = _draw()
    source = GeneratedData(artefact_share=0.3, n_generate=0)
    a = source.training_set(draw, _sample, reconstruct=_StubReconstruct(), seed=5)
    b = source.training_set(draw, _sample, reconstruct=_StubReconstruct(), seed=5)
    c = source.training_set(draw, _sample, reconstruct=_StubReconstruct(), seed=6)
    changed = lambda ts: (ts.x[: ts.n_real, 1, 1] >= 200)  # noqa: E731
    assert np.array_equal(a.x, b.x) and a.replaced == b.replaced
    assert not np.array_equal(changed(a), changed(c))
    for ts in (a, c):
        share = changed(ts).mean()
        assert 0.26 < share < 0.34
        assert ts.replaced == tuple(int(changed(ts)[draw.train_y == k].sum()) for k in range(2))
        assert all(0.24 < r / n < 0.36 for r, n in zip(ts.replaced, (1200, 800)))
    assert np.array_equal(changed(a), source.replaced_rows(2000, 5))
    unchanged = ~changed(a)
    assert np.array_equal(a.x[: a.n_real][unchanged], draw.train_x[unchanged])


def test_artefact_share_zero_never_reconstructs():
    ts = GeneratedData(n_generate=5).training_set(_draw(), _sample, reconstruct=_refuse, seed=0)
    assert ts.replaced == () and np.array_equal(ts.x[: ts.n_real], _draw().train_x)


def test_artefact_share_needs_reconstruct_and_the_seed():
    with pytest.raises(ConfigError, match="reconstruct"):
        GeneratedData(artefact_share=0.5).training_set(_draw(), _sample)


def test_a_generator_that_cannot_reconstruct_a_label_is_a_config_error():
    from vaeimb.declarations.errors import VaeimbError

    def head_refused(images, label):
        if label == 0:
            raise VaeimbError("generator 'stub' learns only the labels it fills, not label 0")
        return images

    with pytest.raises(ConfigError, match="artefact_share=0.5: generator 'stub' learns only"):
        GeneratedData(artefact_share=0.5).training_set(_draw(), _sample, reconstruct=head_refused, seed=0)


def test_the_runner_passes_reconstruct_and_records_how_generated_images_were_used(tiny_config, mnist_dir,
                                                                                    monkeypatch):
    """End to end with a stub generator: reconstruct reaches the source, the weight and stage
    reach the training loop, and the classifier's info says how generated images were used."""
    from vaeimb.running.runner import Runner

    stub = SimpleNamespace(sample=lambda n, seed, label: np.full((n, 28, 28), 30, np.uint8),
                           reconstruct=lambda images, label: np.full_like(images, 40 + label))
    monkeypatch.setattr(Runner, "generator", lambda self, approach, seed: stub)
    seen = {}
    real = T.train_classifier

    def spy(*a, **k):
        seen.update(x=a[2], **{n: k[n] for n in ("n_real", "generated_weight", "generated_stage")})
        return real(*a, **k)

    monkeypatch.setattr(T, "train_classifier", spy)
    approach = build_approach("gen=smote,batches=deferred", overrides={
        "data.weight": 0.5, "data.stage": "second", "data.artefact_share": 1.0})
    meta, _, _ = Runner(tiny_config, MemoryCache(), data_dir=mnist_dir).classifier(approach, 0)
    n0, n1 = tiny_config.class_counts
    assert meta["info"]["generated_use"] == {"weight": 0.5, "stage": "second", "replaced": [n0, n1]}
    assert seen["n_real"] == n0 + n1 and seen["generated_weight"] == 0.5 and seen["generated_stage"] == "second"
    assert (seen["x"][:n0] == 40).all() and (seen["x"][n0:n0 + n1] == 41).all() and (seen["x"][n0 + n1:] == 30).all()
