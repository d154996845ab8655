"""Random affine copies of the real minority images: oversampling with a little variety.

Not a learned model: each new image is a real minority image rotated, shifted and scaled
by ``augmentations.affine_ops.random_affine`` with parameters drawn from the sample seed.
It shows how much of a generator's gain plain geometric jitter already gives. With several
labels to fill, each label's copies come from its own images (``PerClass``).
"""

from __future__ import annotations

import numpy as np

from ..augmentations.affine_ops import AFFINE_PARAMS, AffineJitter
from ..training import no_grad, to_tensor
from .base import CPU, FILTER_Q, PerClass, quantise


class AugmentGenerator(AffineJitter, PerClass):
    """Affine-jittered copies of the minority images; its state is just those images.

    Every real image is copied equally often (a seeded permutation, repeated), so no image
    is left out or over-weighted by chance when ``n`` is a multiple of the minority count.
    """

    name = "augment"
    description = "Random affine copies (rotate, shift, scale) of the real minority images."
    cite = "Simard, Steinkraus & Platt, Best Practices for CNNs Applied to Visual Document Analysis, ICDAR 2003"
    params = (*AFFINE_PARAMS, FILTER_Q)

    @no_grad
    def _sample(self, n: int, *, seed: int, label: int) -> np.ndarray:
        import torch  # torch: only where the generator computes

        real = self.fits[label]
        gen = torch.Generator().manual_seed(seed)
        source = np.resize(torch.randperm(len(real), generator=gen).numpy(), n)
        return quantise(self.jitter(to_tensor(real[source], CPU), gen))
