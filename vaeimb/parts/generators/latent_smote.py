"""SMOTE in the latent space of an autoencoder trained on every class, decoded to images.

After DeepSMOTE (Dablain, Krawczyk & Chawla, "DeepSMOTE: Fusing Deep Learning and SMOTE
for Imbalanced Data", IEEE TNNLS 2022): a deterministic conv autoencoder learns to
reconstruct every class, then imbalanced-learn's ``SMOTE`` interpolates between
neighbouring codes of one label to fill and the decoder turns the new codes into images. Simplified:
plain reconstruction loss (no DeepSMOTE permutation penalty), the VAE's conv layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..training import pick_device, seeded_init
from .base import (
    FILTER_Q,
    MINORITY_FRACTION,
    STEPS_SCALE,
    TRAIN_AUG,
    WIDTH,
    FitBudget,
    FitData,
    LatentGenerator,
    Progress,
    mixed_batches,
    moved_to_networks,
)
from .smote import K_NEIGHBORS, check_neighbors, smote_new_rows

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .networks import ConvAutoencoder

#: The names of ``networks`` this module gave before the networks moved there.
__getattr__ = moved_to_networks(__name__, ("ConvAutoencoder",))


def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli reconstruction (BCE) per image: the VAE's loss without the KL term."""
    import torch.nn.functional as F  # torch: only where the generator computes

    return F.binary_cross_entropy_with_logits(logits, x.view(-1, 28, 28), reduction="sum") / x.shape[0]


class LatentSmoteGenerator(LatentGenerator):
    """Autoencoder on every class (class-mixed batches, as ``cvae``: with 50:1 imbalance
    uniform batches would leave the minority's codes poorly reconstructed), then SMOTE
    among each label's own codes (``codes``).

    ``kl_per_dim`` is all zeros, as the contract says for a deterministic autoencoder (no
    posterior, so no KL); the spread of the minority codes is in ``latent_mu``.
    """

    name = "latent-smote"
    description = "DeepSMOTE-style: autoencoder on every class, SMOTE between minority latent codes, decoded."
    cite = "Dablain, Krawczyk & Chawla, DeepSMOTE, IEEE TNNLS 2022"
    uses_majority = True
    params = (K_NEIGHBORS, MINORITY_FRACTION, WIDTH, TRAIN_AUG, STEPS_SCALE, FILTER_Q)

    def _fit(self, data: FitData, budget: FitBudget, *, seed: int, progress: Progress) -> None:
        from .networks import ConvAutoencoder  # torch: the networks load with it

        for c in data.fill:
            check_neighbors(self.name, self.values["k_neighbors"], len(data.by_class[c]), c)
        device = pick_device()
        budget = self.scaled(budget)
        batches = mixed_batches(self.name, data, budget, self.values["minority_fraction"], seed, device)
        model = seeded_init(seed, lambda: ConvAutoencoder(budget.latent_dim, self.values["width"]), device)
        augment = self._augmenter(seed)

        def batch_loss(step: int) -> torch.Tensor:
            x, labels = batches(step)
            x = augment(x, labels)
            return reconstruction_loss(model(x), x)

        self.model, self.losses = self._train(model, budget, batch_loss, progress)
        self._summarise(data)

    def _posterior(self, x: torch.Tensor, label: int) -> tuple[torch.Tensor, None]:
        return self.model.encode(x), None

    def _decode_logits(self, z: torch.Tensor, label: int) -> torch.Tensor:
        return self.model.decode_logits(z)

    def _sample(self, n: int, *, seed: int, label: int) -> np.ndarray:
        """SMOTE between the label's codes, decoded."""
        import torch  # torch: only where the generator computes

        codes = smote_new_rows(self.codes[label], n, self.values["k_neighbors"], seed)
        return self._images(torch.from_numpy(codes), label)

    def decoder_module(self, label: int | None = None) -> nn.Sequential:
        """The one decoder of every label."""
        self._check_fitted()
        return self.model.decoder.eval()

    def _new_model(self, latent_dim: int) -> ConvAutoencoder:
        from .networks import ConvAutoencoder  # torch: the networks load with it

        return ConvAutoencoder(latent_dim, self.values["width"])
