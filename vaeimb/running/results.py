"""Results: one approach trained with one seed, and all runs of one config over seeds.

What the runner returns and the reports, figures, verdict and pages read. Summaries keep
the spread and the seed count; the verdict compares approaches seed by seed (paired).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..declarations.config import ExperimentConfig
from ..parts.decisions.base import predict
from ..parts.metrics import (
    Spread,
    confusion_matrix_k,
    metric_info,
    metrics_for,
    per_class_rates,
    sigmoid,
    spread,
)
from ..statistics.stats import DEFAULT_CORRECTION, GAP_CLOSED, GAP_FROM, GAP_TO
from ..statistics.verdict import GapClosed, gap_closed
from ..statistics.verdict import verdict as paired_verdict
from .recipes import Approach, part_class


@dataclass
class RunResult:
    """One approach trained with one seed, evaluated on the task's test set.

    Two classes: ``checkpoint_logits`` are the minority log-odds (C, n_test), cut at
    ``threshold``. K classes: logits (C, n_test, K), the prediction ``argmax(z - offsets)``.
    """

    approach: str
    seed: int
    threshold: float  # on the minority log-odds (NaN for K > 2)
    checkpoint_steps: np.ndarray  # (C,)
    checkpoint_logits: np.ndarray  # (C, n_test) log-odds or (C, n_test, K) logits; last = final model
    test_y: np.ndarray  # (n_test,) labels (the pair: 1 = minority)
    test_index: np.ndarray  # (n_test,) positions in MNIST's test split
    metrics: dict[str, float]
    info: dict = field(default_factory=dict)  # counts, recipe, threshold, provenance, ...
    #: Validation errors at each checkpoint (recipes with a validation split), else None.
    val_curve: np.ndarray | None = None
    #: The decision's per-class offsets (K > 2), else None.
    offsets: np.ndarray | None = None
    #: Other fixed test sets: name -> rows of the test set (the long tail's "imbalanced").
    test_subsets: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return 2 if self.checkpoint_logits.ndim == 2 else self.checkpoint_logits.shape[2]

    @property
    def logits(self) -> np.ndarray:
        return self.checkpoint_logits[-1]

    @property
    def probabilities(self) -> np.ndarray:
        """Predicted minority probability of each test image (final model; two classes)."""
        return sigmoid(self.logits)

    def _offsets(self) -> np.ndarray:
        return np.array([0.0, self.threshold]) if self.offsets is None else self.offsets

    @property
    def predictions(self) -> np.ndarray:
        return predict(self.logits, self._offsets())

    @property
    def confusion(self) -> np.ndarray:
        """Counts, rows = true label, columns = predicted label (2 x 2 or K x K)."""
        return confusion_matrix_k(self.test_y, self.predictions, self.n_classes)

    def per_class(self, subset: str | None = None) -> dict[str, np.ndarray]:
        """Recall and precision of each label on the test set (or a named subset of it)."""
        rows = slice(None) if subset is None else self.test_subsets[subset]
        return per_class_rates(confusion_matrix_k(self.test_y[rows], self.predictions[rows], self.n_classes))

    @property
    def curve_errors(self) -> np.ndarray:
        """Misclassified test images at each checkpoint (the learning curve)."""
        off = self._offsets()
        return np.asarray([(predict(z, off) != self.test_y).sum() for z in self.checkpoint_logits])

    @property
    def misclassified(self) -> np.ndarray:
        """Positions (in this run's test set) of the misclassified images."""
        return np.flatnonzero(self.predictions != self.test_y)

    @property
    def threshold_probability(self) -> float:
        return float(sigmoid(self.threshold))


def generator_label(approach: Approach) -> str:
    """The generator an approach's images come from, as ``ExperimentResult.quality`` keys it:
    its name, then the parameters it sets away from their defaults (``cvae`` and
    ``cvae[width=2,...]`` are two generators; presets sharing one share its figures)."""
    gen = approach.recipe.gen
    if not gen:
        raise ValueError(f"approach '{approach.name}' uses no generator.")
    defaults = {p.name: p.default for p in part_class("gen", gen).params}
    changed = [f"{k}={v}" for k, v in sorted(approach.values.get("gen", {}).items()) if defaults.get(k) != v]
    return f"{gen}[{','.join(changed)}]" if changed else gen


@dataclass
class ExperimentResult:
    """All runs of one config; ``failures`` keeps what broke without losing the rest."""

    config: ExperimentConfig
    approaches: tuple[str, ...]
    seeds: tuple[int, ...]
    runs: dict[str, dict[int, RunResult]]
    failures: dict[str, dict[int, str]] = field(default_factory=dict)
    cached: int = 0  # how many (approach, seed) classifiers came from the cache
    #: The resolved recipes, by approach name (twins included).
    recipes: dict[str, Approach] = field(default_factory=dict)
    #: Generator preset -> its generator-free twin (run beside it).
    twins: dict[str, str] = field(default_factory=dict)
    #: (``generator_label``, seed) -> quality figures (``vaeimb.studies.quality``), when computed.
    quality: dict[tuple[str, int], dict] = field(default_factory=dict)

    def quality_of(self, name: str, seed: int) -> dict | None:
        """The quality figures of approach ``name``'s generator on ``seed`` (None: not
        measured), keyed by the generator and its values (``generator_label``; a part's
        declarations load torch-free, so the server drawing a result never imports torch)."""
        a = self.recipes.get(name)
        if a is None or not a.recipe.gen:
            return None
        return self.quality.get((generator_label(a), seed))

    @property
    def metrics(self) -> dict[str, tuple[str, bool]]:
        """The task's metric table (``vaeimb.parts.metrics.metrics_for``)."""
        return metrics_for(self.config.n_classes)

    def metric_names(self) -> list[str]:
        """The task's metrics, then each on every other test set (``accuracy@imbalanced``)."""
        names = list(self.metrics)
        subsets = self.config.test_plan.subsets if self.config.n_classes > 2 else {}
        return names + [f"{m}@{s}" for s in subsets for m in self.metrics]

    def summary(self) -> dict[str, dict[str, Spread]]:
        """Per approach that produced results: each metric's spread over seeds; counts'
        intervals are clipped to the possible range [0, n_test]."""
        n = self.n_test
        out = {}
        for name, by_seed in self.runs.items():
            if not by_seed:
                continue
            out[name] = {
                m: spread([r.metrics[m] for r in by_seed.values() if m in r.metrics],
                          bounds=(0.0, float(n)) if m.startswith("misclassified") and n else (0.0, 1.0))
                for m in self.metric_names()
            }
        return out

    def run(self, approach: str, seed: int) -> RunResult:
        return self.runs[approach][seed]

    @property
    def n_test(self) -> int | None:
        """Size of the test set (None when no run finished)."""
        return next((len(r.test_y) for by_seed in self.runs.values() for r in by_seed.values()), None)

    def per_seed(self, metric: str = "misclassified") -> dict[str, dict[int, float]]:
        """Approach -> {seed: value}; ``gap_closed`` (``vaeimb.statistics.verdict.GapClosed.per_seed``):
        each seed's (oversample − approach) misclassified over the gap of the seed means,
        where oversample and the oracle ran and are separated ({} otherwise)."""
        if metric == GAP_CLOSED:
            return {n: g.per_seed for n, g in self._gaps(interval=False).items() if g.defined}
        return {name: {s: r.metrics[metric] for s, r in by_seed.items()} for name, by_seed in self.runs.items() if by_seed}

    def gap_closed(self) -> dict[str, GapClosed]:
        """Each approach's gap closed between oversample (0) and the oracle (1) in misclassified
        images, from seed means with a paired bootstrap interval (``vaeimb.statistics.verdict.gap_closed``;
        undefined, with its reason, when the two ends are not separated); {} when either end
        did not run."""
        return {n: g for n, g in self._gaps(interval=True).items() if n != GAP_TO}

    def _gaps(self, interval: bool) -> dict[str, GapClosed]:
        """Every approach's ``verdict.gap_closed`` from the misclassified counts ({} when
        oversample or the oracle did not run); ``interval``: with its bootstrap."""
        errors = self.per_seed("misclassified")
        if GAP_FROM not in errors or GAP_TO not in errors:
            return {}
        return {n: gap_closed(e, errors[GAP_FROM], errors[GAP_TO], interval=interval) for n, e in errors.items()}

    def leaky_approaches(self) -> list[str]:
        proto = self.config.protocol_record
        return [n for n, a in self.recipes.items() if a.leaky(proto)]

    def verdict(self, metric: str = "misclassified", correction: str = DEFAULT_CORRECTION):
        """The paired verdict (``vaeimb.statistics.verdict``): the best realistic approach, every other
        one's paired difference to it, the oracle as the data limit, and each generator's
        own contribution against its generator-free twin."""
        per_seed = self.per_seed(metric)
        if not per_seed:
            return None
        bounds = [n for n, a in self.recipes.items() if a.is_bound]
        base = metric.split("@")[0]
        label, higher = self.metrics.get(base) or metric_info(base)
        pairs = {p: t for p, t in self.twins.items() if p in per_seed}
        if not [n for n in per_seed if n not in bounds]:
            return None
        return paired_verdict(per_seed, bounds=bounds, leaky=self.leaky_approaches(), higher_is_better=higher,
                              pairs=pairs or None, metric=metric if metric == "misclassified" else label,
                              correction=correction)

