"""SMOTE in the latent space of an autoencoder trained on both classes, decoded to images.

After DeepSMOTE (Dablain, Krawczyk & Chawla, "DeepSMOTE: Fusing Deep Learning and SMOTE
for Imbalanced Data", IEEE TNNLS 2022): a deterministic conv autoencoder learns to
reconstruct both classes, then imbalanced-learn's ``SMOTE`` interpolates between
neighbouring minority codes and the decoder turns the new codes into images. Simplified:
plain reconstruction loss (no DeepSMOTE permutation penalty), the VAE's conv layout.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models import conv_decoder, conv_encoder
from ..params import Param
from ..training import pick_device, seeded_init, to_tensor
from .base import (
    FitBudget, FitData, GeneratorError, LatentGenerator, Progress, mixed_batch_indices,
)
from .smote import K_NEIGHBORS, check_neighbors, smote_new_rows
from .vae import BATCH_SEED, quantise


class ConvAutoencoder(nn.Module):
    """The VAE's encoder and decoder with a single deterministic code in between."""

    def __init__(self, latent_dim: int = 20):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(conv_encoder(), nn.Linear(32 * 7 * 7, latent_dim))
        self.decoder = conv_decoder(latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.view(-1, 1, 28, 28))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, 28, 28)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_logits(self.encode(x))


def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli reconstruction (BCE) per image: the VAE's loss without the KL term."""
    return F.binary_cross_entropy_with_logits(logits, x.view(-1, 28, 28), reduction="sum") / x.shape[0]


class LatentSmoteGenerator(LatentGenerator):
    """Autoencoder on both classes (class-mixed batches, as ``cvae``: with 50:1 imbalance
    uniform batches would leave the minority's codes poorly reconstructed), then SMOTE
    between the minority's codes.

    ``kl_per_dim`` is all zeros, as the contract says for a deterministic autoencoder (no
    posterior, so no KL); the spread of the minority codes is in ``latent_mu``.
    """

    name = "latent-smote"
    description = "DeepSMOTE-style: autoencoder on both classes, SMOTE between minority latent codes, decoded."
    cite = "Dablain, Krawczyk & Chawla, DeepSMOTE, IEEE TNNLS 2022"
    uses_majority = True
    params = (
        K_NEIGHBORS,
        Param("minority_fraction", 0.5, "float", 0.05, 1.0,
              help="Share of minority images in each autoencoder batch (the rest are majority images)."),
    )

    def _fit(self, data: FitData, budget: FitBudget, *, seed: int, progress: Progress) -> None:
        check_neighbors(self.name, self.values["k_neighbors"], len(data.minority))
        if len(data.majority) == 0 and self.values["minority_fraction"] < 1.0:
            raise GeneratorError("generator 'latent-smote' learns from majority images too and got none; "
                                 "set latent-smote.minority_fraction=1 to train on the minority alone.")
        device = pick_device()
        model = seeded_init(seed, lambda: ConvAutoencoder(budget.latent_dim), device)
        gen = torch.Generator().manual_seed(seed + BATCH_SEED)
        xs = (to_tensor(data.minority, device), to_tensor(data.majority, device))

        def batch_loss(step: int) -> torch.Tensor:
            i_min, i_maj = mixed_batch_indices(step - 1, len(xs[0]), len(xs[1]), budget.batch_size,
                                               self.values["minority_fraction"], budget.batching, gen)
            x = torch.cat([xs[0][i_min.to(device)], xs[1][i_maj.to(device)]])
            return reconstruction_loss(model(x), x)

        self._train(model, budget, batch_loss, progress)
        self.latent_mu = self.encode_unchecked(data.minority)
        self.kl_per_dim = np.zeros(self.latent_dim, np.float32)

    @torch.no_grad()
    def encode_unchecked(self, images: np.ndarray) -> np.ndarray:
        if len(images) == 0:
            return np.zeros((0, self.latent_dim), np.float32)
        return self.model.encode(to_tensor(images, torch.device("cpu"))).numpy()

    def _sample(self, n: int, *, seed: int) -> np.ndarray:
        z = smote_new_rows(self.latent_mu, n, self.values["k_neighbors"], seed)
        with torch.no_grad():
            images = torch.cat([self.model.decode_logits(torch.from_numpy(z[i : i + 1024])).sigmoid()
                                for i in range(0, n, 1024)])
        return quantise(images)

    def encode(self, images: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.encode_unchecked(images)

    @torch.no_grad()
    def decode(self, z: np.ndarray) -> np.ndarray:
        self._check_fitted()
        z = torch.from_numpy(np.asarray(z, np.float32).reshape(-1, self.latent_dim))
        return self.model.decode_logits(z).sigmoid().numpy()

    def decoder_module(self) -> nn.Sequential:
        self._check_fitted()
        return self.model.decoder.eval()

    def _new_model(self, latent_dim: int) -> ConvAutoencoder:
        return ConvAutoencoder(latent_dim)
