"""Small networks sized for 28x28 digits: fast on two CPU cores.

The VAE follows pytorch/examples ``vae/main.py`` (reparameterisation, BCE + KL loss) with
the original experiment's conv layout (16 and 32 channels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """784-800-800-k with ReLU, the original experiment's classifier."""

    def __init__(self, n_outputs: int = 2, hidden: int = 800):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def conv_features(kernel_size: int = 3, width: int = 1) -> nn.Sequential:
    """(n, 1, 28, 28) -> (n, 32*width*7*7): two stride-2 conv layers (16, 32 channels,
    times ``width``) with ReLU, flattened; the original experiment's layout (width 1), which
    every conv model here starts with."""
    return nn.Sequential(
        nn.Conv2d(1, 16 * width, kernel_size, stride=2, padding=1),  # 14x14
        nn.ReLU(),
        nn.Conv2d(16 * width, 32 * width, kernel_size, stride=2, padding=1),  # 7x7
        nn.ReLU(),
        nn.Flatten(),
    )


class CNN(nn.Module):
    """Two small conv layers and a linear head: cheaper than the MLP and a bit stronger."""

    def __init__(self, n_outputs: int = 2):
        super().__init__()
        self.features = conv_features(3)
        self.head = nn.Sequential(nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.view(-1, 1, 28, 28)))


class ResNet18(nn.Module):
    """torchvision's ResNet-18 (He et al., CVPR 2016), DeepSMOTE's classifier, with its first
    convolution taking one channel: 28x28 digits leave the stem at 7x7 and layer4 at 1x1.
    (Dropping the stem's stride and max-pool, as for CIFAR, costs about 3x the time per
    step on a CPU: BENCHMARKS.md.)"""

    def __init__(self, n_outputs: int = 2):
        super().__init__()
        from torchvision.models import (
            resnet18,  # heavy: loaded only for this classifier
        )

        self.net = resnet18(num_classes=n_outputs)
        self.net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.view(-1, 1, 28, 28))


#: Classifier name (``vaeimb.declarations.schema.CLASSIFIERS``) -> its class.
CLASSIFIER_MODELS = {"mlp": MLP, "cnn": CNN, "resnet18": ResNet18}


def make_classifier(name: str, n_outputs: int) -> nn.Module:
    try:
        return CLASSIFIER_MODELS[name](n_outputs)
    except KeyError:
        raise ValueError(f"Unknown classifier {name!r}; choose one of {', '.join(CLASSIFIER_MODELS)}.") from None


def minority_logit(output: torch.Tensor) -> torch.Tensor:
    """The log-odds of the minority class from a 1-logit or a 2-logit head."""
    if output.shape[1] == 1:
        return output[:, 0]
    return output[:, 1] - output[:, 0]


def scores(output: torch.Tensor, n_classes: int) -> torch.Tensor:
    """What losses and decisions read: with two classes the minority log-odds (B,) (a
    softmax over two logits is the sigmoid of their difference; the original's one-logit
    head gives it directly), with K > 2 the logits (B, K)."""
    return minority_logit(output) if n_classes == 2 else output


def conv_encoder(width: int = 1) -> nn.Sequential:
    """(n, 1, 28, 28) -> (n, 32*width*7*7) features: the VAE's encoder (4x4 kernels, as the
    transposed convs of its decoder), shared by its successors; ``width`` multiplies the
    channels (1: the original's 16 and 32)."""
    return conv_features(4, width)


def conv_decoder(in_features: int, width: int = 1) -> nn.Sequential:
    """(n, in_features) -> logits (n, 1, 28, 28), plain layers only (an in-browser decoder
    mirrors Linear, ReLU, Unflatten and ConvTranspose2d): the VAE's decoder layout, its
    channels times ``width``."""
    return nn.Sequential(
        nn.Linear(in_features, 32 * width * 7 * 7),
        nn.ReLU(),
        nn.Unflatten(1, (32 * width, 7, 7)),
        nn.ConvTranspose2d(32 * width, 16 * width, 4, stride=2, padding=1),  # 14x14
        nn.ReLU(),
        nn.ConvTranspose2d(16 * width, 1, 4, stride=2, padding=1),  # 28x28, logits
    )


class Autoencoder(nn.Module):
    """An ``encoder`` to one deterministic code and a ``decoder`` to 28x28 logits: what a
    subclass builds; encoding, decoding and the round trip are the same for all of them."""

    latent_dim: int
    encoder: nn.Module
    decoder: nn.Module

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.view(-1, 1, 28, 28))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, 28, 28)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_logits(self.encode(x))


class ConvVAE(nn.Module):
    """Conv encoder (16, 32 channels, times ``width``) -> Gaussian latent -> transposed-conv decoder."""

    def __init__(self, latent_dim: int = 20, width: int = 1):
        super().__init__()
        self.latent_dim = latent_dim
        self.channels = 32 * width
        self.encoder = conv_encoder(width)
        self.fc_mu = nn.Linear(self.channels * 7 * 7, latent_dim)
        self.fc_logvar = nn.Linear(self.channels * 7 * 7, latent_dim)
        # conv_decoder's layers under the names cached results have: fc_dec, then decoder.0-2
        linear, _, _, *convs = conv_decoder(latent_dim, width)
        self.fc_dec = linear
        self.decoder = nn.Sequential(*convs)

    def decoder_sequential(self) -> nn.Sequential:
        """The decoder as one ``nn.Sequential`` of plain layers (Linear, ReLU, Unflatten,
        ConvTranspose2d) mapping (n, latent) -> logits (n, 1, 28, 28): what an in-browser
        decoder mirrors. It shares this model's weights (names stay as cached results have them)."""
        return nn.Sequential(self.fc_dec, nn.ReLU(), nn.Unflatten(1, (self.channels, 7, 7)), *self.decoder)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x.view(-1, 1, 28, 28))
        return self.fc_mu(h), self.fc_logvar(h)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor, generator=None) -> torch.Tensor:
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        return mu + eps * torch.exp(0.5 * logvar)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc_dec(z)).view(-1, self.channels, 7, 7)
        return self.decoder(h).view(-1, 28, 28)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli means in [0, 1], shape (N, 28, 28)."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor, generator=None):
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode_logits(z), mu, logvar


def vae_loss(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             beta: float = 1.0) -> torch.Tensor:
    """Negative ELBO per image: Bernoulli reconstruction (BCE) + KL to N(0, I) (Kingma &
    Welling 2014, appendix B), the KL weighted by ``beta`` (below 1 while a KL annealing
    warms up, Bowman et al. 2016; 1: the plain ELBO)."""
    bce = F.binary_cross_entropy_with_logits(logits, x.view(-1, 28, 28), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (bce + (kld if beta == 1.0 else beta * kld)) / x.shape[0]


def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean KL of each latent dimension over a batch: how much each one is used."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean(0)
