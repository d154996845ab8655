"""DeepSMOTE's own autoencoder (``deepsmote``): architecture, permutation penalty, BatchNorm
folded for the browser, seeding and state, on small synthetic digits (MNIST only for the
ten-class fit). Width 8 and a 16-d code, so each fit takes a second or two on one core."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_generators import bars, blobs
from torch import nn

from vaeimb.declarations.errors import ConfigError
from vaeimb.parts.generators import (
    GENERATORS,
    LEARNED,
    FitBudget,
    FitData,
    GeneratorError,
    make_generator,
)
from vaeimb.parts.generators.base import class_seed
from vaeimb.parts.generators.deepsmote import (
    PENALTY_IMAGES,
    DeepSmoteAutoencoder,
    DeepSmoteGenerator,
    fold_batchnorm,
    folded_decoder,
    permutation_penalty,
    reconstruction_mse,
)
from vaeimb.parts.generators.smote import smote_new_rows
from vaeimb.presentation.latent_js import (
    browser_decoder,
    decoder_spec,
    reference_decode,
)

BUDGET = FitBudget(steps=20, batch_size=32, lr=1e-3, latent_dim=4)
#: For tests that only compare two fits with each other.
SHORT = FitBudget(steps=4, batch_size=32, lr=1e-3, latent_dim=4)
SMALL = {"dim_h": 8, "n_z": 16}


DATA = FitData.pair(minority=blobs(30, 0), majority=bars(60, 1))


def fit(data: FitData = DATA, budget: FitBudget = BUDGET, seed: int = 0, **values) -> DeepSmoteGenerator:
    return make_generator("deepsmote", **{**SMALL, **values}).fit(data, budget, seed=seed)


@pytest.fixture(scope="module")
def fitted() -> DeepSmoteGenerator:
    return fit()


def weights(g: DeepSmoteGenerator) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in g.model.state_dict().items()}


# ---- the registry and the parameters --------------------------------------------------------
def test_registered_after_latent_smote_and_buildable_as_a_recipe():
    from vaeimb.running.recipes import build_approach

    names = list(GENERATORS)
    assert names[names.index("latent-smote") + 1] == "deepsmote" and "deepsmote" in LEARNED
    cls = GENERATORS["deepsmote"]
    assert cls is DeepSmoteGenerator and cls.uses_majority and cls.has_latent and cls.uses_budget
    assert "DeepSMOTE" in cls.cite and "\n" not in cls.description
    approach = build_approach("gen=deepsmote")
    assert approach.recipe.gen == "deepsmote"
    assert approach.values["gen"] == {"n_z": 300, "dim_h": 64, "penalty": 1.0, "k_neighbors": 5,
                                      "minority_fraction": None, "train_aug": "none", "steps_scale": 1.0,
                                      "filter_q": None}


@pytest.mark.parametrize("values, wrong", [
    ({"dim_h": 0}, "dim_h must be int in \\[4, 64\\], got 0"),
    ({"n_z": 1}, "n_z must be int in \\[2, 512\\], got 1"),
    ({"penalty": -1}, "penalty must be float in \\[0, 10\\], got -1"),
    ({"k_neighbors": 0}, "k_neighbors must be int in \\[1, 50\\]"),
])
def test_bad_parameters_are_refused_in_one_line(values, wrong):
    with pytest.raises(ConfigError, match=f"generator 'deepsmote': {wrong}") as err:
        make_generator("deepsmote", **values)
    assert "\n" not in str(err.value)


def test_data_it_cannot_fit_is_refused_in_one_line():
    few = FitData((bars(40, 1), blobs(30, 0), blobs(4, 2)), (1, 2))
    with pytest.raises(GeneratorError, match="k_neighbors=5 needs at least 6 minority images \\(got 4 of label 2\\); "
                                             "lower deepsmote.k_neighbors") as err:
        fit(few)
    assert "\n" not in str(err.value)
    with pytest.raises(GeneratorError, match="BatchNorm.*at least 2 images, got 1; raise the generator batch size"):
        fit(budget=FitBudget(steps=2, batch_size=1))
    with pytest.raises(GeneratorError, match="deepsmote.minority_fraction=1"):
        fit(FitData.pair(DATA.minority, DATA.majority[:0]))


# ---- fit and sample -------------------------------------------------------------------------
def test_fit_gives_a_deepsmote_autoencoder_with_its_own_latent_size(fitted):
    g = fitted
    assert g.latent_dim == 16 and g.model.latent_dim == 16  # n_z, not the budget's 4
    assert [type(m) for m in g.model.encoder] == [
        nn.Conv2d, nn.LeakyReLU, nn.Conv2d, nn.BatchNorm2d, nn.LeakyReLU, nn.Conv2d, nn.BatchNorm2d, nn.LeakyReLU,
        nn.Conv2d, nn.BatchNorm2d, nn.LeakyReLU, nn.Flatten, nn.Linear]
    assert [m.out_channels for m in g.model.encoder if isinstance(m, nn.Conv2d)] == [8, 16, 32, 64]
    assert all(m.bias is None for m in g.model.encoder if isinstance(m, nn.Conv2d))
    x = torch.zeros(3, 1, 28, 28)
    assert g.model.encoder[:-2](x).shape == (3, 64, 1, 1)  # 28 -> 14 -> 7 -> 3 -> 1
    assert g.model.decoder(torch.zeros(3, 16)).shape == (3, 1, 28, 28)  # 7 -> 10 -> 13 -> 28
    assert not g.model.training and not any(m.training for m in g.model.modules())  # eval mode after the fit
    bn = g.model.decoder[4]
    assert int(bn.num_batches_tracked) == 2 * BUDGET.steps  # trained in train mode: the batch and the penalty
    assert not torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))
    assert g.latent_mu.shape == (30, 16) and g.latent_mu.dtype == np.float32
    assert np.array_equal(g.kl_per_dim, np.zeros(16, np.float32))  # deterministic autoencoder
    assert np.array_equal(g.latent_mu, g.encode(DATA.minority))
    assert g.losses.shape == (BUDGET.steps,) and np.isfinite(g.losses).all()


def test_samples_are_uint8_and_seeded(fitted):
    a = fitted.sample(9, seed=3)
    assert a.shape == (9, 28, 28) and a.dtype == np.uint8 and a.max() > 0
    assert np.array_equal(a, fitted.sample(9, seed=3))
    assert not np.array_equal(a, fitted.sample(9, seed=4))
    assert fitted.sample(0, seed=3).shape == (0, 28, 28)


def test_samples_are_smote_between_the_labels_codes_decoded(fitted):
    z = smote_new_rows(fitted.latent_mu, 7, 5, seed=class_seed(2, 1))
    want = np.round(fitted.decode(z) * 255).astype(np.uint8)
    assert np.array_equal(fitted.sample(7, seed=2), want)


def test_the_same_seed_fits_the_same_model(fitted):
    again = fit()
    assert all(np.array_equal(v, weights(fitted)[k]) for k, v in weights(again).items())
    assert np.array_equal(again.sample(6, seed=1), fitted.sample(6, seed=1))
    assert not np.array_equal(fit(budget=SHORT, seed=1).sample(6, seed=1), fit(budget=SHORT).sample(6, seed=1))


def test_state_round_trip_gives_bit_identical_samples(fitted):
    meta, arrays = fitted.state()
    meta = json.loads(json.dumps(meta))
    assert meta["latent_dim"] == 16 and meta["values"] == fitted.values
    # BatchNorm's running statistics are part of the state
    assert {"state/decoder.4.running_mean", "state/decoder.4.running_var", "state/encoder.3.running_var"} <= set(arrays)
    loaded = make_generator("deepsmote", **meta["values"]).load_state(meta, arrays)
    assert np.array_equal(loaded.sample(11, seed=2), fitted.sample(11, seed=2))
    z = np.random.default_rng(0).standard_normal((5, 16)).astype(np.float32)
    assert np.array_equal(loaded.decode(z), fitted.decode(z))
    assert np.array_equal(loaded.encode(DATA.minority[:5]), fitted.encode(DATA.minority[:5]))
    assert all(np.array_equal(v, weights(fitted)[k]) for k, v in weights(loaded).items())
    with pytest.raises(GeneratorError, match="do not fit the model"):
        make_generator("deepsmote", **{**meta["values"], "dim_h": 16}).load_state(meta, arrays)


# ---- BatchNorm folded for the browser -------------------------------------------------------
def test_folding_a_batchnorm_keeps_the_output():
    torch.manual_seed(0)
    conv, bn = nn.ConvTranspose2d(6, 5, 4, stride=2), nn.BatchNorm2d(5).eval()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.2, 3), bn.weight.uniform_(0.5, 2)
        bn.bias.uniform_(-1, 1)
    x = torch.randn(3, 6, 7, 7)
    with torch.no_grad():
        np.testing.assert_allclose(fold_batchnorm(conv, bn)(x).numpy(), bn(conv(x)).numpy(), atol=1e-5)
    with pytest.raises(GeneratorError, match="only into the transposed conv just before it"):
        folded_decoder(nn.Sequential(nn.Linear(2, 5), nn.BatchNorm2d(5)))


def test_decoder_module_is_the_decoder_folded_into_plain_layers(fitted):
    dec = fitted.decoder_module()
    assert [type(m) for m in dec] == [nn.Linear, nn.ReLU, nn.Unflatten, nn.ConvTranspose2d, nn.ReLU,
                                      nn.ConvTranspose2d, nn.ReLU, nn.ConvTranspose2d]
    z = torch.from_numpy(np.random.default_rng(1).standard_normal((6, 16)).astype(np.float32))
    with torch.no_grad():
        folded, model = dec(z), fitted.model.decoder(z)
    np.testing.assert_allclose(folded.numpy(), model.numpy(), atol=1e-5, rtol=0)
    assert fitted.decoder_module(1) is dec  # one decoder for every label, built once
    assert np.array_equal(torch.sigmoid(folded)[:, 0].numpy(), fitted.decode(z.numpy()))
    # the in-browser decoder takes it and decodes the same images
    module, condition = browser_decoder(fitted)
    assert module is dec and condition is None
    spec = decoder_spec(module, fitted.latent_dim)
    np.testing.assert_allclose(reference_decode(spec, z.numpy()), fitted.decode(z.numpy()), atol=1e-5)


# ---- the permutation penalty ----------------------------------------------------------------
def test_penalty_decodes_the_shifted_detached_codes_against_the_shifted_images():
    torch.manual_seed(0)
    model = DeepSmoteAutoencoder(n_z=16, dim_h=8)
    x = torch.rand(5, 28, 28)
    seen = []
    decode = model.decode_logits
    model.decode_logits = lambda z: (seen.append(z), decode(z))[1]
    loss = permutation_penalty(model, x)
    with torch.no_grad():
        codes = model.encode(x)
    shifted = [1, 2, 3, 4, 0]  # i -> i + 1 mod n
    assert torch.equal(seen[0], codes[shifted]) and not seen[0].requires_grad
    with torch.no_grad():
        want = reconstruction_mse(decode(codes[shifted]), x[shifted])
        unshifted = reconstruction_mse(decode(codes), x[[4, 0, 1, 2, 3]])
    assert torch.equal(loss.detach(), want) and not torch.isclose(loss.detach(), unshifted)
    model.zero_grad()
    loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())  # the codes are detached
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.decoder.parameters())


def test_penalty_changes_training():
    plain, with_penalty = fit(budget=SHORT, penalty=0.0), fit(budget=SHORT)
    assert int(plain.model.decoder[4].num_batches_tracked) == SHORT.steps  # no penalty pass
    assert int(with_penalty.model.decoder[4].num_batches_tracked) == 2 * SHORT.steps
    assert not all(np.array_equal(v, weights(with_penalty)[k]) for k, v in weights(plain).items())


def test_penalty_draws_from_labels_with_two_images_and_never_more_than_100(monkeypatch):
    sizes = []
    real = permutation_penalty

    def spy(model, images):
        sizes.append(len(images))
        return real(model, images)

    monkeypatch.setattr("vaeimb.parts.generators.deepsmote.permutation_penalty", spy)
    # label 0 has a single image (BatchNorm needs two), label 2 more than 100
    data = FitData((bars(1, 1), blobs(30, 0), blobs(130, 2)), (1, 2))
    g = fit(data, FitBudget(steps=8, batch_size=8, latent_dim=4))
    assert set(sizes) == {30, PENALTY_IMAGES}
    assert g.sample(3, seed=0, label=2).shape == (3, 28, 28)


def test_minority_fraction_one_trains_on_the_labels_to_fill_alone():
    a = fit(budget=SHORT, minority_fraction=1.0)
    b = fit(FitData.pair(DATA.minority, bars(60, 7)), SHORT, minority_fraction=1.0)
    assert all(np.array_equal(v, weights(a)[k]) for k, v in weights(b).items())


# ---- ten classes ------------------------------------------------------------------------------
def test_ten_class_fit_fills_labels_1_to_9(mnist_dir):
    from vaeimb.parts.data import load_images

    mnist = load_images(mnist_dir)
    by_class = [mnist.train_images[mnist.train_labels == d][:40 if d == 0 else 12] for d in range(10)]
    g = make_generator("deepsmote", **SMALL).fit(FitData(by_class, tuple(range(1, 10))),
                                                 FitBudget(steps=10, batch_size=32), seed=0)
    assert (g.fill, g.n_classes) == (tuple(range(1, 10)), 10)
    out = {c: g.sample(4, seed=1, label=c) for c in range(1, 10)}
    assert all(o.shape == (4, 28, 28) and o.dtype == np.uint8 for o in out.values())
    assert not np.array_equal(out[1], out[2])
    for c in range(1, 10):
        assert np.array_equal(g.latent_mu_of(c), g.encode(by_class[c], label=c))
    with pytest.raises(GeneratorError, match="not 0"):
        g.sample(2, seed=0, label=0)
    # one autoencoder serves every label, the head's too
    x = torch.from_numpy(by_class[0][:3]).float() / 255
    with torch.no_grad():
        z0, none = g._posterior(x, 0)
        assert none is None and torch.equal(g._decode_logits(z0, 0), g._decode_logits(z0, 5))
    if hasattr(g, "reconstruct"):  # the base's pass through the autoencoder, where it has one
        assert np.array_equal(g.reconstruct(by_class[0][:3], 0), np.round(g.decode(z0.numpy()) * 255).astype(np.uint8))
