"""The contract of a training loss for a K-class classifier (label 0 = the head, the
largest class; labels 1..K-1 = the minority classes).

Two classes (a digit pair, majority 0 / minority 1) keep their own closed form: every loss
works on the minority log-odds ``s`` of each image (``models.minority_logit``: one logit as
the original code, or the difference of two), so the same loss serves both heads: softmax
cross-entropy over two logits (z0, z1) is exactly sigmoid cross-entropy on ``s = z1 - z0``
(the softmax of two logits is the sigmoid of their difference). With K > 2 classes a loss
works on the logits matrix ``z`` (B, K) itself.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...declarations.part import Part

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class LossContext:
    """What a loss may know besides the batch: the class counts it trains on and the step."""

    counts: tuple[int, ...]  # training images per class incl. generated ones, label order
    counts_real: tuple[int, ...]  # real training images per class (the prior the test world does not have)
    step: int  # 1-based current step
    steps: int  # total steps

    def __post_init__(self):
        if len(self.counts) < 2 or len(self.counts) != len(self.counts_real):
            raise ValueError(f"LossContext: counts {self.counts} and counts_real {self.counts_real} must "
                             "name the same two or more classes.")

    @property
    def n_classes(self) -> int:
        return len(self.counts)

    @property
    def n_majority(self) -> int:
        """Training images of class 0 (the majority; the head with K classes)."""
        return self.counts[0]

    @property
    def n_minority(self) -> int:
        """Two classes only: minority training images (real + generated)."""
        return self._binary_count(self.counts, "n_minority")

    @property
    def n_minority_real(self) -> int:
        """Two classes only: real minority training images."""
        return self._binary_count(self.counts_real, "n_minority_real")

    def _binary_count(self, counts: tuple[int, ...], what: str) -> int:
        if self.n_classes != 2:
            raise ValueError(f"LossContext.{what} is defined for two classes, not {self.n_classes}: read counts.")
        return counts[1]


class Loss(Part):
    kind = "loss"

    def __call__(self, out: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        """Mean loss of a batch, ``y`` (B,) int64 labels.

        ``out`` (B,): the minority log-odds of a two-class task (the binary closed form,
        ``_binary``); ``out`` (B, K): the logits of a K-class task (``_multiclass``; a
        (B, 2) matrix goes there too and agrees with the binary form up to rounding).
        """
        if out.ndim == 1:
            if ctx.n_classes != 2:
                raise ValueError(f"loss '{self.name}': log-odds (B,) serve two classes, "
                                 f"the context counts {ctx.n_classes}: pass the logits (B, K).")
            return self._binary(out, y.to(out.dtype), ctx)
        if out.ndim != 2 or out.shape[1] != ctx.n_classes:
            raise ValueError(f"loss '{self.name}': logits of shape {tuple(out.shape)} for "
                             f"{ctx.n_classes} classes; expected (B, {ctx.n_classes}).")
        return self._multiclass(out, y.long(), ctx)

    @abstractmethod
    def _binary(self, s: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        """Two classes: ``s`` (B,) minority log-odds, ``y`` (B,) labels as floats in {0, 1}."""

    @abstractmethod
    def _multiclass(self, z: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        """K classes: ``z`` (B, K) logits, ``y`` (B,) int64 labels in 0..K-1."""
