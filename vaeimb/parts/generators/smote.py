"""Pixel-space SMOTE: the classic oversampling baseline the generative models must beat.

Chawla, Bowyer, Hall & Kegelmeyer, "SMOTE: Synthetic Minority Over-sampling Technique"
(JAIR 2002), through imbalanced-learn's ``SMOTE``: each new image is a random point on the
segment between a minority image and one of its ``k_neighbors`` nearest minority images.
With several labels to fill, each label interpolates among its own images (``PerClass``).
"""

from __future__ import annotations

import numpy as np

from ...declarations.params import Param
from .base import FILTER_Q, FitBudget, GeneratorError, PerClass, Progress

K_NEIGHBORS = Param("k_neighbors", 5, "int", 1, 50,
                    help="Nearest minority neighbours SMOTE interpolates towards (needs k + 1 minority images).")


def check_neighbors(name: str, k: int, n_minority: int, label: int = 1) -> None:
    """SMOTE's neighbours come from one label alone: it needs ``k + 1`` images of it."""
    if n_minority < k + 1:
        of = "" if label == 1 else f" of label {label}"
        raise GeneratorError(f"k_neighbors={k} needs at least {k + 1} minority images (got {n_minority}{of}); "
                             f"lower {name}.k_neighbors.")


def smote_new_rows(x: np.ndarray, n: int, k: int, seed: int) -> np.ndarray:
    """``n`` SMOTE rows (float32) interpolated between the rows of ``x`` (one class).

    imbalanced-learn resamples a two-class problem, so one dummy row stands in for the
    other class; its neighbours are searched within ``x`` only, so the dummy changes
    nothing and the cost does not depend on the majority's size.
    """
    from imblearn.over_sampling import (
        SMOTE,  # imported on use: only these generators need it
    )

    x = np.asarray(x, np.float32)
    m = len(x)
    data = np.concatenate([x, np.zeros((1, x.shape[1]), np.float32)])
    labels = np.r_[np.ones(m, np.int64), 0]
    smote = SMOTE(sampling_strategy={1: m + n}, k_neighbors=k, random_state=seed)
    out, _ = smote.fit_resample(data, labels)
    return np.asarray(out[m + 1 :], np.float32)


class SmoteGenerator(PerClass):
    """SMOTE between minority images, pixel by pixel; its state is the minority images."""

    name = "smote"
    description = "SMOTE (imbalanced-learn) between minority images in pixel space: the classic baseline."
    cite = "Chawla et al., SMOTE: Synthetic Minority Over-sampling Technique, JAIR 2002"
    params = (K_NEIGHBORS, FILTER_Q)

    def _fit_class(self, label: int, images: np.ndarray, budget: FitBudget, *, seed: int,
                   progress: Progress) -> np.ndarray:
        check_neighbors(self.name, self.values["k_neighbors"], len(images), label)
        return super()._fit_class(label, images, budget, seed=seed, progress=progress)

    def _sample(self, n: int, *, seed: int, label: int) -> np.ndarray:
        real = self.fits[label]
        flat = smote_new_rows(real.reshape(len(real), -1), n, self.values["k_neighbors"], seed)
        return np.clip(np.round(flat), 0, 255).astype(np.uint8).reshape(n, 28, 28)
