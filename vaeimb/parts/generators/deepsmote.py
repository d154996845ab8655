"""DeepSMOTE: its own autoencoder and permutation penalty, then SMOTE between a label's codes.

Dablain, Krawczyk & Chawla, "DeepSMOTE: Fusing Deep Learning and SMOTE for Imbalanced
Data" (IEEE TNNLS 2022), after the authors' ``DeepSMOTE_MNIST.py`` (github dd1github/DeepSMOTE):

- encoder: four stride-2 4x4 convs (``dim_h``, 2, 4 and 8 dim_h channels, no bias,
  BatchNorm after all but the first, LeakyReLU 0.2; 28 -> 14 -> 7 -> 3 -> 1), then a linear
  layer to the ``n_z``-d code;
- decoder: a linear layer to 8 dim_h x 7 x 7 and ReLU, then three transposed 4x4 convs
  (4 and 2 dim_h channels with BatchNorm and ReLU, then 1; 7 -> 10 -> 13 -> 28);
- loss per step: reconstruction MSE of the batch plus the permutation penalty: take up to
  100 images of one random class, encode them (the codes detached, as the original's
  round trip through numpy), shift codes and images cyclically by one (i -> i + 1 mod n),
  decode the shifted codes and add their MSE against the shifted images (weight
  ``penalty``; 0: a plain autoencoder). Codes and images move together, so each code is
  still decoded against its own image: the term is that class's reconstruction error
  through the decoder alone (the encoder gets no gradient from it), and the shift changes
  nothing but the order of the sums;
- generation: SMOTE between the codes of one label to fill, decoded.

Our conventions instead of the original's: images in [0, 1] and a decoder that outputs
logits (no Tanh; the image is their sigmoid), so the MSE is between sigmoid(logits) and x
in place of tanh against [-1, 1] images: the same loss up to a factor 4, on both terms.
Batches are class-mixed (``mixed_batches``, as ``latent-smote``) and the step count, batch
size and learning rate come from the experiment's budget (the original: Adam at 2e-4,
batches of 100, 200 epochs). The penalty's class is drawn uniformly among the labels the
batches draw from that have at least 2 images (BatchNorm needs two; one image has nothing
to shift). BatchNorm trains in train mode and encodes, decodes and samples in eval mode;
``decoder_module`` folds each BatchNorm into the transposed conv before it, so the
in-browser decoder (plain layers only) and ``decode`` run the same folded decoder. That
decoder takes at most 256 latent dimensions and 4 million weights: at the defaults (n_z
300, dim_h 64: 10 million) the Latent space page decodes on the server instead; n_z <= 256
with dim_h <= 32 decodes in the browser.

Cost: the decoder's first transposed conv alone is about 0.2 GFLOP per image at dim_h 64
(0.1 G multiply-adds), and the cost grows about as the square of dim_h. Seconds per
training step at batch 128, n_z 300, on MNIST (the penalty adds its 100 images), AMD EPYC,
1 thread, date 2026-12-06 (median over steps; ``latent-smote`` 0.025 s the same way):

    dim_h                  8       16      32      64
    penalty 1 (default)    0.09    0.25    0.75    2.9
    penalty 0              0.06    0.14    0.45    1.7

So the deepsmote protocol's 2000 steps take about 3 minutes at dim_h 8, 8 at dim_h 16,
25 at dim_h 32 and 95 at dim_h 64 (DeepSMOTE's own size) on one core.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ...declarations.params import Param
from ..training import pick_device, seeded_init, to_tensor
from .base import (
    BATCH_SEED,
    FILTER_Q,
    MINORITY_FRACTION,
    STEPS_SCALE,
    TRAIN_AUG,
    FitBudget,
    FitData,
    GeneratorError,
    LatentGenerator,
    Progress,
    mixed_batches,
    moved_to_networks,
)
from .smote import K_NEIGHBORS, check_neighbors, smote_new_rows

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .networks import DeepSmoteAutoencoder

#: The names of ``networks`` this module gave before the networks moved there.
__getattr__ = moved_to_networks(__name__, ("DeepSmoteAutoencoder",))

#: Images of one class the permutation penalty decodes per step (the original's 100).
PENALTY_IMAGES = 100
#: Seed offset of the penalty's class and image draws (the batches use ``BATCH_SEED``).
PENALTY_SEED = BATCH_SEED + 1

N_Z = Param("n_z", 300, "int", 2, 512, help="Latent size (DeepSMOTE's 300); the budget's latent size is not used.")
DIM_H = Param("dim_h", 64, "int", 4, 64,
              help="Channels of the first conv (DeepSMOTE's dim_h, 64); the cost per step grows about as its square.")
PENALTY = Param("penalty", 1.0, "float", 0.0, 10.0,
                help="Weight of DeepSMOTE's permutation penalty (1 as the original); 0: a plain autoencoder.")


def reconstruction_mse(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the decoded images sigmoid(logits) and ``x`` in [0, 1]."""
    import torch  # torch: only where the generator computes
    import torch.nn.functional as F  # torch: only where the generator computes

    return F.mse_loss(torch.sigmoid(logits), x.view(-1, 28, 28))


def permutation_penalty(model: DeepSmoteAutoencoder, images: torch.Tensor) -> torch.Tensor:
    """DeepSMOTE's penalty on ``images`` of one class (n >= 2): their codes, detached, and the
    images shifted cyclically by one; the MSE of the decoded shifted codes against the
    shifted images. Only the decoder gets a gradient."""
    import torch  # torch: only where the generator computes

    with torch.no_grad():
        codes = model.encode(images)
    shift = torch.roll(torch.arange(len(images), device=images.device), -1)  # i -> i + 1 mod n
    return reconstruction_mse(model.decode_logits(codes[shift]), images[shift])


def fold_batchnorm(conv: nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> nn.ConvTranspose2d:
    """A transposed conv computing ``bn(conv(x))`` with ``bn`` in eval mode (its running
    statistics): each output channel's weights scaled by gamma / sqrt(var + eps), the bias
    set to (bias - mean) * that scale + beta. A new layer; ``conv`` and ``bn`` are unchanged."""
    import torch  # torch: only where the generator computes
    from torch import nn  # torch: only where the generator computes

    out = nn.ConvTranspose2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                             conv.output_padding, conv.groups, True, conv.dilation, conv.padding_mode)
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    with torch.no_grad():
        out.weight.copy_((conv.weight.double() * scale.view(1, -1, 1, 1)).float())  # weight: (in, out, kh, kw)
        out.bias.copy_(((bias - bn.running_mean.double()) * scale + bn.bias.double()).float())
    return out.eval()


def folded_decoder(decoder: nn.Sequential) -> nn.Sequential:
    """``decoder`` (eval mode) as plain layers: every BatchNorm2d folded into the transposed
    conv before it (what the in-browser decoder mirrors: Linear, ReLU, Unflatten, ConvTranspose2d)."""
    from torch import nn  # torch: only where the generator computes

    layers: list[nn.Module] = []
    for layer in decoder:
        if isinstance(layer, nn.BatchNorm2d):
            if not layers or not isinstance(layers[-1], nn.ConvTranspose2d):
                raise GeneratorError("a BatchNorm2d can be folded only into the transposed conv just before it.")
            layers[-1] = fold_batchnorm(layers[-1], layer)
        else:
            layers.append(layer)
    return nn.Sequential(*layers).eval()


class DeepSmoteGenerator(LatentGenerator):
    """DeepSMOTE's autoencoder on every class (class-mixed batches, MSE plus the
    permutation penalty), then SMOTE among each label's own codes (``codes``), decoded.

    One autoencoder serves every label: ``_posterior`` and ``_decode_logits`` ignore it.
    ``kl_per_dim`` is all zeros (a deterministic autoencoder); the latent size is ``n_z``.
    """

    name = "deepsmote"
    description = "DeepSMOTE's own autoencoder (BatchNorm, permutation penalty) on every class, SMOTE between codes."
    cite = "Dablain, Krawczyk & Chawla, DeepSMOTE, IEEE TNNLS 2022"
    uses_majority = True
    params = (N_Z, DIM_H, PENALTY, K_NEIGHBORS, MINORITY_FRACTION, TRAIN_AUG, STEPS_SCALE, FILTER_Q)

    def _fit(self, data: FitData, budget: FitBudget, *, seed: int, progress: Progress) -> None:
        import torch  # torch: only where the generator computes

        for c in data.fill:
            check_neighbors(self.name, self.values["k_neighbors"], len(data.by_class[c]), c)
        if budget.batch_size < 2:
            raise GeneratorError(f"generator '{self.name}' normalises each batch (BatchNorm) and needs batches of "
                                 f"at least 2 images, got {budget.batch_size}; raise the generator batch size.")
        fraction, weight = self.values["minority_fraction"], self.values["penalty"]
        device = pick_device()
        budget = self.scaled(budget)
        batches = mixed_batches(self.name, data, budget, fraction, seed, device)
        drawn = data.fill if fraction == 1.0 else range(data.n_classes)  # the labels the batches draw from
        classes = [c for c in drawn if len(data.by_class[c]) >= 2]
        gen = torch.Generator().manual_seed(seed + PENALTY_SEED)
        model = seeded_init(seed, lambda: self._new_model(self.values["n_z"]), device)
        augment = self._augmenter(seed)

        def penalty_images() -> torch.Tensor:
            """Up to 100 images of a class drawn uniformly, without replacement."""
            c = classes[int(torch.randint(len(classes), (1,), generator=gen))]
            x = data.by_class[c]
            idx = torch.randperm(len(x), generator=gen)[:PENALTY_IMAGES]
            return to_tensor(x[idx.numpy()], device)

        def batch_loss(step: int) -> torch.Tensor:
            x, labels = batches(step)
            x = augment(x, labels)
            loss = reconstruction_mse(model(x), x)
            if weight > 0:
                loss = loss + weight * permutation_penalty(model, penalty_images())
            return loss

        self.model, self.losses = self._train(model, replace(budget, latent_dim=self.values["n_z"]), batch_loss,
                                              progress)
        self._summarise(data)

    def _posterior(self, x: torch.Tensor, label: int) -> tuple[torch.Tensor, None]:
        return self.model.encode(x), None

    def _decode_logits(self, z: torch.Tensor, label: int) -> torch.Tensor:
        """Through the folded decoder, so ``decode`` and the browser's decoder agree exactly."""
        return self._plain_decoder()(z).view(-1, 28, 28)

    def _sample(self, n: int, *, seed: int, label: int) -> np.ndarray:
        """SMOTE between the label's codes, decoded."""
        import torch  # torch: only where the generator computes

        codes = smote_new_rows(self.codes[label], n, self.values["k_neighbors"], seed)
        return self._images(torch.from_numpy(codes), label)

    def decoder_module(self, label: int | None = None) -> nn.Sequential:
        """The one decoder of every label, each BatchNorm folded into its transposed conv
        (built once per fitted or loaded model)."""
        self._check_fitted()
        return self._plain_decoder()

    def _plain_decoder(self) -> nn.Sequential:
        """``folded_decoder`` of the model, built once per fitted or loaded model."""
        if getattr(self, "_folded_of", None) is not self.model:
            self._folded, self._folded_of = folded_decoder(self.model.eval().decoder), self.model
        return self._folded

    def _new_model(self, latent_dim: int) -> DeepSmoteAutoencoder:
        from .networks import DeepSmoteAutoencoder  # torch: the networks load with it

        return DeepSmoteAutoencoder(latent_dim, self.values["dim_h"])
