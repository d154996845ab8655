"""Approaches that add synthetic minority images."""

from __future__ import annotations

import numpy as np

from ..config import ExperimentConfig
from ..data import ExperimentData
from .base import Approach


class VaeAugment(Approach):
    name = "vae"
    description = (
        "A VAE trained on the minority images generates the missing ones; random batches "
        "(the original's approach 2)."
    )
    #: n_generate None = n_majority - n_minority; balanced_batches None = as the protocol
    #: prescribes (the original code balanced its batches here too; the clean one does not).
    defaults = {"n_generate": None, "balanced_batches": None}
    needs_vae = True

    def n_generated(self, config: ExperimentConfig) -> int:
        n = self.params(config)["n_generate"]
        return config.n_majority - config.n_minority if n is None else int(n)

    def balanced_batches(self, config: ExperimentConfig) -> bool:
        b = self.params(config)["balanced_batches"]
        return config.protocol.startswith("blog") if b is None else bool(b)

    def training_set(self, data: ExperimentData, config: ExperimentConfig, generated=None):
        if generated is None:
            raise ValueError("The vae approach needs generated images.")
        x = np.concatenate([data.train_x, generated])
        y = np.concatenate([data.train_y, np.ones(len(generated), np.int64)])
        return x, y
