"""The contract of a decision rule: per-class offsets on the logits.

A rule gives one offset per class, relative to class 0 (the majority, the head), and the
prediction is ``argmax(z - offsets)``. With two classes that is a cut on the minority
log-odds ``s = z1 - z0`` (the softmax of two logits is the sigmoid of their difference):
predict the minority when ``s > offsets[1] - offsets[0]``, the rule's ``threshold``.

A rule sees the training counts and, if it tunes anything, the validation split's
log-odds and labels — never the test set (``vaeimb.studies.experiment`` passes no test data here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np

from ...declarations.errors import ConfigError
from ...declarations.part import Part


@dataclass(frozen=True)
class DecisionContext:
    counts_real: tuple[int, ...]  # real training images per class, label order
    counts: tuple[int, ...]  # training images per class incl. generated ones
    balanced_batches: bool  # whether the classifier saw class-balanced batches
    #: Validation split (carved from the training draw); None when the recipe has none.
    #: ``val_logits``: (n,) minority log-odds for two classes, (n, K) logits for K classes.
    val_logits: np.ndarray | None = None
    val_y: np.ndarray | None = None

    def __post_init__(self):
        if len(self.counts_real) < 2 or len(self.counts) != len(self.counts_real):
            raise ValueError(f"DecisionContext: counts_real {self.counts_real} and counts {self.counts} must "
                             "name the same two or more classes.")

    @property
    def n_classes(self) -> int:
        return len(self.counts_real)

    @property
    def n_majority(self) -> int:
        """Majority (class 0, the head) training images; real ones, none are generated."""
        return self.counts_real[0]

    @property
    def n_minority_real(self) -> int:
        """Two classes only: real minority training images."""
        return self._binary_count(self.counts_real, "n_minority_real")

    @property
    def n_minority(self) -> int:
        """Two classes only: minority training images incl. generated ones."""
        return self._binary_count(self.counts, "n_minority")

    def _binary_count(self, counts: tuple[int, ...], what: str) -> int:
        if self.n_classes != 2:
            raise ValueError(f"DecisionContext.{what} is defined for two classes, not {self.n_classes}: read counts.")
        return counts[1]


def predict(logits: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Predicted labels (int64): (n,) minority log-odds -> ``s > offsets[1] - offsets[0]``
    (two classes); (n, K) logits -> ``argmax(z - offsets)`` (ties to the lower label).

    The two-class cut is a Python float, which NumPy 2 types weakly: the comparison runs in
    the log-odds' own dtype, as ``logits > threshold`` always did (float32 log-odds are
    compared in float32; cast them to float64 to compare as ``classification_metrics``)."""
    z = np.asarray(logits)
    o = np.asarray(offsets, dtype=np.float64)
    if z.ndim == 1 and o.shape == (2,):
        return (z > float(o[1] - o[0])).astype(np.int64)
    if z.ndim == 2 and o.shape == (z.shape[1],):
        return np.argmax(z - o, axis=1).astype(np.int64)
    raise ValueError(f"predict: logits of shape {z.shape} and {o.shape[0]} offsets; expected (n,) log-odds "
                     "with 2 offsets or (n, K) logits with K offsets.")


class Decision(Part):
    kind = "decision"
    #: Whether the rule needs a validation split (then the runner carves one).
    needs_validation: ClassVar[bool] = False

    def offsets(self, ctx: DecisionContext) -> np.ndarray:
        """Per-class offsets (K,) float64 relative to class 0: predict ``argmax(z - offsets)``."""
        o = np.asarray(self._offsets(ctx), dtype=np.float64)
        if o.shape != (ctx.n_classes,):
            raise ValueError(f"decision '{self.name}' gave {o.shape} offsets for {ctx.n_classes} classes.")
        if not np.isfinite(o).all():
            raise ValueError(f"decision '{self.name}' gave non-finite offsets {o.tolist()}.")
        return o

    def threshold(self, ctx: DecisionContext) -> float:
        """Two classes: the threshold on the minority log-odds, ``offsets[1] - offsets[0]``:
        predict the minority when log-odds > it."""
        if ctx.n_classes != 2:
            raise ValueError(f"decision '{self.name}': a threshold cuts two classes, not {ctx.n_classes}: "
                             "use offsets().")
        o = self.offsets(ctx)
        return float(o[1] - o[0])

    def _offsets(self, ctx: DecisionContext) -> Sequence[float]:
        """The offsets, in label order. A two-class rule may give just its threshold ``t``
        (``_threshold``): its offsets are ``(0, t)``."""
        if ctx.n_classes != 2:
            raise ConfigError(self.unsupported(ctx.n_classes)
                              or f"decision '{self.name}' serves two classes, not {ctx.n_classes}.")
        return [0.0, self._threshold(ctx)]

    def _threshold(self, ctx: DecisionContext) -> float:
        raise NotImplementedError(f"decision '{self.name}' defines neither _offsets nor _threshold.")
