"""The original experiment's generator: a conv VAE fitted to the minority images alone.

Kingma & Welling, "Auto-Encoding Variational Bayes" (ICLR 2014); the model and loss are
``models.ConvVAE`` / ``models.vae_loss`` (after pytorch/examples ``vae/main.py``). Sampling
(``LatentGenerator``'s): z ~ N(0, I), decoded, quantised to uint8.
"""

from __future__ import annotations

import torch

from ..models import ConvVAE, vae_loss
from ..training import pick_device, seeded_init, to_tensor
from .base import BATCH_SEED, NOISE_SEED, FitBudget, FitData, LatentGenerator, Progress, batch_indices


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

    def _posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.encode(x)

    def _decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode_logits(z)

    def decoder_module(self) -> torch.nn.Sequential:
        self._check_fitted()
        return self.model.decoder_sequential().eval()

    def _new_model(self, latent_dim: int) -> ConvVAE:
        return ConvVAE(latent_dim)
