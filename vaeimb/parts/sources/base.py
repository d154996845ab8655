"""The contract of a data source: which images a classifier trains on.

The runner asks its recipe's source four things: is it a bound (not a realistic
approach), can this config run it, can it train with the recipe's batch policy, and what
is the training set of one draw. A source that needs a generator receives a
``sample(n, label)`` function (the fitted generator's), a ``reconstruct(images, label)``
function and the seed, and says how many images it wants.

A training set puts the draw's real rows first and the generated ones after them: row
``i`` is generated exactly when ``i >= n_real``. Training reads how generated rows are
used (their loss ``weight``, the ``stage`` they enter the batches) from the set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from ...declarations.part import Part


@dataclass(frozen=True)
class TrainingSet:
    """Images (uint8, N x 28 x 28) and labels (0..K-1) a classifier trains on, with how
    many images of each label are real and how many of each were generated."""

    x: np.ndarray
    y: np.ndarray
    counts_real: tuple[int, ...]
    generated: tuple[int, ...] = ()
    #: The loss weight of a generated row relative to a real one (1: the same).
    weight: float = 1.0
    #: When generated rows enter the batches: "all" (every step) or "second" (only in a
    #: two-stage batch policy's second stage).
    stage: str = "all"
    #: Real images of each label replaced by their reconstruction through the generator
    #: (still real rows: the first ``n_real``); empty: none.
    replaced: tuple[int, ...] = ()
    #: What the generator's confidence filter drew and kept for this set, by label (empty: no filter).
    filtered: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def n_generated(self) -> int:
        return int(sum(self.generated))

    @property
    def n_real(self) -> int:
        """Rows ``0..n_real-1`` hold the draw's real images, the rest generated ones."""
        return int(sum(self.counts_real))

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

    def batches_conflict(self, batches) -> str | None:
        """Why this source's settings cannot train with the batch policy ``batches``
        (None when they can); checked before anything of the classifier trains."""
        return None

    def generator_conflict(self, generator) -> str | None:
        """Why this source's settings cannot use the recipe's ``generator`` (None when they
        can); checked when the approaches are planned, before anything trains."""
        return None

    def n_generate(self, counts: tuple[int, ...]) -> dict[int, int]:
        """How many images the generator should add to each minority label of a draw
        with these per-label counts (label 0 is the head)."""
        return {}

    def training_set(self, draw, sample: Callable[[int, int], np.ndarray] | None = None, *,
                     reconstruct: Callable[[np.ndarray, int], np.ndarray] | None = None,
                     seed: int | None = None) -> TrainingSet:
        """The training set built from ``draw`` (a ``data.ExperimentData``). Sources that
        use a generator (``uses_generator``) only are given ``sample(n, label)``: ``n``
        generated images of ``label``; the keywords ``reconstruct(images, label)``: uint8
        images (n, 28, 28) of ``label`` encoded and decoded by the generator; and ``seed``:
        the experiment's seed, for the source's own draws."""
        raise NotImplementedError
