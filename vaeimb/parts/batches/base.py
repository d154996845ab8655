"""The contract of a batch policy: which training rows each step sees."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ...declarations.errors import ConfigError
from ...declarations.part import Part

if TYPE_CHECKING:
    import torch


class BatchPolicy(Part):
    kind = "batches"
    #: Whether batches hold the classes in equal shares (the decision's prior then is
    #: the balanced one, not the training set's).
    balances: ClassVar[bool] = False
    #: Whether the batches change in a second stage of training (a deferred policy): only
    #: such a policy can keep generated images out of its first stage (``first_stage_rows``).
    two_stage: ClassVar[bool] = False

    def prepare(self, y: np.ndarray, n_classes: int | None = None, steps: int | None = None) -> None:
        """Called once with the training labels (0 = majority, 1..K-1 = the minority
        classes) before the first batch. ``n_classes``: K when known (else the largest
        label + 1, at least 2), so that a class without any image is noticed. ``steps``: the
        training's length, for a policy whose batches change during training."""
        self._y = np.asarray(y)
        self._steps = steps

    def first_stage_rows(self, n: int) -> None:
        """Draw the first stage's batches from rows ``0..n-1`` alone (a training set's real
        images, which come first), the second stage's from every row. Called before
        ``prepare``; a policy without a second stage (``two_stage`` False) refuses."""
        raise ConfigError(f"batches '{self.name}' have no second stage to hold generated images back for "
                          "(data stage=second): choose batches=deferred or data stage=all.")

    def head_only_from(self) -> int | None:
        """The first 1-based step from which only the classifier's last layer trains, on
        this policy's batches (two-stage classifier re-training, cRT); None: never."""
        return None

    @abstractmethod
    def indices(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """Row indices (int64) of the next batch, drawn from ``generator``."""
