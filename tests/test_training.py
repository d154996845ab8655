"""The classifier's training loop on small synthetic images: fast, and independent of MNIST."""

import numpy as np
import pytest
import torch

from vaeimb.declarations.errors import ConfigError
from vaeimb.parts.augmentations import AUGMENTATIONS
from vaeimb.parts.batches import make_batches
from vaeimb.parts.losses import make_loss
from vaeimb.parts.training import checkpoint_steps, predict_logits, train_classifier


def _synthetic(n0=200, n1=10, seed=0):
    """Class 0: bright left half; class 1: bright right half; plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, size=(n0 + n1, 28, 28)).astype(np.uint8)
    x[:n0, :, :14] += 150
    x[n0:, :, 14:] += 150
    y = np.r_[np.zeros(n0, np.int64), np.ones(n1, np.int64)]
    return x, y


def _train(x, y, evals, batches="random", loss="ce", **kw):
    args = dict(steps=10, batch_size=16, lr=1e-3, seed=0, n_checkpoints=2)
    args.update(kw)
    return train_classifier("mlp", 2, x, y, evals, batches=make_batches(batches), loss=make_loss(loss), **args)


def test_checkpoint_steps():
    assert list(checkpoint_steps(100, 4)) == [25, 50, 75, 100]
    assert list(checkpoint_steps(3, 10)) == [1, 2, 3]
    assert checkpoint_steps(500, 20)[-1] == 500


@pytest.mark.parametrize("classifier, n_out", [("mlp", 2), ("mlp", 1), ("cnn", 2)])
def test_classifier_learns_and_records_checkpoints_for_every_eval_set(classifier, n_out):
    x, y = _synthetic()
    tx, ty = _synthetic(50, 50, seed=1)
    vx, _ = _synthetic(7, 3, seed=2)
    run = train_classifier(classifier, n_out, x, y, {"test": tx, "val": vx}, batches=make_batches("balanced"),
                           loss=make_loss("ce"), steps=60, batch_size=16, lr=1e-3, seed=0, n_checkpoints=3)
    assert run.steps.tolist() == [20, 40, 60]
    assert run.logits["test"].shape == (3, 100) and run.logits["val"].shape == (3, 10)
    assert run.logits["test"].dtype == np.float32
    errors = ((run.logits["test"] > 0) != ty).sum(1)
    assert errors[-1] <= 5


class _SpyLoss:
    """Wraps a loss and records each batch's minority share and context."""

    def __init__(self, loss):
        self.loss, self.shares, self.ctx = loss, [], []

    def __call__(self, s, y, ctx):
        self.shares.append(y.float().mean().item())
        self.ctx.append(ctx)
        return self.loss(s, y, ctx)


def test_balanced_batches_draw_half_from_each_class():
    x, y = _synthetic(300, 3)
    spy = _SpyLoss(make_loss("ce"))
    train_classifier("mlp", 2, x, y, {"test": x[:4]}, batches=make_batches("balanced"), loss=spy, steps=5,
                     batch_size=20, lr=1e-3, seed=0, n_checkpoints=1)
    assert spy.shares == [0.5] * 5
    spy = _SpyLoss(make_loss("ce"))
    train_classifier("mlp", 2, x, y, {"test": x[:4]}, batches=make_batches("random"), loss=spy, steps=30,
                     batch_size=20, lr=1e-3, seed=0, n_checkpoints=1)
    assert np.mean(spy.shares) < 0.1  # random batches keep the 1 % imbalance


def test_loss_sees_the_real_minority_count_and_the_step():
    x, y = _synthetic(40, 10)
    spy = _SpyLoss(make_loss("ce"))
    train_classifier("mlp", 2, x, y, {"test": x[:2]}, batches=make_batches("random"), loss=spy,
                     counts_real=(40, 4), steps=3, batch_size=8, lr=1e-3, seed=0, n_checkpoints=1)
    c = spy.ctx[-1]
    assert (c.n_majority, c.n_minority, c.n_minority_real, c.steps) == (40, 10, 4, 3)
    assert [k.step for k in spy.ctx] == [1, 2, 3]


def test_balanced_needs_both_classes():
    x, y = _synthetic(20, 0)
    with pytest.raises(ConfigError, match="minority"):
        _train(x, y, {"test": x[:2]}, batches="balanced", steps=2, batch_size=4, n_checkpoints=1)


@pytest.mark.parametrize("classes", ["minority", "all"])
def test_augmentation_touches_the_rows_of_its_classes(classes):
    x, y = _synthetic(60, 6)
    seen = []
    aug = AUGMENTATIONS["affine"](classes=classes)

    def spy(xb, yb, gen):
        out = aug(xb, yb, gen)
        seen.append((xb.clone(), out, yb.clone()))
        return out

    train_classifier("mlp", 2, x, y, {"test": x[:2]}, batches=make_batches("balanced"), loss=make_loss("ce"),
                     augmentation=spy, steps=3, batch_size=8, lr=1e-3, seed=0, n_checkpoints=1)
    assert len(seen) == 3
    for before, after, yb in seen:
        maj = yb == 0
        assert torch.equal(before[maj], after[maj]) == (classes == "minority")
        assert not torch.equal(before[~maj], after[~maj])


def test_same_seed_same_model_different_seed_different():
    x, y = _synthetic()
    a = _train(x, y, {"test": x[:20]}, seed=3)
    b = _train(x, y, {"test": x[:20]}, seed=3)
    c = _train(x, y, {"test": x[:20]}, seed=4)
    assert np.array_equal(a.logits["test"], b.logits["test"]) and not np.array_equal(a.logits["test"], c.logits["test"])


def test_progress_reports_and_may_abort():
    x, y = _synthetic(20, 5)
    seen = []
    _train(x, y, {"test": x[:2]}, steps=5, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (5, 5) and [d for d, _ in seen] == sorted(d for d, _ in seen)

    class Stop(Exception):
        pass

    def stop(d, t):
        raise Stop

    with pytest.raises(Stop):
        _train(x, y, {"test": x[:2]}, steps=5, progress=stop)


def test_predict_logits_keeps_training_mode():
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 2))
    m.train()
    out = predict_logits(m, torch.rand(5, 28, 28), chunk=2)
    assert out.shape == (5,) and m.training


def test_concurrent_training_threads_stay_deterministic():
    """Two browser sessions train in two threads of one process: seeds must not mix."""
    import threading

    x, y = _synthetic()
    kw = dict(steps=5, n_checkpoints=1)
    alone = {s: _train(x, y, {"test": x[:10]}, seed=s, **kw).logits["test"] for s in (1, 2)}
    for _ in range(3):
        got = {}
        threads = [threading.Thread(target=lambda s=s: got.__setitem__(
            s, _train(x, y, {"test": x[:10]}, seed=s, **kw).logits["test"])) for s in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(np.array_equal(got[s], alone[s]) for s in (1, 2))


def test_task_threads_come_from_the_environment_not_the_process(monkeypatch):
    import vaeimb.parts.training as T

    before = torch.get_num_threads()
    monkeypatch.delenv("VAEIMB_THREADS", raising=False)
    assert T.threads_from_env() == 1 and T.current_identity().threads == 1
    for bad in ("0", "-2", "two", ""):
        monkeypatch.setenv("VAEIMB_THREADS", bad)
        assert T.threads_from_env() == 1
    monkeypatch.setenv("VAEIMB_THREADS", "3")
    assert T.current_identity().threads == 3
    assert torch.get_num_threads() == before  # reading the identity sets nothing
    try:
        T.use_identity(T.current_identity())
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_deferred_resampling_trains_and_switches_at_its_step():
    """The training loop tells a batch policy its length: DRS draws uniform batches, then
    balanced ones from the first step past the switch."""
    x, y = _synthetic(60, 6)
    policy = make_batches("deferred", switch=0.5)
    seen = []

    def spy(xb, yb, gen):
        seen.append(yb.clone())
        return xb

    train_classifier("mlp", 2, x, y, {"test": x[:2]}, batches=policy, loss=make_loss("ce"), augmentation=spy,
                     steps=6, batch_size=20, lr=1e-3, seed=0, n_checkpoints=1)
    assert len(seen) == 6
    assert all(int((yb == 1).sum()) == 10 for yb in seen[3:])  # balanced after step 3 of 6
    assert sum(int((yb == 1).sum()) for yb in seen[:3]) < 15  # the draw's own balance before


@pytest.mark.parametrize("classifier", ["mlp", "cnn"])
def test_classifier_retraining_freezes_the_features_and_retrains_the_head(classifier, monkeypatch):
    """cRT (Kang et al. 2020): from the switch on only the last layer changes, re-initialised
    once, and the run stays deterministic."""
    from vaeimb.parts import training

    x, y = _synthetic(60, 6)
    snapshots = {}
    real = training.retrain_head

    def spy(model, seed, lr):
        snapshots["before"] = {n: p.detach().clone() for n, p in model.named_parameters()}
        snapshots["model"] = model
        return real(model, seed, lr)

    monkeypatch.setattr(training, "retrain_head", spy)
    args = dict(loss=make_loss("ce"), steps=10, batch_size=16, lr=1e-2, seed=0, n_checkpoints=2)
    run = train_classifier(classifier, 2, x, y, {"test": x[:5]}, batches=make_batches("deferred", stage2="head"), **args)
    model = snapshots["model"]
    head = training.classifier_head(model)
    head_names = {n for n, p in model.named_parameters() if any(p is q for q in head.parameters())}
    assert head_names and len(head_names) == 2  # weight and bias
    for name, p in model.named_parameters():
        changed = not torch.equal(p.detach(), snapshots["before"][name])
        assert changed == (name in head_names), name
    again = train_classifier(classifier, 2, x, y, {"test": x[:5]}, batches=make_batches("deferred", stage2="head"),
                             **args)
    assert np.array_equal(run.logits["test"], again.logits["test"])


def _adam_run(make_opt, head_only_from=None):
    """A small conv net (channels-last, as ``fast_layout`` leaves it) trained 30 steps."""
    from vaeimb.parts import training

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 26 * 26, 3)).to(memory_format=torch.channels_last)
    opt = make_opt(model.parameters())
    gen = torch.Generator().manual_seed(1)
    for step in range(30):
        if step == head_only_from:  # cRT's second stage: a new optimiser of the last layer alone
            for p in model.parameters():
                p.requires_grad_(False)
            head = training.classifier_head(model)
            for p in head.parameters():
                p.requires_grad_(True)
            opt = make_opt(head.parameters())
        x = torch.randn(8, 1, 28, 28, generator=gen).to(memory_format=torch.channels_last)
        y = torch.randint(0, 3, (8,), generator=gen)
        value = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        value.backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("head_only_from", [None, 20])
@pytest.mark.parametrize("fused", [True, False])
def test_adam_gives_torch_optim_adams_weights_bit_for_bit(fused, head_only_from):
    """``training.adam`` is ``torch.optim.Adam`` step for step on a CPU, fused (the models) or
    one weight at a time (the judge): the shipped numbers were trained with torch's; a second
    optimiser over a subset of the weights (cRT) included."""
    from vaeimb.parts.training import Adam, adam

    ours = _adam_run(lambda ps: adam(ps, 1e-2, fused=fused), head_only_from)
    as_before = {"fused": True} if fused else {}  # the models' call before, and the judge's
    theirs = _adam_run(lambda ps: torch.optim.Adam(ps, lr=1e-2, **as_before), head_only_from)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    other = _adam_run(lambda ps: torch.optim.Adam(ps, lr=1e-2, fused=not fused, foreach=False), head_only_from)
    assert not all(torch.equal(a, b) for a, b in zip(ours, other))  # the comparison tells the kernels apart
    made = adam([torch.nn.Parameter(torch.zeros(2))], 1e-3, fused=fused)
    assert isinstance(made, Adam) and made.kernel == ("fused" if fused else "single")
    with pytest.raises(ValueError, match="kernel"):
        Adam([], 1e-3, kernel="foreach")


def test_training_never_imports_torchs_compiler():
    """A classifier, every generator and the judge train without ``torch._dynamo`` (sympy,
    triton: 150 MB Pss in every training process), which ``torch.optim.Optimizer.step`` imports."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from tests.test_training import _synthetic, _train\n"
        "from dataclasses import replace\n"
        "from tests.test_generators import BUDGET, DATA, GENERATORS, SMALL, make_generator\n"
        "x, y = _synthetic(40, 8)\n"
        "_train(x, y, {'test': x[:4]}, steps=3)\n"
        "for name in GENERATORS:\n"
        "    make_generator(name, **SMALL.get(name, {})).fit(DATA, replace(BUDGET, steps=3), seed=0)\n"
        "from pathlib import Path\n"
        "from vaeimb.parts.data import Images\n"
        "from vaeimb.parts.judge import judge_settings, train_judge\n"
        "train_judge(Images(x, y, x[:4], y[:4], Path('.')), judge_settings(40, 1), None)\n"
        "print(sorted(m for m in ('torch', 'torch._dynamo', 'triton', 'sympy') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "['torch']"
