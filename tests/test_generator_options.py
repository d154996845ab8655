"""Issue #23's generator options: capacity, augmented training, KL annealing, where codes
are sampled (prior temperature, the real codes' neighbourhood), the confidence filter and
reconstruction. Small synthetic digits and tens of steps: seconds on one core.

The defaults reproduce the fits and samples from before these options existed: that is
``test_generators_multiclass.py``'s bit-for-bit comparison with the old package.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from test_generators import bars, blobs

from vaeimb.declarations.errors import ConfigError
from vaeimb.parts.generators import FitBudget, FitData, GeneratorError, make_generator
from vaeimb.parts.generators import filter as filter_module
from vaeimb.parts.generators.base import kl_weight
from vaeimb.parts.models import vae_loss
from vaeimb.running.recipes import build_approach

BUDGET = FitBudget(steps=20, batch_size=16, lr=1e-3, latent_dim=4)
#: Three classes: bars (the head), blobs, and blobs again (two labels to fill), named.
DATA3 = FitData((bars(60, 1), blobs(20, 0), blobs(12, 5)), (1, 2), names=("digit 0", "digit 6", "digit 9"))


@pytest.fixture(autouse=True)
def short_filter(monkeypatch):
    """The confidence filter trains 1000 steps for real; 30 here."""
    monkeypatch.setattr(filter_module, "FILTER_STEPS", 30)


def fit(name: str, **values):
    return make_generator(name, **values).fit(DATA3, BUDGET, seed=0)


def state_dict_equal(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---- training: capacity, augmentation, KL annealing --------------------------------------
@pytest.mark.parametrize("name", ["vae", "cvae", "latent-smote"])
def test_width_multiplies_the_channels_and_round_trips(name):
    g = fit(name, width=2)
    model = g.fits[1].model if name == "vae" else g.model
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64]
    meta, arrays = g.state()
    loaded = make_generator(name, width=2).load_state(meta, arrays)
    assert np.array_equal(loaded.sample(9, seed=4, label=2), g.sample(9, seed=4, label=2))


@pytest.mark.parametrize("name", ["vae", "cvae", "latent-smote"])
def test_augmented_training_changes_the_fit_and_is_seeded(name):
    plain, jittered = fit(name), fit(name, train_aug="affine")
    again = fit(name, train_aug="affine")
    model = (lambda g: g.fits[1].model) if name == "vae" else (lambda g: g.model)
    assert not state_dict_equal(model(plain), model(jittered))
    assert state_dict_equal(model(jittered), model(again))


@pytest.mark.parametrize("name", ["vae", "cvae", "latent-smote", "deepsmote"])
def test_steps_scale_trains_longer(name):
    small = {"dim_h": 8, "n_z": 4} if name == "deepsmote" else {}
    seen = []
    g = make_generator(name, steps_scale=2.0, **small).fit(DATA3, BUDGET, seed=0, progress=lambda d, t: seen.append(t))
    assert set(seen) == {80 if name == "vae" else 40} and len(fit(name, **small).losses if name != "vae" else fit(name).fits[1].losses) == 20
    assert len(g.fits[1].losses if name == "vae" else g.losses) == 40


def test_kl_weight_rises_linearly_over_the_warmup():
    assert kl_weight(1, 100, 0.0) == 1.0
    assert [kl_weight(s, 100, 0.5) for s in (1, 25, 50, 51, 100)] == [0.02, 0.5, 1.0, 1.0, 1.0]


def test_vae_loss_weighs_the_kl_by_beta():
    torch.manual_seed(0)
    logits, x = torch.randn(3, 28, 28), torch.rand(3, 28, 28)
    mu, logvar = torch.randn(3, 4), torch.randn(3, 4)
    full, none = vae_loss(logits, x, mu, logvar), vae_loss(logits, x, mu, logvar, 0.0)
    assert torch.isclose(vae_loss(logits, x, mu, logvar, 0.25), none + 0.25 * (full - none))


@pytest.mark.parametrize("name", ["vae", "cvae"])
def test_kl_annealing_changes_the_fit(name):
    model = (lambda g: g.fits[1].model) if name == "vae" else (lambda g: g.model)
    assert not state_dict_equal(model(fit(name)), model(fit(name, beta_warmup=0.5)))


# ---- sampling: temperature and the codes' neighbourhood --------------------------------------
def test_temperature_scales_the_prior_codes(monkeypatch):
    g = fit("cvae")
    seen = []
    monkeypatch.setattr(type(g), "_images", lambda self, z, label: seen.append(z.clone()) or np.zeros((len(z), 28, 28), np.uint8))
    g.sample(50, seed=1, label=1)
    g.values = {**g.values, "temperature": 0.5}
    g.sample(50, seed=1, label=1)
    assert torch.allclose(seen[1], 0.5 * seen[0])


@pytest.mark.parametrize("name", ["vae", "cvae"])
def test_posterior_sampling_draws_around_the_real_codes(name, monkeypatch):
    g = fit(name, sampling="posterior", temperature=1e-6)
    mu, sd = g.latent_mu_of(2), g.spread_of(2)
    assert mu.shape == sd.shape == (12, 4) and (sd > 0).all()
    seen = []
    monkeypatch.setattr(type(g), "_images", lambda self, z, label: seen.append(z.clone()) or np.zeros((len(z), 28, 28), np.uint8))
    g.sample(24, seed=3, label=2)
    z = seen[0].numpy()
    # a tiny temperature: every code is a real image's code, each real image the centre of two
    # of the 24 (a cycled permutation)
    dist = np.abs(z[:, None, :] - mu[None]).max(axis=2)
    assert (dist.min(axis=1) < 1e-4).all()
    assert np.bincount(dist.argmin(axis=1), minlength=12).tolist() == [2] * 12
    # at t = 1 the codes spread around those centres by each image's posterior spread
    g.values = {**g.values, "temperature": 1.0}
    g.sample(24, seed=3, label=2)
    rows = dist.argmin(axis=1)
    scaled = (seen[1].numpy() - mu[rows]) / sd[rows]
    assert 0.5 < scaled.std() < 1.5


def test_posterior_sampling_is_seeded_and_round_trips():
    g = fit("cvae", sampling="posterior")
    a = g.sample(10, seed=2, label=2)
    assert np.array_equal(a, g.sample(10, seed=2, label=2)) and not np.array_equal(a, g.sample(10, seed=3, label=2))
    meta, arrays = g.state()
    assert "class2/latent_sd" in arrays
    assert np.array_equal(make_generator("cvae", sampling="posterior").load_state(meta, arrays).sample(10, seed=2, label=2), a)
    # a state stored without spreads (before they were kept) samples its prior, and says why not its posterior
    old = {k: v for k, v in arrays.items() if not k.endswith("latent_sd")}
    with pytest.raises(GeneratorError, match="stored no posterior spreads of digit 9; refit it"):
        make_generator("cvae", sampling="posterior").load_state(meta, old).sample(3, seed=0, label=2)


# ---- the confidence filter ----------------------------------------------------------------
def test_the_filter_keeps_only_confident_images_and_reports_its_rejections():
    g = fit("smote", filter_q=0.6, k_neighbors=3)
    assert g.filter is not None
    probe = g.info["filter"]
    assert set(probe) == {"1", "2"} and all(0.0 <= p["rejection"] <= 1.0 and p["drawn"] == 500 for p in probe.values())
    out = g.sample(40, seed=1, label=2)
    assert out.shape == (40, 28, 28) and out.dtype == np.uint8
    stats = g.filter_stats[2]
    if stats["repeated"] == 0:  # every image a fresh candidate that passed
        assert (g.filter.probabilities(out, 2) >= 0.6).all()
    assert stats["kept"] >= 1 and stats["drawn"] >= 40
    assert np.array_equal(out, g.sample(40, seed=1, label=2))


def test_the_filter_is_trained_on_the_generators_real_images_and_stored():
    g = fit("augment", filter_q=0.5)
    meta, arrays = g.state()
    assert any(k.startswith("filter/") for k in arrays)
    loaded = make_generator("augment", filter_q=0.5).load_state(meta, arrays)
    assert np.array_equal(loaded.sample(15, seed=0, label=1), g.sample(15, seed=0, label=1))
    # the filter separates the head (bars) from the blobs it was trained on
    assert (g.filter.probabilities(bars(20, 9), 0) > 0.5).mean() > 0.8
    without = {k: v for k, v in arrays.items() if not k.startswith("filter/")}
    with pytest.raises(GeneratorError, match="no confidence filter; refit it"):
        make_generator("augment", filter_q=0.5).load_state(meta, without)


def test_a_filter_that_keeps_nothing_names_the_class(monkeypatch):
    g = fit("augment", filter_q=0.5)
    monkeypatch.setattr(g.filter, "keep", lambda images, label, q: np.zeros(len(images), bool))
    with pytest.raises(GeneratorError) as err:
        g.sample(5, seed=0, label=2)
    msg = str(err.value)
    assert "kept none of 100 generated images of digit 9" in msg and "lower filter_q" in msg and "\n" not in msg


def test_a_filter_that_keeps_few_repeats_them(monkeypatch):
    g = fit("augment", filter_q=0.5)
    monkeypatch.setattr(g.filter, "keep", lambda images, label, q: np.arange(len(images)) == 0)
    out = g.sample(30, seed=0, label=1)
    assert g.filter_stats[1] == {"q": 0.5, "drawn": 600, "kept": 20, "rejection": 1.0 - 20 / 600, "repeated": 10}
    assert np.array_equal(out[20:], out[:10])


@pytest.mark.parametrize("q", [0.0, 1.0, 1.5, -0.1])
def test_filter_q_outside_the_open_unit_interval_is_one_line(q):
    with pytest.raises(ConfigError) as err:
        build_approach("gen=cvae", overrides={"gen.filter_q": q})
    assert "filter_q must be float in (0, 1) | none" in str(err.value) and "\n" not in str(err.value)
    assert build_approach("gen=cvae", overrides={"gen.filter_q": 0.5}).values["gen"]["filter_q"] == 0.5


@pytest.mark.parametrize("t", [0.0, -1.0])
def test_a_temperature_of_zero_or_less_is_one_line(t):
    with pytest.raises(ConfigError, match=r"temperature must be float in \(0, 10\]"):
        build_approach("gen=vae", overrides={"gen.temperature": t})


def test_bad_choices_are_refused_by_their_declaration():
    with pytest.raises(ConfigError, match="train_aug must be"):
        build_approach("gen=cvae", overrides={"gen.train_aug": "rotate"})
    with pytest.raises(ConfigError, match="sampling must be"):
        build_approach("gen=cvae", overrides={"gen.sampling": "nearest"})
    with pytest.raises(ConfigError, match="width must be"):
        build_approach("gen=cvae", overrides={"gen.width": 0})


# ---- reconstruction: the artefact of the generator's decoder, for real images --------------
def test_a_generator_of_every_class_reconstructs_every_class():
    g = fit("cvae")
    real = bars(6, 3)
    out = g.reconstruct(real, 0)
    assert out.shape == real.shape and out.dtype == np.uint8 and not np.array_equal(out, real)
    assert np.array_equal(out, g.reconstruct(real, 0))
    assert g.reconstruct(real[:0], 0).shape == (0, 28, 28)


def test_a_generator_per_filled_class_or_without_a_latent_space_refuses():
    with pytest.raises(GeneratorError, match="learns only the labels it fills, not digit 0"):
        fit("vae").reconstruct(bars(3, 0), 0)
    assert fit("vae").reconstruct(blobs(3, 0), 1).shape == (3, 28, 28)
    with pytest.raises(GeneratorError, match="no autoencoder"):
        fit("smote", k_neighbors=3).reconstruct(bars(3, 0), 0)


# ---- in an experiment: an empty filter fails its seed, by name; nothing of it is cached ---------
def test_a_filter_that_keeps_nothing_is_a_recorded_failure_of_that_seed(tiny_config, cache, mnist_dir, monkeypatch):
    from vaeimb.parts.generators.filter import ConfidenceFilter
    from vaeimb.studies.experiment import run_experiment

    monkeypatch.setattr(ConfidenceFilter, "keep", lambda self, images, label, q: np.zeros(len(images), bool))
    name = "gen=augment,batches=balanced"
    cfg = replace(tiny_config, approach_params={name: {"gen.filter_q": 0.5}})
    res = run_experiment(cfg, ["augment-posthoc", name], seeds=[0, 1], cache=cache, data_dir=mnist_dir)
    assert set(res.failures[name]) == {0, 1} and not res.runs.get(name)
    msg = res.failures[name][0]
    assert "kept none of" in msg and "digit 6" in msg and "lower filter_q" in msg and "\n" not in msg
    assert set(res.runs["augment-posthoc"]) == set(res.runs["oversample"]) == {0, 1}  # the others keep theirs
    # cached: those four classifiers (its twin oversample's among them), none of the failed recipe's
    assert len(list((cache.root / "classifier").glob("*.npz"))) == 4


def test_generators_with_other_values_are_measured_apart():
    from vaeimb.running.results import generator_label

    assert generator_label(build_approach("cvae")) == generator_label(build_approach("cvae-augment-posthoc")) == "cvae"
    plus = generator_label(build_approach("cvae-plus-remix"))
    assert plus == ("cvae[beta_warmup=0.3,filter_q=0.9,sampling=posterior,steps_scale=2.0,temperature=2.0,"
                    "train_aug=affine,width=2]")
    assert generator_label(build_approach("cvae-plus-crt")) == plus
    with pytest.raises(ValueError, match="uses no generator"):
        generator_label(build_approach("baseline"))
