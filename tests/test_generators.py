"""Every generator against the one contract, on small synthetic digits (no MNIST needed).

"Minority" images are blobs, "majority" images bars; budgets are tens of steps, so the
whole file trains in seconds on one core.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from vaeimb.declarations.errors import ConfigError
from vaeimb.parts.generators import (
    GENERATORS,
    FitBudget,
    FitData,
    Generator,
    GeneratorError,
    LatentGenerator,
    get_generator,
    make_generator,
)
from vaeimb.parts.generators.base import batch_indices, mixed_batch_indices
from vaeimb.parts.generators.smote import smote_new_rows

BUDGET = FitBudget(steps=20, batch_size=16, lr=1e-3, latent_dim=4)
LEARNED = [n for n, c in GENERATORS.items() if issubclass(c, LatentGenerator)]
#: Sizes that train in seconds, and a code of the budget's size, for generators whose
#: defaults are large (DeepSMOTE's own: dim_h 64, a 300-d code).
SMALL = {"deepsmote": {"dim_h": 8, "n_z": 4}}


def blobs(n: int, seed: int) -> np.ndarray:
    """``n`` uint8 Gaussian blobs at random places: a stand-in minority class."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:28, :28]
    cy, cx = rng.uniform(8, 20, (2, n, 1, 1))
    return (255 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0)).round().astype(np.uint8)


def bars(n: int, seed: int) -> np.ndarray:
    """``n`` uint8 horizontal bars at random heights: a stand-in majority class."""
    rows = np.random.default_rng(seed).integers(4, 22, n)
    out = np.zeros((n, 28, 28), np.uint8)
    for i, r in enumerate(rows):
        out[i, r : r + 3, 5:23] = 255
    return out


DATA = FitData.pair(minority=blobs(20, 0), majority=bars(60, 1))


@pytest.fixture(scope="module")
def fitted() -> dict[str, Generator]:
    return {name: make_generator(name, **SMALL.get(name, {})).fit(DATA, BUDGET, seed=0) for name in GENERATORS}


# ---- registry and parameters ---------------------------------------------------------------
def test_registry_names_and_lookup():
    assert list(GENERATORS) == ["vae", "cvae", "latent-smote", "deepsmote", "smote", "augment"]
    assert get_generator("smote").name == "smote"
    with pytest.raises(ConfigError, match="Unknown generator 'gan'; choose from vae, cvae"):
        get_generator("gan")
    assert make_generator("augment", degrees=5).values["degrees"] == 5.0
    assert [GENERATORS[n].uses_majority for n in GENERATORS] == [False, True, True, True, False, False]
    assert [GENERATORS[n].has_latent for n in GENERATORS] == [True, True, True, True, False, False]


@pytest.mark.parametrize("name", list(GENERATORS))
def test_unknown_parameter_refused(name):
    with pytest.raises(ConfigError, match=f"generator '{name}': unknown parameter\\(s\\) bogus"):
        make_generator(name, bogus=1)


@pytest.mark.parametrize("name, values, wrong", [
    ("smote", {"k_neighbors": 0}, "k_neighbors must be int in \\[1, 50\\]"),
    ("latent-smote", {"k_neighbors": 2.5}, "k_neighbors must be int"),
    ("cvae", {"minority_fraction": 0.0}, "minority_fraction must be float in \\[0.05, 1\\]"),
    ("augment", {"degrees": -1}, "degrees must be float in \\[0, 180\\]"),
    ("augment", {"scale_low": 1.2}, "scale_low \\(1.2\\) must not exceed scale_high \\(1.1\\)"),
])
def test_out_of_range_parameter_refused(name, values, wrong):
    with pytest.raises(ConfigError, match=wrong):
        make_generator(name, **values)


# ---- the contract, for every generator -----------------------------------------------------
@pytest.mark.parametrize("name", list(GENERATORS))
def test_samples_are_uint8_digits_and_seeded(fitted, name):
    g = fitted[name]
    a = g.sample(9, seed=3)
    assert a.shape == (9, 28, 28) and a.dtype == np.uint8
    assert a.max() > 0
    assert np.array_equal(a, g.sample(9, seed=3))
    assert not np.array_equal(a, g.sample(9, seed=4))
    assert g.sample(0, seed=3).shape == (0, 28, 28)
    assert g.info["n_minority"] == 20 and g.info["n_majority"] == 60


@pytest.mark.parametrize("name", list(GENERATORS))
def test_same_seed_fits_the_same_generator(fitted, name):
    again = make_generator(name, **SMALL.get(name, {})).fit(DATA, BUDGET, seed=0)
    assert np.array_equal(again.sample(6, seed=1), fitted[name].sample(6, seed=1))
    if name in LEARNED:
        other = make_generator(name, **SMALL.get(name, {})).fit(DATA, BUDGET, seed=1)
        assert not np.array_equal(other.sample(6, seed=1), fitted[name].sample(6, seed=1))


@pytest.mark.parametrize("name", list(GENERATORS))
def test_state_round_trip_gives_identical_samples(fitted, name):
    g = fitted[name]
    meta, arrays = g.state()
    meta = json.loads(json.dumps(meta))  # JSON-able
    assert meta["generator"] == name and meta["values"] == g.values
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    weights = {k: v for k, v in arrays.items() if k.startswith("state/")}
    assert all(v.dtype == np.float32 for v in weights.values())
    assert bool(weights) == (name in LEARNED)
    loaded = make_generator(name, **meta["values"]).load_state(meta, arrays)
    assert np.array_equal(loaded.sample(11, seed=2), g.sample(11, seed=2))
    assert loaded.info == meta["info"]
    if name in LEARNED:
        z = np.random.default_rng(0).standard_normal((5, g.latent_dim)).astype(np.float32)
        assert np.array_equal(loaded.decode(z), g.decode(z))
        assert np.array_equal(loaded.encode(DATA.minority[:5]), g.encode(DATA.minority[:5]))
        for field in ("latent_mu", "kl_per_dim", "losses"):
            assert np.array_equal(getattr(loaded, field), getattr(g, field))


@pytest.mark.parametrize("name", list(GENERATORS))
def test_unfitted_generator_refuses_to_sample(name):
    with pytest.raises(GeneratorError, match="not fitted yet"):
        make_generator(name, **SMALL.get(name, {})).sample(3, seed=0)


def test_mismatched_weights_are_refused(fitted):
    meta, arrays = fitted["vae"].state()
    with pytest.raises(GeneratorError, match="do not fit the model"):
        make_generator("vae").load_state({**meta, "latent_dim": 7}, arrays)


# ---- the latent generators ----------------------------------------------------------------
@pytest.mark.parametrize("name", LEARNED)
def test_decoder_module_matches_decode(fitted, name):
    g = fitted[name]
    dec = g.decoder_module()
    assert isinstance(dec, nn.Sequential)
    allowed = (nn.Linear, nn.ReLU, nn.Unflatten, nn.ConvTranspose2d, nn.Flatten)
    assert all(isinstance(layer, allowed) for layer in dec)
    z = np.random.default_rng(1).standard_normal((4, g.latent_dim)).astype(np.float32)
    cond = g.decoder_condition()
    zin = z if cond is None else np.hstack([z, np.tile(cond, (len(z), 1))])
    with torch.no_grad():
        logits = dec(torch.from_numpy(zin.astype(np.float32)))
    assert logits.shape == (4, 1, 28, 28)
    np.testing.assert_allclose(torch.sigmoid(logits)[:, 0].numpy(), g.decode(z), atol=1e-6)


@pytest.mark.parametrize("name", LEARNED)
def test_latent_summaries_have_the_right_shapes(fitted, name):
    g = fitted[name]
    assert g.latent_dim == BUDGET.latent_dim
    assert g.latent_mu.shape == (20, 4) and g.latent_mu.dtype == np.float32
    assert np.array_equal(g.latent_mu, g.encode(DATA.minority))
    assert g.kl_per_dim.shape == (4,) and g.losses.ndim == 1 and np.isfinite(g.losses).all()
    assert g.encode(DATA.minority[:0]).shape == (0, 4)
    assert g.decode(np.zeros((2, 4), np.float32)).shape == (2, 28, 28)


#: deepsmote's loss (an MSE of sigmoid outputs, after BatchNorm) is bounded: it cannot diverge.
@pytest.mark.parametrize("name", [n for n in LEARNED if n != "deepsmote"])
def test_diverging_fit_is_refused(name):
    with pytest.raises(GeneratorError, match=f"generator '{name}' diverged .*lower its learning rate"):
        make_generator(name, **SMALL.get(name, {})).fit(DATA, FitBudget(steps=20, batch_size=16, lr=1e6, latent_dim=4), seed=0)


def test_progress_reaches_the_last_step():
    seen = []
    make_generator("vae").fit(DATA, FitBudget(steps=10, batch_size=8, latent_dim=2), seed=0,
                              progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (10, 10) and len(seen) == 10


def test_vae_cycle_batching_trains_differently_from_random(fitted):
    g = make_generator("vae").fit(DATA, FitBudget(steps=20, batch_size=16, latent_dim=4, batching="cycle"), seed=0)
    assert not np.array_equal(g.losses, fitted["vae"].losses)
    with pytest.raises(GeneratorError, match="unknown batching 'shuffle'"):
        make_generator("vae").fit(DATA, FitBudget(steps=2, batching="shuffle"), seed=0)


def test_cvae_samples_with_the_minority_label(fitted):
    g = fitted["cvae"]
    assert g.decoder_condition().tolist() == [0.0, 1.0]
    # the label matters: the majority condition decodes the same codes differently
    z = torch.zeros((1, 4))
    with torch.no_grad():
        as_majority = torch.sigmoid(g.decoder_module()(torch.cat([z, torch.tensor([[1.0, 0.0]])], 1)))
    assert not np.allclose(as_majority[:, 0].numpy(), g.decode(z.numpy()))


@pytest.mark.parametrize("name", ["cvae", "latent-smote"])
def test_conditional_models_need_majority_images(name):
    with pytest.raises(GeneratorError, match=f"{name}.minority_fraction=1"):
        make_generator(name, **SMALL.get(name, {})).fit(FitData.pair(DATA.minority, DATA.majority[:0]), BUDGET, seed=0)
    g = make_generator(name, minority_fraction=1.0).fit(FitData.pair(DATA.minority, DATA.majority[:0]), BUDGET, seed=0)
    assert g.sample(2, seed=0).shape == (2, 28, 28)


def test_latent_smote_decodes_smote_codes_of_the_minority(fitted):
    g = fitted["latent-smote"]
    assert np.array_equal(g.kl_per_dim, np.zeros(4, np.float32))  # deterministic autoencoder
    z = smote_new_rows(g.latent_mu, 6, 5, seed=2)
    assert z.shape == (6, 4)
    assert np.array_equal(g.sample(6, seed=2), np.round(g.decode(z) * 255).astype(np.uint8))
    assert on_segments(z, g.latent_mu)


# ---- SMOTE and augmentation -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["smote", "latent-smote"])
def test_too_few_minority_images_for_the_neighbours(name):
    few = FitData.pair(DATA.minority[:5], DATA.majority)
    with pytest.raises(GeneratorError, match=f"k_neighbors=5 needs at least 6 minority images \\(got 5\\); "
                                             f"lower {name}.k_neighbors"):
        make_generator(name, **SMALL.get(name, {})).fit(few, BUDGET, seed=0)
    assert make_generator(name, k_neighbors=4).fit(few, BUDGET, seed=0).sample(3, seed=0).shape == (3, 28, 28)


def on_segments(new: np.ndarray, points: np.ndarray) -> bool:
    """Whether every row of ``new`` lies on a segment between two rows of ``points``."""
    for row in new:
        d = points - row
        norms = np.linalg.norm(d, axis=1)
        if (norms < 1e-6).any():
            continue
        if ((d @ d.T) / np.outer(norms, norms)).min() > -1 + 1e-4:  # no two points on opposite sides
            return False
    return True


def test_smote_images_lie_between_two_minority_images(fitted):
    real = DATA.minority.reshape(20, -1).astype(np.float32)
    new = smote_new_rows(real, 8, 5, seed=0)
    assert on_segments(new, real)
    assert not on_segments(real[:3] + 1.0, real)  # the check can fail
    assert np.array_equal(fitted["smote"].sample(8, seed=0).reshape(8, -1), np.round(new).astype(np.uint8))


def test_augment_without_jitter_copies_every_image_equally():
    g = make_generator("augment", degrees=0, translate=0, scale_low=1, scale_high=1).fit(DATA, BUDGET, seed=0)
    out = g.sample(40, seed=0)
    match = [int(np.flatnonzero((DATA.minority == img).all((1, 2)))[0]) for img in out]
    assert np.bincount(match, minlength=20).tolist() == [2] * 20


def test_augment_jitter_changes_the_images(fitted):
    out = fitted["augment"].sample(20, seed=0)
    same = [(DATA.minority == img).all((1, 2)).any() for img in out]
    assert sum(same) < 5


# ---- batch schedules -----------------------------------------------------------------------
def test_cycle_visits_every_image_in_order():
    gen = torch.Generator().manual_seed(0)
    steps = [batch_indices(k, 10, 4, "cycle", gen) for k in range(5)]
    assert torch.cat(steps).tolist() == [i % 10 for i in range(20)]
    # the original experiment: 100 images, batch 100: every step sees all of them in order
    assert batch_indices(7, 100, 100, "cycle", gen).tolist() == list(range(100))
    assert batch_indices(3, 6, 64, "cycle", gen).tolist() == list(range(6))  # never more than n


def test_random_batches_are_seeded_draws_with_replacement():
    a = batch_indices(0, 10, 64, "random", torch.Generator().manual_seed(1))
    b = batch_indices(0, 10, 64, "random", torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and len(a) == 10 and 0 <= int(a.min()) and int(a.max()) < 10
    big = batch_indices(0, 1000, 500, "random", torch.Generator().manual_seed(1))
    assert len(torch.unique(big)) < 500  # with replacement


def test_mixed_batches_split_by_minority_fraction():
    gen = torch.Generator().manual_seed(0)
    idx = mixed_batch_indices(0, [60, 20], [1], 16, 0.25, "random", gen)
    assert list(idx) == [1, 0] and (len(idx[1]), len(idx[0])) == (4, 12)  # the minority is drawn first
    firsts = [mixed_batch_indices(k, [60, 6], [1], 16, 0.25, "cycle", gen) for k in range(3)]
    assert torch.cat([b[1] for b in firsts]).tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]
    assert torch.cat([b[0] for b in firsts]).tolist() == list(range(36))
    idx = mixed_batch_indices(0, [0, 20], [1], 16, 1.0, "cycle", gen)
    assert len(idx[1]) == 16 and len(idx[0]) == 0
    idx = mixed_batch_indices(0, [60, 20], [1], 15, None, "cycle", gen)  # none: equal shares, 0.5 for a pair
    assert (len(idx[1]), len(idx[0])) == (8, 7)
