"""The original experiment's generator: a conv VAE fitted to the minority images alone.

Kingma & Welling, "Auto-Encoding Variational Bayes" (ICLR 2014); the model and loss are
``models.ConvVAE`` / ``models.vae_loss`` (after pytorch/examples ``vae/main.py``). Sampling:
z ~ N(0, I), decoded, quantised to uint8.
"""

from __future__ import annotations

import numpy as np
import torch

from ..models import ConvVAE, kl_per_dimension, vae_loss
from ..training import pick_device, seeded_init, to_tensor
from .base import (
    FitBudget, FitData, LatentGenerator, Progress, batch_indices,
)

#: Seed offsets of the batch draws, the reparameterisation noise and the samples.
BATCH_SEED, NOISE_SEED, SAMPLE_SEED = 104729, 15485863, 32452843


def quantise(images: torch.Tensor) -> np.ndarray:
    """Images in [0, 1] -> uint8 like real MNIST pixels (so cached samples are bit-identical)."""
    return images.mul(255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


class VaeGenerator(LatentGenerator):
    """Conv VAE on the minority images only; samples decoded from the prior N(0, I)."""

    name = "vae"
    description = "Conv VAE fitted to the minority images only; new images decoded from z ~ N(0, I)."
    cite = "Kingma & Welling, Auto-Encoding Variational Bayes, ICLR 2014"

    def _fit(self, data: FitData, budget: FitBudget, *, seed: int, progress: Progress) -> None:
        device = pick_device()
        model = seeded_init(seed, lambda: ConvVAE(budget.latent_dim), device)
        gen = torch.Generator().manual_seed(seed + BATCH_SEED)
        noise = torch.Generator(device=device).manual_seed(seed + NOISE_SEED)
        x = to_tensor(data.minority, device)

        def batch_loss(step: int) -> torch.Tensor:
            idx = batch_indices(step - 1, len(x), budget.batch_size, budget.batching, gen).to(device)
            logits, mu, logvar = model(x[idx], noise)
            return vae_loss(logits, x[idx], mu, logvar)

        self._train(model, budget, batch_loss, progress)
        self._summarise(data.minority)

    @torch.no_grad()
    def _summarise(self, minority: np.ndarray) -> None:
        mu, logvar = self.model.encode(to_tensor(minority, torch.device("cpu")))
        self.latent_mu = mu.numpy()
        self.kl_per_dim = kl_per_dimension(mu, logvar).numpy()

    @torch.no_grad()
    def _sample(self, n: int, *, seed: int) -> np.ndarray:
        gen = torch.Generator().manual_seed(seed + SAMPLE_SEED)
        out = []
        for i in range(0, n, 1024):
            z = torch.randn((min(1024, n - i), self.latent_dim), generator=gen)
            out.append(self.model.decode(z))
        return quantise(torch.cat(out))

    @torch.no_grad()
    def encode(self, images: np.ndarray) -> np.ndarray:
        self._check_fitted()
        if len(images) == 0:
            return np.zeros((0, self.latent_dim), np.float32)
        return self.model.encode(to_tensor(images, torch.device("cpu")))[0].numpy()

    @torch.no_grad()
    def decode(self, z: np.ndarray) -> np.ndarray:
        self._check_fitted()
        z = torch.from_numpy(np.asarray(z, np.float32).reshape(-1, self.latent_dim))
        return self.model.decode(z).numpy()

    def decoder_module(self) -> torch.nn.Sequential:
        self._check_fitted()
        return self.model.decoder_sequential().eval()

    def _new_model(self, latent_dim: int) -> ConvVAE:
        return ConvVAE(latent_dim)
