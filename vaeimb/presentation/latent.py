"""Latent-space exploration of any fitted generator with a latent space: decode, encode,
map, interpolate.

Everything works from a fitted ``LatentGenerator`` (weights plus the latent codes saved
at training time), so nothing here retrains; decoding one image takes about a
millisecond on a CPU. The functions that only read codes and decode (``activity``,
``slider_range``, ``decode``, ``interpolate_codes``, ``pca_2d``...) work as well on a
``vaeimb.presentation.latent_view.LatentView``, the torch-free export the app's server
reads: importing this module loads no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: it loads torch
    from ..parts.generators.base import LatentGenerator


def activity(art: LatentGenerator) -> tuple[np.ndarray, str]:
    """How much each latent dimension is used, and what that number is: the KL to the
    prior for a VAE, or the spread (sd) of the minority codes for a deterministic
    autoencoder, whose KL is zero by construction."""
    kl = np.asarray(art.kl_per_dim, np.float64)
    if kl.size and np.any(kl > 0):
        return kl, "KL"
    return np.asarray(art.latent_mu, np.float64).std(0), "sd"


def dimensions_by_activity(art: LatentGenerator) -> np.ndarray:
    """Latent dimensions ordered by their activity (most used first); inactive ones come last."""
    return np.argsort(-activity(art)[0], kind="stable")


def active_dimensions(art: LatentGenerator, min_kl: float = 0.05) -> np.ndarray:
    """The dimensions that carry information (activity above ``min_kl``: nats of KL, or sd
    of the codes), most active first."""
    act, _ = activity(art)
    order = dimensions_by_activity(art)
    return order[act[order] > min_kl]


def mean_code(art: LatentGenerator) -> np.ndarray:
    """The mean of the minority images' latent means (the 'reset' position)."""
    return art.latent_mu.mean(0).astype(np.float32)


def random_code(latent_dim: int, seed: int) -> np.ndarray:
    """A draw from the prior N(0, I), reproducible by seed."""
    return np.random.default_rng(seed).standard_normal(latent_dim).astype(np.float32)


def slider_range(art: LatentGenerator, dim: int) -> tuple[float, float]:
    """A slider range covering the prior's +-3 sd and every training code of that dimension."""
    lo = float(min(-3.0, np.floor(art.latent_mu[:, dim].min())))
    hi = float(max(3.0, np.ceil(art.latent_mu[:, dim].max())))
    return lo, hi


def decode(gen: LatentGenerator, z: np.ndarray) -> np.ndarray:
    """Latent code(s) -> image(s) in [0, 1]: (latent,) -> (28, 28), (n, latent) -> (n, 28, 28)."""
    z = np.asarray(z, dtype=np.float32)
    out = np.asarray(gen.decode(np.atleast_2d(z)))
    return out[0] if z.ndim == 1 else out


def encode(gen: LatentGenerator, images: np.ndarray) -> np.ndarray:
    """uint8 images (n, 28, 28) -> latent means (n, latent)."""
    if len(images) == 0:
        return np.zeros((0, gen.latent_dim), np.float32)
    return np.asarray(gen.encode(np.asarray(images, np.uint8)), np.float32)


def reconstruct(gen: LatentGenerator, images: np.ndarray) -> np.ndarray:
    """Decode each image's latent mean: what the VAE keeps of it."""
    return decode(gen, encode(gen, images))


def interpolate(gen: LatentGenerator, image_a: np.ndarray, image_b: np.ndarray, n_steps: int = 8) -> np.ndarray:
    """Images decoded along the straight line between two images' latent means."""
    if n_steps < 2:
        raise ValueError("An interpolation needs at least 2 steps.")
    za, zb = encode(gen, np.stack([image_a, image_b]))
    return interpolate_codes(gen, za, zb, n_steps)


def interpolate_codes(gen, za: np.ndarray, zb: np.ndarray, n_steps: int = 8) -> np.ndarray:
    """Images decoded along the straight line from code ``za`` to code ``zb`` (both ends included)."""
    if n_steps < 2:
        raise ValueError("An interpolation needs at least 2 steps.")
    t = np.linspace(0.0, 1.0, n_steps, dtype=np.float32)[:, None]
    return decode(gen, (1 - t) * np.asarray(za, np.float32) + t * np.asarray(zb, np.float32))


@dataclass
class LatentMap:
    """2-D coordinates of encoded images, with each point's kind and image."""

    coords: np.ndarray  # (n, 2)
    kinds: np.ndarray  # (n,) str: "real minority", "generated", "majority"
    images: np.ndarray  # (n, 28, 28) uint8
    method: str
    explained: tuple[float, ...] = ()  # PCA: variance ratio of the two axes


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Project rows on their two principal axes (SVD of the centred data)."""
    xc = x - x.mean(0, keepdims=True)
    if len(x) < 2:
        return np.zeros((len(x), 2), np.float32), (0.0, 0.0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    comps = vt[:2]
    # fix the sign so the map does not flip between runs
    signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(1)])
    comps = comps * signs[:, None]
    coords = xc @ comps.T
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    var = s**2
    ratio = tuple(float(v / var.sum()) if var.sum() > 0 else 0.0 for v in var[:2])
    return coords.astype(np.float32), (ratio + (0.0, 0.0))[:2]


MAP_METHODS = ("pca", "tsne")
MAP_KINDS = ("real minority", "generated", "majority")


def map_images(real_minority: np.ndarray, generated: np.ndarray, majority: np.ndarray, *, max_per_kind: int = 300,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images, kinds) a latent map shows: at most ``max_per_kind`` images of each kind
    (real minority, generated, majority), chosen by seed, in that order."""
    rng = np.random.default_rng(seed)
    parts, kinds = [], []
    for kind, imgs in zip(MAP_KINDS, (real_minority, generated, majority)):
        if len(imgs) > max_per_kind:
            imgs = imgs[np.sort(rng.choice(len(imgs), max_per_kind, replace=False))]
        parts.append(np.asarray(imgs, np.uint8))
        kinds += [kind] * len(imgs)
    return np.concatenate(parts), np.array(kinds)


def project(codes: np.ndarray, method: str, seed: int = 0) -> tuple[np.ndarray, tuple[float, ...]]:
    """(2-D coordinates, explained variance ratios) of latent codes: ``"pca"`` (numpy) or
    ``"tsne"`` (scikit-learn's t-SNE: slower, keeps neighbourhoods; no ratios)."""
    if method not in MAP_METHODS:
        raise ValueError(f"Unknown map method {method!r}; choose 'pca' or 'tsne'.")
    if method == "pca":
        return pca_2d(codes)
    from sklearn.manifold import (
        TSNE,  # heavy: well-tested t-SNE, only imported when asked for
    )

    perplexity = float(min(30, max(2, (len(codes) - 1) // 3)))
    coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(codes)
    return coords.astype(np.float32), ()


def latent_map(
    gen: LatentGenerator,
    real_minority: np.ndarray,
    generated: np.ndarray,
    majority: np.ndarray,
    *,
    method: str = "pca",
    max_per_kind: int = 300,
    seed: int = 0,
) -> LatentMap:
    """Encode real minority, generated and majority images and lay them out in 2-D.

    ``method`` is ``"pca"`` (fast, linear) or ``"tsne"`` (scikit-learn's t-SNE: slower,
    keeps neighbourhoods). At most ``max_per_kind`` images of each kind, chosen by seed.
    """
    if method not in MAP_METHODS:
        raise ValueError(f"Unknown map method {method!r}; choose 'pca' or 'tsne'.")
    images, kinds = map_images(real_minority, generated, majority, max_per_kind=max_per_kind, seed=seed)
    coords, explained = project(encode(gen, images), method, seed)
    return LatentMap(coords, kinds, images, method, explained)


class ClassView:
    """A fitted latent generator seen through one of the labels it fills: ``latent_mu``,
    ``kl_per_dim``, ``encode``, ``decode``, ``sample`` and the browser decoder all answer for
    that label, so every function above (and the Latent space page) explores a conditional
    generator class by class. For the pair's minority (label 1) it answers as the generator."""

    def __init__(self, gen: LatentGenerator, label: int):
        if label not in gen.fill:
            raise ValueError(f"the {gen.name} generator fills labels {gen.fill}, not {label}.")
        self.gen, self.label = gen, int(label)
        self.latent_mu = gen.latent_mu_of(label)
        self.kl_per_dim = gen.kl_per_dim_of(label)

    def __getattr__(self, name: str):  # latent_dim, info, name, uses_majority, ...
        return getattr(self.gen, name)

    def encode(self, images: np.ndarray) -> np.ndarray:
        return self.gen.encode(images, label=self.label)

    def decode(self, z: np.ndarray) -> np.ndarray:
        return self.gen.decode(z, label=self.label)

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        return self.gen.sample(n, seed=seed, label=self.label)

    def decoder_module(self):
        return self.gen.decoder_module(label=self.label)

    def decoder_condition(self):
        return self.gen.decoder_condition(label=self.label)


def for_label(gen: LatentGenerator, label: int | None = None) -> LatentGenerator | ClassView:
    """``gen`` answering for ``label`` (None or the first label it fills: ``gen`` itself)."""
    if label is None or label == gen.fill[0]:
        return gen
    return ClassView(gen, label)
