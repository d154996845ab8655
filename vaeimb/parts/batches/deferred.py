"""Deferred re-sampling (DRS; Cao et al., "Learning imbalanced datasets with label-distribution-
aware margin loss", NeurIPS 2019): uniform batches first, so the features are learned on the
natural distribution, then class-balanced batches from the first step past ``switch`` of the
training (Cao et al. defer to epoch 160 of 200: 0.8).

With ``stage2="head"`` it is classifier re-training (cRT; Kang et al., "Decoupling
representation and classifier for long-tailed recognition", ICLR 2020): in the balanced
stage the features are frozen and only the last layer, re-initialised, is trained.

``first_stage_rows(n)`` draws the uniform stage from the first ``n`` rows alone (the real
images: generated ones enter in the balanced stage).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ...declarations.errors import ConfigError
from ...declarations.params import Param
from ...declarations.part import SWITCH, check_switch, first_switched_step, switched_on
from .balanced import BalancedBatches
from .base import BatchPolicy
from .random_batches import RandomBatches

if TYPE_CHECKING:
    import torch


class DeferredBatches(BatchPolicy):
    """``random``'s draws until the switch, ``balanced``'s after it (the same generator)."""

    name = "deferred"
    #: The model that is kept comes out of the balanced phase (a "seen" prior is uniform).
    balances = True
    two_stage = True
    description = "Uniform batches, then class-balanced ones after a fraction of the steps (deferred re-sampling)."
    cite = "Cao et al., Learning imbalanced datasets with label-distribution-aware margin loss, NeurIPS 2019"
    params = (
        dataclasses.replace(SWITCH, default=0.8, optional=False),
        Param("stage2", "all", "choice", choices=("all", "head"),
              help="What trains on the balanced batches: all: every weight (DRS); head: the last layer alone, "
                   "re-initialised, the features frozen (cRT)."),
    )

    def __init__(self, **values):
        super().__init__(**values)
        check_switch(self.values["switch"], f"batches '{self.name}'")
        self._phases = (RandomBatches(), BalancedBatches())
        self._first_rows: int | None = None

    def first_stage_rows(self, n: int) -> None:
        if n < 1:
            raise ConfigError(f"batches '{self.name}': the first stage needs at least one row to draw from, got {n}.")
        self._first_rows = int(n)

    def prepare(self, y, n_classes: int | None = None, steps: int | None = None) -> None:
        if steps is None or steps < 1:
            raise ConfigError(f"batches '{self.name}' need the number of training steps to defer by.")
        super().prepare(y, n_classes, steps)
        if self._first_rows is None:
            for phase in self._phases:
                phase.prepare(y, n_classes, steps)
        else:
            if self._first_rows > len(y):
                raise ValueError(f"batches '{self.name}': first_stage_rows({self._first_rows}) exceeds the "
                                 f"{len(y)} training rows.")
            self._phases[0].prepare(y[: self._first_rows], n_classes, steps)
            self._phases[1].prepare(y, n_classes, steps)
        self._step = 0

    def head_only_from(self) -> int | None:
        if self.values["stage2"] != "head":
            return None
        return first_switched_step(self.values["switch"], self._steps)

    def indices(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        if not hasattr(self, "_step"):
            raise RuntimeError(f"batches '{self.name}': call prepare(y, steps=...) before drawing batches.")
        self._step += 1
        balanced = switched_on(self.values["switch"], self._step, self._steps)
        return self._phases[balanced].indices(batch_size, generator)
