"""The contract of a training loss for the binary (majority 0 / minority 1) classifier.

Every loss works on the minority log-odds ``s`` of each image (``models.minority_logit``:
one logit as the original code, or the difference of two), so the same loss serves both
heads: softmax cross-entropy over two logits is exactly sigmoid cross-entropy on ``s``.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import torch

from ..parts import Part


@dataclass(frozen=True)
class LossContext:
    """What a loss may know besides the batch: the class counts it trains on and the step."""

    n_majority: int  # majority images in the training set (real)
    n_minority: int  # minority images in the training set (real + generated)
    n_minority_real: int  # real minority images (the prior the test world does not have)
    step: int  # 1-based current step
    steps: int  # total steps


class Loss(Part):
    kind = "loss"

    def __call__(self, s: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        """Mean loss of a batch: ``s`` (B,) minority log-odds, ``y`` (B,) int64 labels."""
        return self._loss(s, y.to(s.dtype), ctx)

    @abstractmethod
    def _loss(self, s: torch.Tensor, y: torch.Tensor, ctx: LossContext) -> torch.Tensor: ...
