"""The contract of a batch-level mixing of images and their labels (mixup and its kin).

A mixing part takes a batch after its augmentation and returns a ``Mixed`` batch: the
images to train on, two label vectors and the weight ``lam`` of the first. Every loss
composes with it unchanged: the loss of a mixed batch is
``lam * loss(out, y_a) + (1 - lam) * loss(out, y_b)`` (Zhang et al.'s ``mixup_criterion``),
with one ``lam`` for the whole batch. Methods whose label weight differs row by row (Remix:
0, ``lam`` or 1) write a row whose label weight is 1 with ``y_b = y_a`` and one whose
weight is 0 with ``y_a = y_b``: the same per-row loss, and still one ``lam``.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from ...declarations.errors import ConfigError
from ...declarations.params import Param
from ...declarations.part import Part

if TYPE_CHECKING:
    import torch

#: Mixup's Beta(alpha, alpha) concentration, declared once for every part that mixes.
ALPHA = Param("alpha", 1.0, "float", 0.0, 100.0,
              help="The mixing weight lam ~ Beta(alpha, alpha): above 0; 1 = uniform, small = mostly one image.")


@dataclass(frozen=True)
class Mixed:
    """A batch to train on: images ``x``, labels ``y_a`` weighted ``lam`` and ``y_b`` weighted ``1 - lam``."""

    x: torch.Tensor
    y_a: torch.Tensor
    y_b: torch.Tensor
    lam: float

    def loss(self, loss: Callable, out: torch.Tensor, ctx) -> torch.Tensor:
        """``loss`` (a ``losses.Loss``) of the model's output ``out`` on this batch."""
        if self.lam == 1.0:
            return loss(out, self.y_a, ctx)
        return self.lam * loss(out, self.y_a, ctx) + (1.0 - self.lam) * loss(out, self.y_b, ctx)


def check_alpha(value: float, owner: str) -> float:
    """A Beta concentration strictly above 0 (0 would be no mixing: say so)."""
    if not value > 0.0:
        raise ConfigError(f"{owner}: alpha must be above 0 (lam ~ Beta(alpha, alpha)), got {value:g}; "
                          "for no mixing choose mix=none.")
    return value


def beta_draw(alpha: float, generator: torch.Generator) -> float:
    """One ``lam ~ Beta(alpha, alpha)`` from ``generator``: the inverse CDF (scipy) of a
    uniform drawn in float64, so the same on every device and platform."""
    import torch  # torch: loaded where the part computes, its class loads torch-free
    from scipy.special import (
        betaincinv,  # scipy is a core dependency; loaded when a batch is first mixed
    )

    u = float(torch.rand((), generator=generator, dtype=torch.float64))
    return float(np.clip(betaincinv(alpha, alpha, u), 0.0, 1.0))


class Mixing(Part):
    kind = "mixing"

    def prepare(self, counts: tuple[int, ...]) -> None:
        """Called once before the first batch with the training images per class (label order)."""
        self._counts = tuple(int(c) for c in counts)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Mixed:
        """The batch ``x`` (B, 28, 28), labels ``y`` (B,) mixed; every draw from ``generator``."""
        import torch  # torch: loaded where the part computes, its class loads torch-free

        if len(x) < 2:
            return Mixed(x, y, y, 1.0)
        lam = beta_draw(self.values["alpha"], generator)
        perm = torch.randperm(len(x), generator=generator).to(x.device)
        mixed = lam * x + (1.0 - lam) * x[perm]
        y_a, y_b = self._labels(y, y[perm], lam)
        return Mixed(mixed, y_a, y_b, lam)

    @abstractmethod
    def _labels(self, y_a: torch.Tensor, y_b: torch.Tensor, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The two label vectors of rows mixed as ``lam * image_a + (1 - lam) * image_b``."""
