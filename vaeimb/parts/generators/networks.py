"""The torch networks of the learned generators: the conditional VAE (``cvae``), the
latent-SMOTE autoencoder (``latent_smote``) and DeepSMOTE's autoencoder (``deepsmote``).
A network subclasses ``nn.Module``, so defining it loads torch: each generator module
declares its part torch-free and imports its network from here where it computes (fits,
loads a fitted state); the old names (``cvae.ConditionalConvVAE``, ...) still resolve.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import Autoencoder, conv_decoder, conv_encoder

# ---- the conditional VAE (cvae) -------------------------------------------------------


class ConditionalConvVAE(nn.Module):
    """The VAE's conv layout (its channels times ``width``) with the one-hot class appended
    to the features and to z."""

    def __init__(self, latent_dim: int = 20, n_classes: int = 2, width: int = 1):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = conv_encoder(width)
        self.fc_mu = nn.Linear(32 * width * 7 * 7 + n_classes, latent_dim)
        self.fc_logvar = nn.Linear(32 * width * 7 * 7 + n_classes, latent_dim)
        self.decoder = conv_decoder(latent_dim + n_classes, width)

    def encode(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.cat([self.encoder(x.view(-1, 1, 28, 28)), c], 1)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode_logits(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, c], 1)).view(-1, 28, 28)

    def forward(self, x: torch.Tensor, c: torch.Tensor, generator=None):
        mu, logvar = self.encode(x, c)
        z = mu + torch.randn(mu.shape, generator=generator, device=mu.device) * torch.exp(0.5 * logvar)
        return self.decode_logits(z, c), mu, logvar


# ---- the latent-SMOTE autoencoder (latent-smote) -------------------------------------
class ConvAutoencoder(Autoencoder):
    """The VAE's encoder and decoder (channels times ``width``) with a single deterministic code in between."""

    def __init__(self, latent_dim: int = 20, width: int = 1):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(conv_encoder(width), nn.Linear(32 * width * 7 * 7, latent_dim))
        self.decoder = conv_decoder(latent_dim, width)


# ---- DeepSMOTE's autoencoder (deepsmote) ----------------------------------------------
class DeepSmoteAutoencoder(Autoencoder):
    """DeepSMOTE's MNIST encoder and decoder (``dim_h``), the decoder giving logits."""

    def __init__(self, n_z: int = 300, dim_h: int = 64):
        super().__init__()
        h = dim_h
        self.latent_dim = n_z
        self.encoder = nn.Sequential(
            nn.Conv2d(1, h, 4, 2, 1, bias=False),  # 14x14
            nn.LeakyReLU(0.2),
            nn.Conv2d(h, 2 * h, 4, 2, 1, bias=False),  # 7x7
            nn.BatchNorm2d(2 * h),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * h, 4 * h, 4, 2, 1, bias=False),  # 3x3
            nn.BatchNorm2d(4 * h),
            nn.LeakyReLU(0.2),
            nn.Conv2d(4 * h, 8 * h, 4, 2, 1, bias=False),  # 1x1
            nn.BatchNorm2d(8 * h),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(8 * h, n_z),
        )
        self.decoder = nn.Sequential(
            nn.Linear(n_z, 8 * h * 7 * 7),
            nn.ReLU(),
            nn.Unflatten(1, (8 * h, 7, 7)),
            nn.ConvTranspose2d(8 * h, 4 * h, 4),  # 10x10
            nn.BatchNorm2d(4 * h),
            nn.ReLU(),
            nn.ConvTranspose2d(4 * h, 2 * h, 4),  # 13x13
            nn.BatchNorm2d(2 * h),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * h, 1, 4, stride=2),  # 28x28, logits (the original: Tanh)
        )


