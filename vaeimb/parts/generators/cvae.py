"""A conditional VAE trained on every class, sampled with the label to fill.

Sohn, Lee & Yan, "Learning Structured Output Representation using Deep Conditional
Generative Models" (NeurIPS 2015): the K-way class one-hot joins the encoder's features and
the latent code, so the decoder learns pen strokes from the many majority images and each
minority's shape from its few images. Same size as the VAE (``models.conv_encoder``
/ ``conv_decoder``), same loss (BCE + KL), so it trains in seconds on a CPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..training import pick_device, seeded_init
from .base import (
    MINORITY_FRACTION,
    NOISE_SEED,
    VAE_PARAMS,
    FitBudget,
    FitData,
    LatentGenerator,
    Progress,
    kl_weight,
    mixed_batches,
    moved_to_networks,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .networks import ConditionalConvVAE

#: The names of ``networks`` this module gave before the networks moved there.
__getattr__ = moved_to_networks(__name__, ("ConditionalConvVAE",))


def one_hot(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """float32 one-hot rows (n, n_classes) of the integer ``labels`` (n,)."""
    import torch.nn.functional as F  # torch: only where the generator computes

    return F.one_hot(labels, n_classes).float()


class CvaeGenerator(LatentGenerator):
    """Conditional VAE on every class; new images decoded from z ~ N(0, I) with the one-hot
    of the label to fill.

    Batches are class-mixed (``mixed_batches``): ``minority_fraction`` of each batch is
    images of the labels to fill, the rest of the others. With 5000 majority against 100
    minority images, uniform batches would hold about 2 % minority images, so the minority
    condition would get almost no gradient and the decoder would draw majority-like strokes
    for it; equal shares give each label as many updates as the majority, while the
    majority still teaches the shared strokes. Under "cycle" batching each class cycles
    through its images in order.
    """

    name = "cvae"
    description = "Conditional VAE trained on every class (class-mixed batches), sampled with the minority label."
    cite = ("Sohn, Lee & Yan, Learning Structured Output Representation using Deep Conditional "
            "Generative Models, NeurIPS 2015")
    uses_majority = True
    params = (MINORITY_FRACTION, *VAE_PARAMS)

    def _fit(self, data: FitData, budget: FitBudget, *, seed: int, progress: Progress) -> None:
        import torch  # torch: only where the generator computes

        from ..models import vae_loss  # torch: the networks load with it
        from .networks import ConditionalConvVAE  # torch: the networks load with it

        device = pick_device()
        batches = mixed_batches(self.name, data, budget, self.values["minority_fraction"], seed, device)
        budget = self.scaled(budget)
        width, warmup = self.values["width"], self.values["beta_warmup"]
        model = seeded_init(seed, lambda: ConditionalConvVAE(budget.latent_dim, data.n_classes, width), device)
        noise = torch.Generator(device=device).manual_seed(seed + NOISE_SEED)
        augment = self._augmenter(seed)

        def batch_loss(step: int) -> torch.Tensor:
            x, labels = batches(step)
            x = augment(x, labels)
            logits, mu, logvar = model(x, one_hot(labels, data.n_classes), noise)
            return vae_loss(logits, x, mu, logvar, kl_weight(step, budget.steps, warmup))

        self.model, self.losses = self._train(model, budget, batch_loss, progress)
        self._summarise(data)

    def _condition(self, label: int, n: int) -> torch.Tensor:
        import torch  # torch: only where the generator computes

        return one_hot(torch.full((n,), label, dtype=torch.long), self.n_classes)

    def _posterior(self, x: torch.Tensor, label: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoded as images of ``label`` (the Latent space page explores the minority's)."""
        return self.model.encode(x, self._condition(label, len(x)))

    def _decode_logits(self, z: torch.Tensor, label: int) -> torch.Tensor:
        return self.model.decode_logits(z, self._condition(label, len(z)))

    def decoder_module(self, label: int | None = None) -> nn.Sequential:
        """Maps (n, latent_dim + K) = [z, one-hot] to logits (n, 1, 28, 28), for every label."""
        self._check_fitted()
        return self.model.decoder.eval()

    def decoder_condition(self, label: int | None = None) -> np.ndarray:
        return self._condition(self._label(label), 1)[0].numpy()

    def _new_model(self, latent_dim: int) -> ConditionalConvVAE:
        from .networks import ConditionalConvVAE  # torch: the networks load with it

        return ConditionalConvVAE(latent_dim, self.n_classes, self.values["width"])
