"""Training loops on small synthetic images: fast, and independent of MNIST."""

import numpy as np
import pytest
import torch

from vaeimb.training import checkpoint_steps, generate_images, predict_logits, train_classifier, train_vae


def _synthetic(n0=200, n1=10, seed=0):
    """Class 0: bright left half; class 1: bright right half; plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, size=(n0 + n1, 28, 28)).astype(np.uint8)
    x[:n0, :, :14] += 150
    x[n0:, :, 14:] += 150
    y = np.r_[np.zeros(n0, np.int64), np.ones(n1, np.int64)]
    return x, y


def test_checkpoint_steps():
    assert list(checkpoint_steps(100, 4)) == [25, 50, 75, 100]
    assert list(checkpoint_steps(3, 10)) == [1, 2, 3]
    assert checkpoint_steps(500, 20)[-1] == 500


@pytest.mark.parametrize("classifier, n_out", [("mlp", 2), ("mlp", 1), ("cnn", 2)])
def test_classifier_learns_and_records_checkpoints(classifier, n_out):
    x, y = _synthetic()
    tx, ty = _synthetic(50, 50, seed=1)
    run = train_classifier(classifier, n_out, x, y, tx, balanced=True, steps=60, batch_size=16, lr=1e-3,
                           seed=0, n_checkpoints=3)
    assert run.steps.tolist() == [20, 40, 60] and run.test_logits.shape == (3, 100)
    errors = ((run.test_logits > 0) != ty).sum(1)
    assert errors[-1] <= 5


def test_balanced_batches_draw_half_from_each_class(monkeypatch):
    x, y = _synthetic(300, 3)
    seen = []
    import vaeimb.training as T

    real = T.classification_loss

    def spy(out, yb):
        seen.append(yb.float().mean().item())
        return real(out, yb)

    monkeypatch.setattr(T, "classification_loss", spy)
    train_classifier("mlp", 2, x, y, x[:4], balanced=True, steps=5, batch_size=20, lr=1e-3, seed=0, n_checkpoints=1)
    assert seen == [0.5] * 5
    seen.clear()
    train_classifier("mlp", 2, x, y, x[:4], balanced=False, steps=30, batch_size=20, lr=1e-3, seed=0, n_checkpoints=1)
    assert np.mean(seen) < 0.1  # random batches keep the 1 % imbalance


def test_balanced_needs_both_classes():
    x, y = _synthetic(20, 0)
    with pytest.raises(ValueError, match="each class"):
        train_classifier("mlp", 2, x, y, x[:2], balanced=True, steps=2, batch_size=4, lr=1e-3, seed=0, n_checkpoints=1)


def test_same_seed_same_model_different_seed_different():
    x, y = _synthetic()
    kw = dict(balanced=False, steps=10, batch_size=16, lr=1e-3, n_checkpoints=2)
    a = train_classifier("mlp", 2, x, y, x[:20], seed=3, **kw)
    b = train_classifier("mlp", 2, x, y, x[:20], seed=3, **kw)
    c = train_classifier("mlp", 2, x, y, x[:20], seed=4, **kw)
    assert np.array_equal(a.test_logits, b.test_logits) and not np.array_equal(a.test_logits, c.test_logits)


def test_vae_learns_and_generates_deterministic_uint8_images():
    x, _ = _synthetic(0, 40)
    run = train_vae(x, latent_dim=4, steps=60, batch_size=16, lr=2e-3, seed=0)
    assert run.losses[-1] < run.losses[0]
    assert run.latent_mu.shape == (40, 4) and run.kl_per_dim.shape == (4,) and (run.kl_per_dim >= 0).all()
    g1, g2 = generate_images(run.model, 30, seed=1), generate_images(run.model, 30, seed=1)
    assert g1.dtype == np.uint8 and g1.shape == (30, 28, 28) and np.array_equal(g1, g2)
    assert g1[:, :, 14:].mean() > g1[:, :, :14].mean()  # it learned the bright right half
    assert generate_images(run.model, 0, seed=1).shape == (0, 28, 28)


def test_predict_logits_keeps_training_mode():
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 2))
    m.train()
    out = predict_logits(m, torch.rand(5, 28, 28), chunk=2)
    assert out.shape == (5,) and m.training


def test_concurrent_training_threads_stay_deterministic():
    """Two browser sessions train in two threads of one process: seeds must not mix."""
    import threading

    x, y = _synthetic()
    kw = dict(balanced=False, steps=5, batch_size=16, lr=1e-3, n_checkpoints=1)
    alone = {s: train_classifier("mlp", 2, x, y, x[:10], seed=s, **kw).test_logits for s in (1, 2)}
    for _ in range(3):
        got = {}
        threads = [threading.Thread(target=lambda s=s: got.__setitem__(
            s, train_classifier("mlp", 2, x, y, x[:10], seed=s, **kw).test_logits)) for s in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(np.array_equal(got[s], alone[s]) for s in (1, 2))


def test_thread_cap_from_the_environment(monkeypatch):
    import vaeimb.training as T

    before = torch.get_num_threads()
    monkeypatch.setenv("VAEIMB_THREADS", "1")
    monkeypatch.setattr(T, "_threads_set", False)
    try:
        T.use_all_cores()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
