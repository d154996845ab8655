"""The atlas as the Atlas page's 10 x 10 heatmap: for each ordered digit pair, the paired
gain of approach A over approach B over the seeds both ran, with its 95 % interval, marked
only where the corrected interval excludes 0; and the sentences the page says about it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...declarations.errors import ConfigError
from ...declarations.labels import pair_label, ratio_label
from ...parts.metrics import METRICS
from ...statistics.stats import DEFAULT_CORRECTION, GAP_CLOSED, adjust, check_correction, describe, expected_by_chance
from ...statistics.verdict import paired_difference
from .table import METRIC_LABELS, Atlas


@dataclass(frozen=True)
class GainGrid:
    """10 x 10 arrays (rows: majority digit, columns: minority digit; NaN where no data):
    the mean paired gain of ``a`` over ``b`` (positive = ``a`` better), its 95 % interval,
    the seeds both ran, the raw and adjusted p-values, and whether the cell is separated
    after ``correction`` over every cell of the map (one family, ``vaeimb.statistics.stats``)."""

    a: str
    b: str
    ratio: float
    metric: str
    gain: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: np.ndarray
    significant: np.ndarray
    mean_a: np.ndarray
    mean_b: np.ndarray
    p_raw: np.ndarray
    p_adjusted: np.ndarray
    correction: str = DEFAULT_CORRECTION
    alpha: float = 0.05

    @property
    def unit(self) -> str:
        if self.metric == "misclassified":
            return "fewer misclassified test images"
        if self.metric == GAP_CLOSED:
            return "more of the gap between oversample and the oracle closed (1 = all of it)"
        return f"higher {METRICS[self.metric][0].lower()} (a difference of fractions, 0.01 = 1 point)"

    def winner(self, i: int, j: int) -> str | None:
        """The approach cell (i, j) separates as better after the correction, else None."""
        if not self.significant[i, j]:
            return None
        return self.a if self.gain[i, j] > 0 else self.b

    def counts(self) -> dict[str, int]:
        """Cells where a is better, b is better, and undecided (of those with data), after
        the correction; ``raw_*``: the same at each cell's own uncorrected 95 %."""
        have = ~np.isnan(self.gain)
        raw = np.nan_to_num(self.p_raw, nan=1.0) < self.alpha
        return {"a_better": int((self.significant & (self.gain > 0)).sum()),
                "b_better": int((self.significant & (self.gain < 0)).sum()),
                "undecided": int((have & ~self.significant).sum()), "cells": int(have.sum()),
                "raw_a_better": int((raw & have & (self.gain > 0)).sum()),
                "raw_b_better": int((raw & have & (self.gain < 0)).sum())}

    def chance(self) -> str:
        """Which correction decided the map and what chance alone would give, in words."""
        n = int((~np.isnan(self.p_raw)).sum())
        return f"{describe(self.correction, self.alpha)}: {expected_by_chance(n, self.alpha, self.correction)}"


def gain_grid(atlas: Atlas, a: str, b: str, ratio: float, metric: str = "misclassified",
              correction: str = DEFAULT_CORRECTION, confidence: float = 0.95) -> GainGrid:
    """The paired gain of approach ``a`` over ``b`` at ``ratio`` for every pair in the atlas;
    a cell is separated when its paired t-test's p-value, adjusted by ``correction`` over
    every cell with data, is below 1 - ``confidence``."""
    if metric not in atlas.metrics():
        raise ConfigError(f"Unknown atlas metric {metric!r}; choose from {', '.join(atlas.metrics())}.")
    check_correction(correction)
    for name in (a, b):
        if name not in atlas.approaches:
            raise ConfigError(f"The atlas has no approach {name!r}; it holds {', '.join(atlas.approaches)}.")
    if not any(math.isclose(ratio, r) for r in atlas.ratios):
        raise ConfigError(f"The atlas has no ratio {ratio:g}; it holds {', '.join(f'{r:g}' for r in atlas.ratios)}.")
    higher = True if metric == GAP_CLOSED else METRICS[metric][1]
    va, vb = atlas.per_seed(a, ratio, metric), atlas.per_seed(b, ratio, metric)
    shape = (10, 10)
    arrays = {k: np.full(shape, np.nan) for k in ("gain", "low", "high", "mean_a", "mean_b", "p_raw")}
    n = np.zeros(shape, np.int64)
    for pair in sorted(set(va) & set(vb)):
        if not va[pair] or not vb[pair]:
            continue
        d = paired_difference(va[pair], vb[pair], confidence, higher_is_better=higher)
        if d.n_seeds == 0:
            continue
        sign = 1.0 if higher else -1.0  # gain > 0: a better
        lo, hi = sign * d.ci_low, sign * d.ci_high
        i, j = pair
        arrays["gain"][i, j] = sign * d.mean
        arrays["low"][i, j], arrays["high"][i, j] = min(lo, hi), max(lo, hi)
        arrays["mean_a"][i, j] = float(np.mean(list(va[pair].values())))
        arrays["mean_b"][i, j] = float(np.mean(list(vb[pair].values())))
        n[i, j] = d.n_seeds
        arrays["p_raw"][i, j] = d.p_value
    alpha = 1.0 - confidence
    p_adj = adjust(arrays["p_raw"].ravel(), correction).reshape(shape)
    sig = np.nan_to_num(p_adj, nan=1.0) < alpha
    return GainGrid(a, b, float(ratio), metric, arrays["gain"], arrays["low"], arrays["high"], n, sig,
                    arrays["mean_a"], arrays["mean_b"], arrays["p_raw"], p_adj, correction, alpha)


def summary_line(grid: GainGrid) -> str:
    """How many pairs each approach wins after the correction, in one sentence, with what
    the uncorrected intervals would have said and what chance alone gives."""
    c = grid.counts()
    if not c["cells"]:
        return f"No pair has both {grid.a} and {grid.b} at ratio {ratio_label(grid.ratio)}."
    ns = grid.n[~np.isnan(grid.gain)]
    seeds = f"{ns.min()} seeds" if ns.min() == ns.max() else f"{ns.min()}-{ns.max()} seeds"
    after = "with no correction" if grid.correction == "none" else f"after {describe(grid.correction, grid.alpha).split(' (')[0]}"
    out = (f"{grid.a} beats {grid.b} on {c['a_better']} pairs {after}, loses on {c['b_better']}, undecided on "
           f"{c['undecided']} (paired t-tests, {seeds}, {METRIC_LABELS.get(grid.metric, grid.metric)}).")
    if grid.correction != "none":
        out += (f" Each cell at its own uncorrected 95 %: better on {c['raw_a_better']}, worse on "
                f"{c['raw_b_better']}.")
    return out + f" {grid.chance()[0].upper()}{grid.chance()[1:]}."


def cell_words(grid: GainGrid, majority: int, minority: int) -> tuple[str, str, str]:
    """(mean gain, interval, verdict) of a cell with data, in words: what the cell sentence
    and the heatmap's hover both say."""
    i, j = majority, minority
    if np.isnan(grid.low[i, j]):
        interval = "no 95% interval (it needs 2 or more seeds)"
    else:
        interval = f"95% interval [{grid.low[i, j]:+.4g}, {grid.high[i, j]:+.4g}]"
    winner = grid.winner(i, j)
    p = grid.p_adjusted[i, j]
    adj = "no p-value" if np.isnan(p) else ("adjusted p < 0.001" if p < 0.001 else f"adjusted p = {p:.3f}")
    how = "uncorrected" if grid.correction == "none" else describe(grid.correction).split(" (")[0]
    verdict = f"{winner} is better ({adj}, {how})" if winner else f"undecided ({adj}, {how})"
    return f"mean gain of {grid.a} over {grid.b} {grid.gain[i, j]:+.4g} ({grid.unit})", interval, verdict


def cell_sentence(grid: GainGrid, majority: int, minority: int) -> str:
    """One cell of the grid in words: the mean gain, its interval and what it decides."""
    i, j = majority, minority
    if np.isnan(grid.gain[i, j]):
        return f"{pair_label((i, j))}: no seed has both {grid.a} and {grid.b} at ratio {ratio_label(grid.ratio)}."
    gain, interval, verdict = cell_words(grid, i, j)
    n = int(grid.n[i, j])
    return f"{pair_label((i, j))} at ratio {ratio_label(grid.ratio)}: {gain}, {interval}, {n} seed(s): {verdict}."


def cell_detail(atlas: Atlas, majority: int, minority: int, ratio: float, a: str, b: str,
                metric: str = "misclassified") -> list[dict]:
    """One row per seed of a cell: A's and B's value and the gain of A (positive = A better,
    the heatmap's sign); None where an approach lacks that seed."""
    higher = METRICS[metric][1]
    va = atlas.per_seed(a, ratio, metric).get((majority, minority), {})
    vb = atlas.per_seed(b, ratio, metric).get((majority, minority), {})
    out = []
    for seed in sorted({*va, *vb}):
        x, y = va.get(seed), vb.get(seed)
        gain = None if x is None or y is None else (x - y if higher else y - x)
        out.append({"seed": seed, "a": x, "b": y, "gain": gain})
    return out
