"""The contract of a data source: which images a classifier trains on.

The runner asks its recipe's source three things: is it a bound (not a realistic
approach), can this config run it, and what is the training set of one draw. A source
that needs a generator receives a ``sample(n)`` function (the fitted generator's) and
says how many images it wants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from ..parts import Part


@dataclass(frozen=True)
class TrainingSet:
    """Images (uint8, N x 28 x 28) and labels (0..K-1) a classifier trains on, with how
    many images of each label are real and how many of each were generated."""

    x: np.ndarray
    y: np.ndarray
    counts_real: tuple[int, ...]
    generated: tuple[int, ...] = ()

    @property
    def n_generated(self) -> int:
        return int(sum(self.generated))

    @property
    def n_minority_real(self) -> int:
        """Real images of label 1 (the pair's minority)."""
        return self.counts_real[1]


class DataSource(Part):
    kind = "data"
    #: Trains on data the other approaches do not have: a limit to compare with, never a
    #: verdict's winner.
    is_bound: ClassVar[bool] = False
    #: Adds a generator's images (a recipe with ``gen=``).
    uses_generator: ClassVar[bool] = False
    #: How a recipe's description names the training images (``{gen}``: the generator).
    label: ClassVar[str] = ""

    def unavailable(self, config) -> str | None:
        """Why this source cannot run ``config`` (None when it can)."""
        return None

    def n_generate(self, counts: tuple[int, ...]) -> dict[int, int]:
        """How many images the generator should add to each minority label of a draw
        with these per-label counts (label 0 is the head)."""
        return {}

    def training_set(self, draw, sample: Callable[[int, int], np.ndarray] | None = None) -> TrainingSet:
        """The training set built from ``draw`` (a ``data.ExperimentData``); ``sample(n, label)``
        returns ``n`` generated images of ``label`` (sources that use a generator only)."""
        raise NotImplementedError
