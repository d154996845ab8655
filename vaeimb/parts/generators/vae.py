"""The original experiment's generator: a conv VAE fitted to the minority images alone.

Kingma & Welling, "Auto-Encoding Variational Bayes" (ICLR 2014); the model and loss are
``models.ConvVAE`` / ``models.vae_loss`` (after pytorch/examples ``vae/main.py``). Sampling
(``LatentGenerator``'s): z ~ N(0, I), decoded, quantised to uint8. With several labels to
fill, one VAE per label, each fitted as the pair's on that label's images (``PerClass``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..training import pick_device, seeded_init, to_tensor
from .base import (
    BATCH_SEED,
    CPU,
    NOISE_SEED,
    VAE_PARAMS,
    FitBudget,
    LatentGenerator,
    PerClass,
    Progress,
    batch_indices,
    code_summary,
    kl_weight,
    load_module_arrays,
    module_arrays,
)

if TYPE_CHECKING:
    import torch

    from ..models import ConvVAE


@dataclass
class ClassVae:
    """One label's VAE: the model, its logged losses, and its images' codes, KL per dimension
    and posterior spreads (None in a state stored before they were kept)."""

    model: ConvVAE
    losses: np.ndarray
    latent_mu: np.ndarray
    kl_per_dim: np.ndarray
    latent_sd: np.ndarray | None = None


class VaeGenerator(PerClass, LatentGenerator):
    """Conv VAE on the minority images only (one per label to fill); samples decoded from
    the prior N(0, I)."""

    name = "vae"
    description = "Conv VAE fitted to the minority images only; new images decoded from z ~ N(0, I)."
    cite = "Kingma & Welling, Auto-Encoding Variational Bayes, ICLR 2014"
    params = VAE_PARAMS

    fits: dict[int, ClassVae]

    def _fit_class(self, label: int, images: np.ndarray, budget: FitBudget, *, seed: int,
                   progress: Progress) -> ClassVae:
        import torch  # torch: only where the generator computes

        from ..models import ConvVAE, vae_loss  # torch: the networks load with it

        device = pick_device()
        budget = self.scaled(budget)
        model = seeded_init(seed, lambda: ConvVAE(budget.latent_dim, self.values["width"]), device)
        gen = torch.Generator().manual_seed(seed + BATCH_SEED)
        noise = torch.Generator(device=device).manual_seed(seed + NOISE_SEED)
        x = to_tensor(images, device)
        augment = self._augmenter(seed)
        warmup = self.values["beta_warmup"]

        def batch_loss(step: int) -> torch.Tensor:
            idx = batch_indices(step - 1, len(x), budget.batch_size, budget.batching, gen).to(device)
            xb = augment(x[idx], None)
            logits, mu, logvar = model(xb, noise)
            return vae_loss(logits, xb, mu, logvar, kl_weight(step, budget.steps, warmup))

        model, losses = self._train(model, budget, batch_loss, progress)
        with torch.no_grad():
            mu, logvar = model.encode(to_tensor(images, CPU))
            return ClassVae(model, losses, *code_summary(mu, logvar), torch.exp(0.5 * logvar).numpy())

    def _class_state(self, fit: ClassVae) -> tuple[dict, dict[str, np.ndarray]]:
        sd = {} if fit.latent_sd is None else {"latent_sd": fit.latent_sd}
        return {"latent_dim": self.latent_dim}, {
            **module_arrays(fit.model), "latent_mu": fit.latent_mu, "kl_per_dim": fit.kl_per_dim, "losses": fit.losses,
            **sd,
        }

    def _load_class(self, meta: dict, arrays: dict[str, np.ndarray]) -> ClassVae:
        self.latent_dim = int(meta["latent_dim"])
        model = self._new_model(self.latent_dim)
        load_module_arrays(model, arrays)
        losses, mu, kl = (np.asarray(arrays[k], np.float32) for k in ("losses", "latent_mu", "kl_per_dim"))
        sd = np.asarray(arrays["latent_sd"], np.float32) if "latent_sd" in arrays else None
        return ClassVae(model.eval(), losses, mu, kl, sd)

    @property
    def model(self) -> ConvVAE:
        """The minority's (``fill[0]``'s) VAE."""
        return self.fits[self.fill[0]].model

    @property
    def losses(self) -> np.ndarray:
        return self.fits[self.fill[0]].losses

    def latent_mu_of(self, label: int | None) -> np.ndarray:
        return self.fits[self._label(label)].latent_mu

    def kl_per_dim_of(self, label: int | None) -> np.ndarray:
        return self.fits[self._label(label)].kl_per_dim

    def spread_of(self, label: int) -> np.ndarray | None:
        return self.fits[self._label(label)].latent_sd

    def _posterior(self, x: torch.Tensor, label: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fits[label].model.encode(x)

    def _decode_logits(self, z: torch.Tensor, label: int) -> torch.Tensor:
        return self.fits[label].model.decode_logits(z)

    def decoder_module(self, label: int | None = None) -> torch.nn.Sequential:
        return self.fits[self._label(label)].model.decoder_sequential().eval()

    def _new_model(self, latent_dim: int) -> ConvVAE:
        from ..models import ConvVAE  # torch: the networks load with it

        return ConvVAE(latent_dim, self.values["width"])
