import numpy as np
import pytest

from vaeimb.parts.data import load_images, make_experiment_data
from vaeimb.parts.generators.base import LatentGenerator
from vaeimb.presentation import latent
from vaeimb.studies.experiment import load_generator


@pytest.fixture(scope="module")
def vae(tiny_run, mnist_dir):
    result, cache = tiny_run
    gen = load_generator(result.config, "vae", 0, cache=cache, data_dir=mnist_dir)
    assert isinstance(gen, LatentGenerator) and gen.latent_dim == result.config.latent_dim
    data = make_experiment_data(result.config, 0, load_images(mnist_dir))
    return gen, gen, data


def test_dimensions_ordered_by_kl(vae):
    art, _, _ = vae
    order = latent.dimensions_by_activity(art)
    assert sorted(order) == list(range(art.latent_dim))
    assert (np.diff(art.kl_per_dim[order]) <= 0).all()
    active = latent.active_dimensions(art, min_kl=0.0)
    assert list(active) == list(order[art.kl_per_dim[order] > 0])


def test_decode_encode_shapes_and_ranges(vae):
    art, model, data = vae
    z = latent.mean_code(art)
    assert np.allclose(z, art.latent_mu.mean(0), atol=1e-6)
    img = latent.decode(model, z)
    assert img.shape == (28, 28) and 0 <= img.min() and img.max() <= 1
    moved = z.copy()
    moved[latent.dimensions_by_activity(art)[0]] += 3
    assert not np.allclose(latent.decode(model, moved), img)  # a slider move changes the image
    assert latent.decode(model, np.zeros((4, art.latent_dim))).shape == (4, 28, 28)
    mu = latent.encode(model, data.generator_x)
    assert np.allclose(mu, art.latent_mu, atol=1e-4)
    assert latent.reconstruct(model, data.generator_x[:3]).shape == (3, 28, 28)
    assert latent.encode(model, data.generator_x[:0]).shape == (0, art.latent_dim)


def test_random_code_and_slider_range(vae):
    art, _, _ = vae
    assert np.array_equal(latent.random_code(20, 3), latent.random_code(20, 3))
    assert not np.array_equal(latent.random_code(20, 3), latent.random_code(20, 4))
    for d in range(art.latent_dim):
        lo, hi = latent.slider_range(art, d)
        assert lo <= -3 and hi >= 3 and lo <= art.latent_mu[:, d].min() and hi >= art.latent_mu[:, d].max()


def test_interpolation_runs_between_the_two_images(vae):
    _, model, data = vae
    a, b = data.generator_x[0], data.generator_x[1]
    strip = latent.interpolate(model, a, b, 6)
    assert strip.shape == (6, 28, 28)
    assert np.allclose(strip[0], latent.reconstruct(model, a[None])[0], atol=1e-5)
    assert np.allclose(strip[-1], latent.reconstruct(model, b[None])[0], atol=1e-5)
    with pytest.raises(ValueError):
        latent.interpolate(model, a, b, 1)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_latent_map(vae, method):
    art, model, data = vae
    generated = art.sample(280, seed=0)
    m = latent.latent_map(model, data.generator_x, generated, data.train_x[data.train_y == 0], method=method, max_per_kind=40)
    kinds, counts = np.unique(m.kinds, return_counts=True)
    assert dict(zip(kinds, counts)) == {"real minority": 20, "generated": 40, "majority": 40}
    assert m.coords.shape == (100, 2) and m.images.shape == (100, 28, 28) and np.isfinite(m.coords).all()
    assert np.array_equal(m.images[:20], data.generator_x)
    if method == "pca":
        assert 0 < m.explained[0] <= 1 and m.explained[0] >= m.explained[1]
    with pytest.raises(ValueError):
        latent.latent_map(model, data.generator_x, generated, data.generator_x, method="umap")


def test_pca_matches_numpy_covariance_axes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5)) * np.array([5, 2, 1, 0.5, 0.1])
    coords, explained = latent.pca_2d(x)
    assert coords[:, 0].var() > coords[:, 1].var() > 0
    assert explained[0] == pytest.approx(coords[:, 0].var() / (x - x.mean(0)).var(0).sum(), rel=1e-3)
