"""Random affine copies of the real minority images: oversampling with a little variety.

Not a learned model: each new image is a real minority image rotated, shifted and scaled
by ``augmentations.affine_ops.random_affine`` with parameters drawn from the sample seed.
It shows how much of a generator's gain plain geometric jitter already gives.
"""

from __future__ import annotations

import numpy as np
import torch

from ..augmentations.affine_ops import AffineJitter
from ..training import to_tensor
from .base import FitBudget, FitData, Generator, Progress, quantise


class AugmentGenerator(AffineJitter, Generator):
    """Affine-jittered copies of the minority images; its state is just those images.

    Every real image is copied equally often (a seeded permutation, repeated), so no image
    is left out or over-weighted by chance when ``n`` is a multiple of the minority count.
    """

    name = "augment"
    description = "Random affine copies (rotate, shift, scale) of the real minority images."
    cite = "Simard, Steinkraus & Platt, Best Practices for CNNs Applied to Visual Document Analysis, ICDAR 2003"

    def _fit(self, data: FitData, budget: FitBudget, *, seed: int, progress: Progress) -> None:
        self.minority = np.asarray(data.minority, np.uint8).copy()

    @torch.no_grad()
    def _sample(self, n: int, *, seed: int) -> np.ndarray:
        gen = torch.Generator().manual_seed(seed)
        source = np.resize(torch.randperm(len(self.minority), generator=gen).numpy(), n)
        return quantise(self.jitter(to_tensor(self.minority[source], torch.device("cpu")), gen))

    def _state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return {}, {"minority": self.minority}

    def _load_state(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        self.minority = np.asarray(arrays["minority"], np.uint8)
