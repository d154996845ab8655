"""How close two sets of image features are: improved precision and recall, the Fréchet
distance, memorisation. Rows are points (the judge's features of real and generated images);
numpy, and scipy loaded only when a figure is asked for.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..declarations.errors import ConfigError


def _as_points(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ConfigError(f"{what} must be a 2-D array of feature vectors (n, d); got shape {x.shape}.")
    return x


def _by_row_blocks(a: np.ndarray, b: np.ndarray, fn, chunk: int = 1024) -> np.ndarray:
    """``fn(distances(a_chunk, b))`` row block by row block, so memory stays bounded."""
    from scipy.spatial.distance import (
        cdist,  # heavy: a run that measures no quality never needs it
    )

    return np.concatenate([fn(cdist(a[i : i + chunk], b)) for i in range(0, len(a), chunk)]) if len(a) else np.zeros(0)


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest neighbour in the same set, itself excluded."""
    # Each row holds the point's zero distance to itself, so the (k+1)-th smallest is the k-th neighbour.
    return _by_row_blocks(x, x, lambda d: np.partition(d, k, axis=1)[:, k])


def _share_inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
    """The share of ``points`` that fall inside at least one ball (centre, radius)."""
    inside = _by_row_blocks(points, centres, lambda d: (d <= radii[None, :]).any(axis=1))
    return float(np.mean(inside))


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019).

    Each set's manifold is the union of balls around its points, each ball reaching the
    point's k-th nearest neighbour. Precision: the share of generated points inside the real
    manifold (are the samples realistic?). Recall: the share of real points inside the
    generated manifold (do the samples cover the variety of real digits?).
    """
    real, fake = _as_points(real, "real"), _as_points(fake, "fake")
    if k < 1:
        raise ConfigError(f"k must be at least 1; got {k}.")
    for name, x in (("real", real), ("generated", fake)):
        if len(x) <= k:
            raise ConfigError(f"Precision/recall with k={k} needs at least {k + 1} {name} images; got {len(x)}.")
    if real.shape[1] != fake.shape[1]:
        raise ConfigError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}.")
    precision = _share_inside(fake, real, _knn_radii(real, k))
    recall = _share_inside(real, fake, _knn_radii(fake, k))
    return precision, recall


def _checked_sqrtm(a: np.ndarray, scale: float) -> np.ndarray | None:
    """The real square root of ``a``, or None when scipy's is inaccurate or clearly complex.

    The judge's ReLU features include units that never fire for a given digit (about 40 of
    128), so covariances are singular and scipy warns on every call; yet its root is then
    accurate to round-off (measured: relative residual 1e-15, same value as an eigh-based
    formula to 1e-6). So the warning is silenced and the residual checked instead.
    """
    from scipy import linalg  # heavy: a run that measures no quality never needs it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(a)
    if not np.isfinite(root).all() or np.abs(np.imag(root)).max(initial=0.0) > 1e-3 * scale:
        return None
    root = np.real(root)  # the exact root's trace is real; what is left is round-off
    if np.linalg.norm(root @ root - a) > 1e-6 * max(np.linalg.norm(a), 1e-12):
        return None
    return root


def frechet_distance(real: np.ndarray, fake: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al., NeurIPS 2017).

    ``|m1 - m2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``: FID's formula, in the judge's features.
    """
    real, fake = _as_points(real, "real"), _as_points(fake, "fake")
    if len(real) < 2 or len(fake) < 2:
        raise ConfigError(f"The Fréchet distance needs 2 or more images per set; got {len(real)} and {len(fake)}.")
    if real.shape[1] != fake.shape[1]:
        raise ConfigError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}.")
    m1, m2 = real.mean(0), fake.mean(0)
    s1 = np.atleast_2d(np.cov(real, rowvar=False))
    s2 = np.atleast_2d(np.cov(fake, rowvar=False))
    scale = max(1.0, float(np.abs(s1).max()), float(np.abs(s2).max()))
    covmean = _checked_sqrtm(s1 @ s2, scale)
    if covmean is None:
        # Fewer points than features can leave sqrtm without an accurate real root; a tiny
        # ridge on both covariances fixes it (as pytorch-fid does).
        offset = np.eye(len(s1)) * eps * scale
        covmean = _checked_sqrtm((s1 + offset) @ (s2 + offset), scale)
        if covmean is None:
            raise ConfigError("No accurate matrix square root for these features: the Fréchet distance is undefined.")
    value = float(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))
    return max(value, 0.0)  # round-off can leave -1e-12 for identical sets


def _nearest_distance(queries: np.ndarray, points: np.ndarray) -> np.ndarray:
    return _by_row_blocks(queries, points, lambda d: d.min(axis=1))


def memorisation(samples: np.ndarray, train: np.ndarray, heldout: np.ndarray) -> tuple[float, float]:
    """(median distance sample -> nearest training image, the same for real held-out images).

    Real held-out digits show how far a *new* digit typically lies from the generator's
    training set; a generator whose samples sit much closer than that is copying its
    training images rather than drawing new ones.
    """
    samples, train, heldout = _as_points(samples, "samples"), _as_points(train, "train"), _as_points(heldout, "heldout")
    for name, x in (("generated", samples), ("training", train), ("held-out", heldout)):
        if len(x) == 0:
            raise ConfigError(f"Memorisation needs at least one {name} image; got none.")
    return float(np.median(_nearest_distance(samples, train))), float(np.median(_nearest_distance(heldout, train)))
