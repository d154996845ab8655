"""Statistics every view shares: corrections for the many comparisons a page makes, the
exact sign-flip test for paired differences the t-test cannot judge, and the names of the
gap closed between oversampling and the oracle (computed in ``vaeimb.statistics.verdict``).

A page that stars 90 atlas cells, or a verdict that compares ten approaches with the best,
makes many tests at once: at an uncorrected 95 % each, chance alone stars about 5 % of
them. Every view therefore decides on *adjusted* p-values of one family of comparisons:

- ``holm`` (default): Holm's step-down correction (Holm 1979). It controls the family-wise
  error: the chance of *any* false separation in the family stays at most alpha.
- ``bh``: Benjamini & Hochberg (1995). It controls the false discovery rate: on average at
  most a share alpha of the separations shown are false. More of them, for a map read as a
  whole (offered on the Atlas page).
- ``none``: each comparison at its own alpha (what earlier versions showed).

Both corrections are a few lines of numpy here, not statsmodels' ``multipletests``:
importing statsmodels costs 0.7 s, which every cached verdict would pay; the tests check
these against ``multipletests`` on random p-values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..declarations.errors import ConfigError

#: Correction name -> how a view says it applied it.
#: The gap closed runs from oversampling (0) to the oracle's real minority data (1).
GAP_FROM, GAP_TO = "oversample", "oracle"
GAP_CLOSED = "gap_closed"
GAP_LABEL = "Gap closed (0 = oversample, 1 = oracle)"

CORRECTIONS = {
    "holm": "Holm's correction (family-wise error <= {alpha:g})",
    "bh": "Benjamini-Hochberg's correction (false discovery rate <= {alpha:g})",
    "none": "no correction (each comparison at {alpha:g})",
}
DEFAULT_CORRECTION = "holm"


def check_correction(name: str) -> str:
    if name not in CORRECTIONS:
        raise ConfigError(f"Unknown correction {name!r}; choose one of {', '.join(CORRECTIONS)}.")
    return name


def adjust(p_values: Sequence[float], method: str = DEFAULT_CORRECTION) -> np.ndarray:
    """Adjusted p-values of one family (NaN stays NaN and is not counted in the family).

    ``holm``: p_(i) * (m - i + 1), made monotone from the smallest up, capped at 1;
    ``bh``: p_(i) * m / i, made monotone from the largest down, capped at 1; ``none``: as is.
    """
    check_correction(method)
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0 or method == "none":
        out[ok] = p[ok]
        return out
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(p[idx], kind="stable")]
    ranked = p[order]
    i = np.arange(1, m + 1)
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, ranked * (m - i + 1)))
    else:
        adj = np.minimum.accumulate(np.minimum(1.0, ranked * m / i)[::-1])[::-1]
    out[order] = adj
    return out


def expected_by_chance(n_tests: int, alpha: float = 0.05, method: str = DEFAULT_CORRECTION) -> str:
    """What chance alone would give among ``n_tests`` comparisons with no real difference,
    in words, for the sentence under a view."""
    check_correction(method)
    if n_tests <= 0:
        return "no comparison was made"
    if method == "none":
        return f"chance alone would separate about {n_tests * alpha:.1f} of these {n_tests} comparisons"
    if method == "holm":
        return (f"with no real difference, the chance of even one false separation among these {n_tests} "
                f"comparisons is at most {alpha:.0%}")
    return f"on average at most {alpha:.0%} of the separations shown are false (of {n_tests} comparisons)"


def describe(method: str, alpha: float = 0.05) -> str:
    return CORRECTIONS[check_correction(method)].format(alpha=alpha)


@dataclass(frozen=True)
class Family:
    """One family of comparisons decided together: each member's raw and adjusted p-value
    and whether it is separated at ``alpha`` after the correction."""

    names: tuple
    p_raw: np.ndarray
    p_adjusted: np.ndarray
    method: str
    alpha: float = 0.05

    @property
    def separated(self) -> np.ndarray:
        return np.nan_to_num(self.p_adjusted, nan=1.0) < self.alpha

    def of(self, name) -> tuple[float, float, bool]:
        """(raw p, adjusted p, separated) of one member."""
        i = self.names.index(name)
        return float(self.p_raw[i]), float(self.p_adjusted[i]), bool(self.separated[i])

    @property
    def n_tests(self) -> int:
        return int((~np.isnan(self.p_raw)).sum())

    def sentence(self) -> str:
        """Which correction decided this family, and what chance alone would give."""
        return f"{describe(self.method, self.alpha)}; {expected_by_chance(self.n_tests, self.alpha, self.method)}"


def family(p_values: Mapping, method: str = DEFAULT_CORRECTION, alpha: float = 0.05) -> Family:
    """Decide a family of comparisons ``{name: raw p}`` together."""
    names = tuple(p_values)
    raw = np.array([np.nan if p_values[n] is None else float(p_values[n]) for n in names], dtype=float)
    return Family(names, raw, adjust(raw, method), method, alpha)


def sign_flip_p(differences: Sequence[float]) -> float:
    """Two-sided p-value of the exact sign-flip (permutation) test of paired differences:
    under "no difference" each seed's difference is as likely to have either sign, so the
    2^n sign patterns are equally likely; p is the share whose |mean| reaches the observed
    one (``scipy.stats.permutation_test`` on one sample, every pattern enumerated). With all
    n differences on one side p = 2 / 2^n: 0.25 with 3 seeds, 0.0625 with 5, below 0.05 only
    from 6 seeds on. 1 with no difference or no seed."""
    d = np.asarray(differences, dtype=float)
    if len(d) == 0 or not np.any(d):
        return 1.0
    from scipy import (
        stats as sps,  # heavy (about 0.4 s): only a degenerate comparison needs it
    )

    res = sps.permutation_test((d,), lambda x, axis: np.mean(x, axis=axis), permutation_type="samples",
                               n_resamples=np.inf, alternative="two-sided")
    return float(min(1.0, res.pvalue))
