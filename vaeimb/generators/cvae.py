"""A conditional VAE trained on both classes, sampled with the minority label.

Sohn, Lee & Yan, "Learning Structured Output Representation using Deep Conditional
Generative Models" (NeurIPS 2015): the class one-hot joins the encoder's features and the
latent code, so the decoder learns pen strokes from the many majority images and the
minority's shape from the few minority ones. Same size as the VAE (``models.conv_encoder``
/ ``conv_decoder``), same loss (BCE + KL), so it trains in seconds on a CPU.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..models import conv_decoder, conv_encoder, kl_per_dimension, vae_loss
from ..params import Param
from ..training import pick_device, seeded_init, to_tensor
from .base import (
    FitBudget, FitData, GeneratorError, LatentGenerator, Progress, mixed_batch_indices,
)
from .vae import BATCH_SEED, NOISE_SEED, SAMPLE_SEED, quantise

#: The class index of the minority in the one-hot condition (majority is 0).
MINORITY = 1


def one_hot(label: int, n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` copies of the 2-class one-hot of ``label``."""
    c = torch.zeros((n, 2), device=device)
    c[:, label] = 1.0
    return c


class ConditionalConvVAE(nn.Module):
    """The VAE's conv layout with the one-hot class appended to the features and to z."""

    def __init__(self, latent_dim: int = 20, n_classes: int = 2):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = conv_encoder()
        self.fc_mu = nn.Linear(32 * 7 * 7 + n_classes, latent_dim)
        self.fc_logvar = nn.Linear(32 * 7 * 7 + n_classes, latent_dim)
        self.decoder = conv_decoder(latent_dim + n_classes)

    def encode(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.cat([self.encoder(x.view(-1, 1, 28, 28)), c], 1)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode_logits(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, c], 1)).view(-1, 28, 28)

    def forward(self, x: torch.Tensor, c: torch.Tensor, generator=None):
        mu, logvar = self.encode(x, c)
        z = mu + torch.randn(mu.shape, generator=generator, device=mu.device) * torch.exp(0.5 * logvar)
        return self.decode_logits(z, c), mu, logvar


class CvaeGenerator(LatentGenerator):
    """Conditional VAE on majority + minority; new images decoded from z ~ N(0, I) with the
    minority one-hot.

    Batches are class-mixed: ``minority_fraction`` of each batch is minority images, the
    rest majority. With 5000 majority against 100 minority images, uniform batches would hold
    about 2 % minority images, so the minority condition would get almost no gradient and
    the decoder would draw majority-like strokes for it; half-and-half batches give the
    minority label as many updates as the majority one, while the majority still teaches
    the shared strokes. Under "cycle" batching each class cycles through its images in order.
    """

    name = "cvae"
    description = "Conditional VAE trained on both classes (class-mixed batches), sampled with the minority label."
    cite = ("Sohn, Lee & Yan, Learning Structured Output Representation using Deep Conditional "
            "Generative Models, NeurIPS 2015")
    uses_majority = True
    params = (
        Param("minority_fraction", 0.5, "float", 0.05, 1.0,
              help="Share of minority images in each training batch (the rest are majority images)."),
    )

    def _fit(self, data: FitData, budget: FitBudget, *, seed: int, progress: Progress) -> None:
        if len(data.majority) == 0 and self.values["minority_fraction"] < 1.0:
            raise GeneratorError("generator 'cvae' learns from majority images too and got none; "
                                 "set cvae.minority_fraction=1 to train on the minority alone.")
        device = pick_device()
        model = seeded_init(seed, lambda: ConditionalConvVAE(budget.latent_dim), device)
        gen = torch.Generator().manual_seed(seed + BATCH_SEED)
        noise = torch.Generator(device=device).manual_seed(seed + NOISE_SEED)
        xs = (to_tensor(data.minority, device), to_tensor(data.majority, device))

        def batch_loss(step: int) -> torch.Tensor:
            i_min, i_maj = mixed_batch_indices(step - 1, len(xs[0]), len(xs[1]), budget.batch_size,
                                               self.values["minority_fraction"], budget.batching, gen)
            x = torch.cat([xs[0][i_min.to(device)], xs[1][i_maj.to(device)]])
            c = torch.cat([one_hot(MINORITY, len(i_min), device), one_hot(1 - MINORITY, len(i_maj), device)])
            logits, mu, logvar = model(x, c, noise)
            return vae_loss(logits, x, mu, logvar)

        self._train(model, budget, batch_loss, progress)
        with torch.no_grad():
            mu, logvar = self.model.encode(to_tensor(data.minority, torch.device("cpu")),
                                           one_hot(MINORITY, len(data.minority)))
        self.latent_mu = mu.numpy()
        self.kl_per_dim = kl_per_dimension(mu, logvar).numpy()

    @torch.no_grad()
    def _sample(self, n: int, *, seed: int) -> np.ndarray:
        gen = torch.Generator().manual_seed(seed + SAMPLE_SEED)
        out = []
        for i in range(0, n, 1024):
            z = torch.randn((min(1024, n - i), self.latent_dim), generator=gen)
            out.append(torch.sigmoid(self.model.decode_logits(z, one_hot(MINORITY, len(z)))))
        return quantise(torch.cat(out))

    @torch.no_grad()
    def encode(self, images: np.ndarray) -> np.ndarray:
        """Latent means of ``images`` encoded as minority images (the label the page explores)."""
        self._check_fitted()
        if len(images) == 0:
            return np.zeros((0, self.latent_dim), np.float32)
        return self.model.encode(to_tensor(images, torch.device("cpu")), one_hot(MINORITY, len(images)))[0].numpy()

    @torch.no_grad()
    def decode(self, z: np.ndarray) -> np.ndarray:
        self._check_fitted()
        z = torch.from_numpy(np.asarray(z, np.float32).reshape(-1, self.latent_dim))
        return torch.sigmoid(self.model.decode_logits(z, one_hot(MINORITY, len(z)))).numpy()

    def decoder_module(self) -> nn.Sequential:
        """Maps (n, latent_dim + 2) = [z, one-hot] to logits (n, 1, 28, 28)."""
        self._check_fitted()
        return self.model.decoder.eval()

    def decoder_condition(self) -> np.ndarray:
        return one_hot(MINORITY, 1)[0].numpy()

    def _new_model(self, latent_dim: int) -> ConditionalConvVAE:
        return ConditionalConvVAE(latent_dim)
