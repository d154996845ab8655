"""A verdict over paired seeds: which approach is best, and by how much we can tell.

Seeds are paired: seed ``s`` draws one training set that every approach shares, so the
per-seed difference between two approaches cancels the luck of the draw. Every comparison
here is therefore a paired Student-t analysis of those differences (the paired t-test,
Student 1908), never a comparison of two independent means.

A winner is only named when the paired interval excludes 0; a bound (the oracle, trained on
data we do not have) is reported as the data limit and never as the best; a number from a
leaky protocol is always shown with " (LEAKY)" next to its name.

Plain numpy, and scipy's paired t-test (imported on first use): the CLI, the report and the Results
page all call :func:`verdict`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from ..declarations.errors import ConfigError
from . import stats

#: Largest seed count :func:`paired_difference` will suggest; beyond it ``seeds_needed`` is None.
MAX_SEEDS_NEEDED = 1000

#: What every text appends to the name of an approach measured with a leaky protocol.
LEAKY_TAG = " (LEAKY)"

_NAN = float("nan")


@dataclass(frozen=True)
class PairedDiff:
    """Paired difference ``a − b`` over the seeds both have.

    ``wins``: seeds where ``a`` is strictly better than ``b``; ``losses``: where ``b`` is;
    ``ties``: equal. ``seeds_needed`` is a planning figure, not a power analysis: the smallest
    seed count at which an experiment with exactly this mean and sd would just exclude 0
    (None when the mean is 0, with fewer than 2 seeds, or above ``MAX_SEEDS_NEEDED``).
    """

    mean: float
    sd: float
    ci_low: float
    ci_high: float
    wins: int
    ties: int
    losses: int
    n_seeds: int
    p_value: float
    distinguishable: bool
    seeds_needed: int | None
    confidence: float = 0.95
    #: The test that decided: "t" (paired t-test), "sign-flip" (exact, when every difference
    #: is the same number and the t statistic is undefined), None (fewer than 2 seeds).
    test: str | None = None

    @property
    def bounded(self) -> bool:
        """Whether the interval is finite (the exact test's may be unbounded with few seeds)."""
        return math.isfinite(self.ci_low) and math.isfinite(self.ci_high)

    def to_dict(self) -> dict:
        """The JSON fields the verdict exports (NaN becomes None)."""
        return {
            "paired_diff_mean": _num(self.mean),
            "ci_low": _num(self.ci_low),
            "ci_high": _num(self.ci_high),
            "wins": self.wins,
            "n_seeds": self.n_seeds,
            "p_value": _num(self.p_value),
            "distinguishable": self.distinguishable,
            "seeds_needed": self.seeds_needed,
            "test": self.test,
        }


def _num(x: float | None) -> float | None:
    """JSON-ready: NaN and an unbounded end become None."""
    return None if x is None or not math.isfinite(x) else float(x)


def _check_confidence(confidence: float) -> float:
    try:
        c = float(confidence)
    except (TypeError, ValueError):
        c = _NAN
    if not 0.0 < c < 1.0:
        raise ConfigError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence!r}.")
    return c


def _clean(name: str, results: Mapping[int, float]) -> dict[int, float]:
    """Seed -> finite float; NaN values count as a missing seed (e.g. ROC AUC with one class)."""
    if not isinstance(results, Mapping):
        raise ConfigError(f"Results of {name!r} must map seed -> value, got {type(results).__name__}.")
    out = {}
    for seed, value in results.items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"Result of {name!r} for seed {seed!r} is not a number: {value!r}.") from None
        if not math.isnan(v):
            out[int(seed)] = v
    return out


def seeds_needed(mean: float, sd: float, confidence: float = 0.95) -> int | None:
    """Smallest n (2..MAX_SEEDS_NEEDED) with t_{q, n−1}·sd/√n < |mean|, q = (1 + confidence)/2.

    With sd 0 and a nonzero mean this is 2, the first n where the interval is defined.
    None when the mean is 0 or not finite (nothing to separate) or no n up to the cap works.
    The left side falls with n, so the first n that works is the answer.
    """
    if not (math.isfinite(mean) and math.isfinite(sd)) or mean == 0.0:
        return None
    from scipy import (
        stats,  # heavy (about 0.4 s): a one-seed run's verdict never gets here
    )

    n = np.arange(2, MAX_SEEDS_NEEDED + 1)
    half = stats.t.ppf((1.0 + confidence) / 2.0, n - 1) * sd / np.sqrt(n)
    ok = np.flatnonzero(half < abs(mean))
    return int(n[ok[0]]) if len(ok) else None


def paired_difference(
    a: Mapping[int, float],
    b: Mapping[int, float],
    confidence: float = 0.95,
    *,
    higher_is_better: bool = False,
) -> PairedDiff:
    """Paired analysis of ``a − b`` over the seeds both have.

    The interval and the p-value are ``scipy.stats.ttest_rel``'s whenever the differences
    vary. When every difference is the same number the t statistic is undefined (d / 0), and
    the exact sign-flip test decides (``stats.sign_flip_p``): with all n differences equal
    and nonzero p = 2 / 2^n (0.25 for 3 seeds, 0.0625 for 5), and the interval is the set of
    shifts that test does not reject: [d, d] when p < 1 − confidence, unbounded otherwise.
    All differences 0 -> interval [0, 0], p 1, not distinguishable. Fewer than 2 common
    seeds -> NaN interval and p-value, not distinguishable, seeds_needed None.
    """
    confidence = _check_confidence(confidence)
    a, b = _clean("a", a), _clean("b", b)
    common = sorted(set(a) & set(b))
    a_common = np.array([a[s] for s in common], dtype=np.float64)
    b_common = np.array([b[s] for s in common], dtype=np.float64)
    d = a_common - b_common
    n = len(d)
    better = -d if not higher_is_better else d  # > 0 where a beats b
    wins, losses = int((better > 0).sum()), int((better < 0).sum())
    ties = n - wins - losses
    if n == 0:
        return PairedDiff(_NAN, _NAN, _NAN, _NAN, 0, 0, 0, 0, _NAN, False, None, confidence)
    mean = float(d.mean())
    if n == 1:
        return PairedDiff(mean, _NAN, _NAN, _NAN, wins, ties, losses, 1, _NAN, False, None, confidence)
    sd = float(d.std(ddof=1))
    if sd > 0:
        from scipy import (
            stats as sps,  # heavy (about 0.4 s): a one-seed run's verdict never gets here
        )

        test = sps.ttest_rel(a_common, b_common)
        ci = test.confidence_interval(confidence)
        low, high, p, name = float(ci.low), float(ci.high), float(test.pvalue), "t"
        distinguishable = bool(low > 0.0 or high < 0.0)
    elif mean == 0.0:
        low = high = 0.0
        p, name, distinguishable = 1.0, "sign-flip", False
    else:  # every difference is the same nonzero number: the t statistic is d / 0
        p, name = stats.sign_flip_p(d), "sign-flip"
        distinguishable = p < 1.0 - confidence
        low, high = (mean, mean) if distinguishable else (-math.inf, math.inf)
    needed = seeds_needed(mean, sd, confidence) if name == "t" else _sign_flip_seeds_needed(mean, confidence)
    return PairedDiff(mean, sd, low, high, wins, ties, losses, n, p, distinguishable, needed, confidence, name)


def _sign_flip_seeds_needed(mean: float, confidence: float) -> int | None:
    """Fewest seeds at which differences all equal to ``mean`` pass the exact sign-flip
    test: 2 / 2^n < 1 − confidence (6 seeds at 95 %)."""
    if mean == 0.0:
        return None
    n = math.floor(1.0 - math.log2(1.0 - confidence)) + 1
    return n if n <= MAX_SEEDS_NEEDED else None


@dataclass(frozen=True)
class GapClosed:
    """How much of the gap between oversampling (0) and the oracle (1) an approach closes,
    from seed means over the seeds all three share:
    (mean oversample − mean approach) / (mean oversample − mean oracle), in errors.

    Undefined (``reason`` says why, ``mean`` NaN) unless the oracle is separated from
    oversampling by the paired test (there is a gap to close). The interval is a paired
    percentile bootstrap over seeds (``scipy.stats.bootstrap``, seeds resampled together,
    fixed random state); a resample with no gap (oracle not below oversample) makes the
    ratio unbounded there, so an end of the interval may be infinite. ``per_seed`` is each
    seed's (oversample − approach) over the same denominator: its mean is ``mean``, and two
    approaches' per-seed values can be compared pair by pair (the atlas)."""

    mean: float
    ci_low: float
    ci_high: float
    n: int
    per_seed: dict[int, float]
    reason: str | None = None

    @property
    def defined(self) -> bool:
        return self.reason is None

    @property
    def std(self) -> float:
        v = list(self.per_seed.values())
        return float(np.std(v, ddof=1)) if len(v) > 1 else _NAN

    def format(self, digits: int = 2) -> str:
        if not self.defined:
            return "undefined"

        def num(x: float) -> str:
            return (f"{x:+.{digits}f}" if math.isfinite(x) else ("+\u221e" if x > 0 else "\u2212\u221e")).replace("-", "\u2212")
        if self.n < 2 or math.isnan(self.ci_low):
            return num(self.mean)
        return f"{num(self.mean)} [{num(self.ci_low)}, {num(self.ci_high)}]"

    def to_dict(self) -> dict:
        return {"mean": _num(self.mean), "ci_low": _num(self.ci_low), "ci_high": _num(self.ci_high), "n_seeds": self.n,
                "defined": self.defined, "reason": self.reason,
                **({"unbounded": [x for x, v in (("low", self.ci_low), ("high", self.ci_high)) if math.isinf(v)]}
                   if self.defined else {})}


def _gap_ratio(over, x, oracle, axis=-1):
    """(mean over − mean x) / (mean over − mean oracle), ±inf where the gap is not positive."""
    num = np.mean(over, axis=axis) - np.mean(x, axis=axis)
    den = np.mean(over, axis=axis) - np.mean(oracle, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num / den
    return np.where(den > 0, ratio, np.where(num > 0, np.inf, np.where(num < 0, -np.inf, 0.0)))


def gap_closed(errors: Mapping[int, float], oversample: Mapping[int, float], oracle: Mapping[int, float],
               confidence: float = 0.95, *, interval: bool = True) -> GapClosed:
    """The gap closed of one approach's errors per seed (``GapClosed``); lower is better.
    ``interval=False`` skips the bootstrap (NaN interval) where only the per-seed values are
    read (the atlas's paired comparisons)."""
    confidence = _check_confidence(confidence)
    e, o, r = _clean("approach", errors), _clean(stats.GAP_FROM, oversample), _clean(stats.GAP_TO, oracle)
    seeds = sorted(set(e) & set(o) & set(r))
    n = len(seeds)
    undefined = GapClosed(_NAN, _NAN, _NAN, n, {}, "")
    if n < 2:
        return dataclasses.replace(undefined, reason=f"{stats.GAP_FROM} and the {stats.GAP_TO} share {n} seed(s) with "
                                   "it; a gap needs 2+ to be told apart")
    gap = paired_difference({s: o[s] for s in seeds}, {s: r[s] for s in seeds}, confidence)
    if not (gap.distinguishable and gap.mean > 0):
        where = f"{gap.mean:+.3g}".replace("-", "\u2212") + f" over {n} seeds, {gap.test} test p = {gap.p_value:.3g}"
        return dataclasses.replace(undefined, reason=f"{stats.GAP_FROM} and the {stats.GAP_TO} are not separated "
                                   f"({stats.GAP_FROM} \u2212 {stats.GAP_TO} {where})")
    x = np.array([e[s] for s in seeds]), np.array([o[s] for s in seeds]), np.array([r[s] for s in seeds])
    over_mean, den = x[1].mean(), x[1].mean() - x[2].mean()
    value = float((over_mean - x[0].mean()) / den)
    per_seed = {s: float((o[s] - e[s]) / den) for s in seeds}
    if not interval:
        low = high = _NAN
    elif np.ptp(x[0] - x[1]) == 0 and np.ptp(x[1] - x[2]) == 0:
        low = high = value  # every resample gives the same ratio
    else:
        low, high = _bootstrap_gap(tuple(x[0]), tuple(x[1]), tuple(x[2]), confidence)
    return GapClosed(value, low, high, n, per_seed)


@functools.lru_cache(maxsize=1024)
def _bootstrap_gap(errors: tuple, oversample: tuple, oracle: tuple, confidence: float) -> tuple[float, float]:
    """The paired percentile bootstrap interval of the gap closed (seeds in the same order
    in the three tuples). Its random state is fixed, so the same numbers give the same
    interval: remembered, since one page draws the same gap in its table, its chart and
    its verdict (about 50 ms each)."""
    from scipy import stats as sps  # heavy (about 0.4 s): only a gap needs it

    with np.errstate(all="ignore"):
        boot = sps.bootstrap((np.array(oversample), np.array(errors), np.array(oracle)), _gap_ratio, paired=True,
                             vectorized=True, method="percentile", confidence_level=confidence, n_resamples=9999,
                             random_state=np.random.default_rng(20221))
    return float(boot.confidence_interval.low), float(boot.confidence_interval.high)


def contribution(
    per_seed: Mapping[str, Mapping[int, float]],
    pairs: Mapping[str, str],
    confidence: float = 0.95,
    *,
    higher_is_better: bool = False,
) -> dict[str, PairedDiff]:
    """The generator's own contribution: paired ``preset − twin`` for each preset that ran.

    ``pairs`` maps a preset that uses a generator to its generator-free twin (e.g.
    ``{"vae": "oversample"}``), so a recipe that wins because of its loss or augmentation is
    not credited to its generator. Presets not in ``per_seed`` are skipped; a preset whose
    twin did not run gets a difference over 0 seeds (all NaN), which the sentences explain.
    """
    out = {}
    for preset, twin in pairs.items():
        if preset not in per_seed:
            continue
        if preset == twin:
            raise ConfigError(f"{preset!r} cannot be its own generator-free twin.")
        out[preset] = paired_difference(
            per_seed[preset], per_seed.get(twin, {}), confidence, higher_is_better=higher_is_better
        )
    return out


@dataclass(frozen=True)
class Verdict:
    """Best approach, every approach's paired difference to it, the data limit, in words and JSON.

    ``diffs[name]`` is ``name − best`` (positive = more misclassified when lower is better);
    the best has its own entry: difference 0, interval [0, 0] (NaN with one seed), p 1.
    ``bound_ratios[b]`` is the best approach's errors over bound ``b``'s: mean misclassified
    over mean misclassified, or for a rate (higher is better) (1 − best) / (1 − bound), the
    balanced error's ratio for ACSA; on a scale that sits near 1 a ratio of accuracies
    (0.99×) would hide a gap of 1.7× the errors. ``oracle_ratio`` is that of the tightest
    bound (the bound with the best mean), None without a bound or when its errors are 0.
    """

    best: str
    n_seeds: int
    means: dict[str, float]
    seed_counts: dict[str, int]
    diffs: dict[str, PairedDiff]
    bounds: tuple[str, ...]
    leaky: tuple[str, ...]
    higher_is_better: bool
    confidence: float
    metric: str
    digits: int
    bound_ratios: dict[str, float | None]
    generator_contribution: dict[str, PairedDiff] | None = None
    twins: dict[str, str] | None = None
    #: The realistic approaches' comparisons with the best, decided together (``stats``).
    family: stats.Family | None = None
    #: The generators' contributions against their twins: a second family.
    contribution_family: stats.Family | None = None
    correction: str = stats.DEFAULT_CORRECTION
    #: Each realistic approach's gap closed between oversample (0) and the oracle (1), in the
    #: metric's errors (``gap_closed``), when both ends ran.
    gap: dict[str, GapClosed] | None = None

    def separated(self, name: str) -> bool:
        """Whether ``name``'s difference to the best is separated after the correction."""
        return self.family is not None and name in self.family.names and self.family.of(name)[2]

    def contribution_separated(self, preset: str) -> bool:
        fam = self.contribution_family
        return fam is not None and preset in fam.names and fam.of(preset)[2]

    @property
    def oracle_ratio(self) -> float | None:
        if not self.bound_ratios:
            return None
        pick = max if self.higher_is_better else min
        tightest = pick(self.bound_ratios, key=lambda b: self.means[b])
        return self.bound_ratios[tightest]

    def label(self, name: str) -> str:
        """The name as every text shows it: leaky approaches always carry " (LEAKY)"."""
        return name + LEAKY_TAG if name in self.leaky else name

    def to_dict(self) -> dict:
        """JSON-ready (no NaN): best, n_seeds, oracle_ratio (of errors), approaches[, gap_closed,
        generator_contribution]."""
        out = {
            "best": self.best,
            "n_seeds": self.n_seeds,
            "oracle_ratio": _num(self.oracle_ratio),
            "correction": self.correction,
            "approaches": {
                name: {**diff.to_dict(), **self._adjusted(self.family, name),
                       "is_bound": name in self.bounds, "leaky": name in self.leaky}
                for name, diff in self.diffs.items()
            },
        }
        if self.gap:
            out["gap_closed"] = {name: g.to_dict() for name, g in self.gap.items()}
        if self.generator_contribution is not None:
            out["generator_contribution"] = {
                preset: {**diff.to_dict(), **self._adjusted(self.contribution_family, preset), "twin": self.twins[preset]}
                for preset, diff in self.generator_contribution.items()
            }
        return out

    @staticmethod
    def _adjusted(fam: stats.Family | None, name: str) -> dict:
        """The member's adjusted p-value and corrected decision (None outside the family:
        the best itself, a bound)."""
        if fam is None or name not in fam.names:
            return {"p_adjusted": None, "separated": None}
        _, adjusted, separated = fam.of(name)
        return {"p_adjusted": _num(adjusted), "separated": separated}

    # --- words -------------------------------------------------------------------------

    def _v(self, x: float, signed: bool = False) -> str:
        s = f"{x:+.{self.digits}f}" if signed else f"{x:.{self.digits}f}"
        return s.replace("-", "\u2212")

    def _interval(self, diff: PairedDiff) -> str:
        if diff.test == "sign-flip" and diff.mean != 0.0:
            how = (f"every seed differs by exactly {self._v(diff.mean, True)}; exact sign-flip test p = "
                   f"{diff.p_value:.3g}")
            return f"{self._v(diff.mean, True)} ({how}{'' if diff.bounded else ', interval unbounded'})"
        return f"{self._v(diff.mean, True)} [{self._v(diff.ci_low, True)}, {self._v(diff.ci_high, True)}]"

    def _seeds_hint(self, diff: PairedDiff) -> str:
        if diff.seeds_needed is not None:
            return f"about {diff.seeds_needed} seeds would separate them if this difference and spread hold"
        if diff.mean == 0.0:
            return "the mean difference is 0"
        return f"more than {MAX_SEEDS_NEEDED} seeds would be needed"

    def _realistic(self) -> list[str]:
        """Non-bound approaches other than the best, best mean first (ties keep input order)."""
        others = [n for n in self.means if n not in self.bounds and n != self.best]
        return sorted(others, key=lambda n: -self.means[n] if self.higher_is_better else self.means[n])

    def _beaten(self, name: str) -> bool:
        d = self.diffs[name]
        return self.separated(name) and ((d.mean < 0) if self.higher_is_better else (d.mean > 0))

    @staticmethod
    def _p(name: str, fam: stats.Family) -> str:
        p = fam.of(name)[1]
        return "n/a" if math.isnan(p) else (f"= {p:.3f}" if p >= 0.001 else "< 0.001")

    def _seeds(self, n: int) -> str:
        return "1 seed" if n == 1 else f"{n} seeds"

    def sentences(self) -> list[str]:
        """The verdict in words, most important first; the Results page and the CLI lead with it."""
        best = self.label(self.best)
        amount = f"{self._v(self.means[self.best])} {self.metric}"
        of = "1 seed" if self.n_seeds == 1 else f"mean of {self.n_seeds} seeds"
        others = self._realistic()
        pct = f"{self.confidence * 100:g} %"
        out = []
        if not others:
            out.append(f"Only realistic approach: {best}, {amount} ({of}).")
        elif self.n_seeds < 2:
            out.append(
                f"Best by mean: {best}, {amount} ({of}); intervals need 2+ seeds, "
                "so no approach can be separated from another yet."
            )
        else:
            unseparated = [self.label(n) for n in others if not self._beaten(n)]
            if not unseparated:
                out.append(f"Best: {best}, {amount} ({of}), distinguishably better than every other approach.")
            elif len(unseparated) == len(others):
                out.append(
                    f"Best by mean: {best}, {amount} ({of}), but not separable from the runners-up "
                    f"({', '.join(unseparated)}): no winner yet."
                )
            else:
                out.append(
                    f"Best by mean: {best}, {amount} ({of}), but not separable from "
                    f"{', '.join(unseparated)}: no single winner yet."
                )
        if others and self.n_seeds >= 2:
            exact = any(self.diffs[n].test == "sign-flip" and self.diffs[n].mean != 0.0 for n in others)
            out.append(f"Differences are approach \u2212 {best}, with {pct} paired t intervals over shared seeds"
                       + (" (the exact sign-flip test where every seed differs by the same amount)" if exact else "")
                       + f"; separated means after {self.family.sentence()}.")
        for name in others:
            out.append(self._comparison(name))
        for bound in self.bounds:
            if bound not in self.means:
                continue
            out.append(self._limit_line(bound))
        for preset, diff in (self.generator_contribution or {}).items():
            out.append(self._contribution(preset, diff))
        if self.gap:
            out.append(self._gap_line())
        return out

    @property
    def error_word(self) -> str:
        """What the errors of this verdict's metric are called in the data-limit line."""
        if not self.higher_is_better:
            return f"errors ({self.metric})"
        return "balanced error (1 \u2212 ACSA)" if "ACSA" in self.metric else f"error (1 \u2212 {self.metric})"

    def _limit_line(self, bound: str) -> str:
        """The data limit as a ratio of errors, and the best's gap closed, whatever the metric."""
        line = f"Data limit: {self.label(bound)} {self._v(self.means[bound])}"
        ratio = self.bound_ratios.get(bound)
        if ratio is not None:
            verb = "is" if self.higher_is_better else "are"
            line += (f" \u2014 the best realistic approach's {self.error_word} {verb} {ratio:.2f}\u00d7 the "
                     f"{self.label(bound)}'s")
        g = (self.gap or {}).get(self.best)
        if g is not None and bound == stats.GAP_TO:
            line += (f"; it closes {g.format(2)} of the gap between {stats.GAP_FROM} (0) and the {stats.GAP_TO} (1)"
                     if g.defined else f"; its gap closed is undefined: {g.reason}")
        return line + "."

    def _gap_line(self) -> str:
        """Each approach's share of the gap between oversample and the oracle it closes."""
        undefined = next((g for g in self.gap.values() if not g.defined), None)
        if undefined is not None:
            return f"Gap closed between {stats.GAP_FROM} (0) and the {stats.GAP_TO} (1): undefined, {undefined.reason}."
        order = sorted(self.gap, key=lambda n: -self.gap[n].mean)
        pct = f"{self.confidence * 100:g} %"
        return (f"Gap closed between {stats.GAP_FROM} (0) and the {stats.GAP_TO} (1), from the seed means of the "
                f"{self.error_word}, with {pct} paired bootstrap intervals over seeds: "
                + ", ".join(f"{self.label(n)} {self.gap[n].format(2)}" for n in order) + ".")

    def _comparison(self, name: str) -> str:
        d, label, best = self.diffs[name], self.label(name), self.label(self.best)
        if d.n_seeds == 0:
            return f"{label}: no seeds in common with {best}, so no paired comparison."
        if d.n_seeds == 1:
            return f"{label}: {self._v(d.mean, True)} vs {best} on 1 seed; an interval needs 2+ seeds."
        head = f"{label}: {self._interval(d)} vs {best}, {best} better in {d.losses} of {d.n_seeds} seeds"
        if d.ties:
            head += f" ({d.ties} tied)"
        if self.separated(name):
            return f"{head} \u2014 distinguishable (adjusted p {self._p(name, self.family)})."
        if d.distinguishable:
            return (f"{head}: its interval excludes 0, but not after the correction for the {self.family.n_tests} "
                    f"comparisons (adjusted p {self._p(name, self.family)}).")
        return f"{head}: not distinguishable with {d.n_seeds} seeds ({self._seeds_hint(d)})."

    def _contribution(self, preset: str, d: PairedDiff) -> str:
        twin = self.twins[preset]
        head = f"Generator's own contribution, {self.label(preset)} vs its generator-free twin {self.label(twin)}"
        if twin not in self.means:
            return f"{head}: not measured, {twin} was not run."
        if d.n_seeds == 0:
            return f"{head}: not measured, no shared seeds."
        if d.n_seeds == 1:
            return f"{head}: {self._v(d.mean, True)} on 1 seed; an interval needs 2+ seeds."
        if self.contribution_separated(preset):
            helps = (d.mean > 0) == self.higher_is_better
            return (f"{head}: {self._interval(d)}, distinguishable (adjusted p {self._p(preset, self.contribution_family)}, "
                    f"{stats.describe(self.correction)} over {self.contribution_family.n_tests} generator(s)) "
                    f"\u2014 the generator {'helps' if helps else 'hurts'}.")
        if d.distinguishable:
            return (f"{head}: {self._interval(d)}, its interval excludes 0 but not after the correction over "
                    f"{self.contribution_family.n_tests} generators (adjusted p {self._p(preset, self.contribution_family)}).")
        return (
            f"{head}: {self._interval(d)}, not distinguishable with {d.n_seeds} seeds ({self._seeds_hint(d)})."
        )


def verdict(
    per_seed: Mapping[str, Mapping[int, float]],
    bounds: Collection[str] = ("oracle",),
    leaky: Collection[str] = (),
    higher_is_better: bool = False,
    *,
    confidence: float = 0.95,
    pairs: Mapping[str, str] | None = None,
    metric: str = "misclassified",
    digits: int | None = None,
    correction: str = stats.DEFAULT_CORRECTION,
) -> Verdict:
    """Judge approaches from per-seed results (approach -> {seed: value}).

    ``best`` is the non-bound approach with the best mean over its own seeds (first in input
    order on a tie); every approach, bounds included, gets its paired difference to the best.
    ``bounds`` / ``leaky`` / ``pairs`` may name approaches that did not run. ``digits`` for
    the sentences defaults to 1 for values above 1 (counts) and 3 otherwise (rates).

    Two families are each decided together after ``correction`` (``vaeimb.statistics.stats``): every
    realistic approach against the best (the oracle is a bound, not a comparison), and the
    generators' contributions against their twins. An approach is separated only when its
    adjusted p-value is below 1 - ``confidence``.
    """
    confidence = _check_confidence(confidence)
    if not per_seed:
        raise ConfigError("No results to judge: give at least one approach with per-seed results.")
    clean = {name: _clean(name, results) for name, results in per_seed.items()}
    empty = [name for name, results in clean.items() if not results]
    if empty:
        raise ConfigError(f"No (non-NaN) seed results for {', '.join(map(repr, empty))}; run them or leave them out.")
    bounds = tuple(b for b in bounds if b in clean)
    leaky = tuple(name for name in leaky if name in clean)
    means = {name: float(np.mean(list(results.values()))) for name, results in clean.items()}
    realistic = [name for name in clean if name not in bounds]
    if not realistic:
        raise ConfigError(f"Only bounds ({', '.join(bounds)}) have results; add at least one realistic approach.")
    pick = max if higher_is_better else min
    # the best is picked on the seeds every realistic approach has, as the differences are
    # (on each one's own seeds, a lucky seed another approach lacks could decide it)
    shared = sorted(set.intersection(*(set(clean[n]) for n in realistic)))
    shared_means = {n: float(np.mean([clean[n][s] for s in shared])) for n in realistic} if shared else means
    best = pick(realistic, key=lambda name: shared_means[name])
    diffs = {
        name: paired_difference(clean[name], clean[best], confidence, higher_is_better=higher_is_better)
        for name in clean
    }
    errors = clean if not higher_is_better else {n: {s: 1.0 - v for s, v in r.items()} for n, r in clean.items()}
    error_means = {n: float(np.mean(list(r.values()))) for n, r in errors.items()}
    ratios = {b: (error_means[best] / error_means[b] if error_means[b] > 0 else None) for b in bounds}
    if digits is None:
        digits = 1 if max(abs(m) for m in means.values()) > 1 else 3
    stats.check_correction(correction)
    alpha = 1.0 - confidence
    others = [name for name in realistic if name != best]
    family = stats.family({name: diffs[name].p_value for name in others}, correction, alpha)
    gen = twins = gen_family = None
    if pairs is not None:
        gen = contribution(clean, pairs, confidence, higher_is_better=higher_is_better)
        twins = {preset: pairs[preset] for preset in gen}
        gen_family = stats.family({preset: d.p_value for preset, d in gen.items()}, correction, alpha)
    gap = None
    if stats.GAP_FROM in errors and stats.GAP_TO in errors:
        gap = {n: gap_closed(errors[n], errors[stats.GAP_FROM], errors[stats.GAP_TO], confidence)
               for n in realistic if n != stats.GAP_FROM}
    return Verdict(
        best=best,
        n_seeds=len(clean[best]),
        means=means,
        seed_counts={name: len(results) for name, results in clean.items()},
        diffs=diffs,
        bounds=bounds,
        leaky=leaky,
        higher_is_better=bool(higher_is_better),
        confidence=confidence,
        metric=metric,
        digits=int(digits),
        bound_ratios=ratios,
        generator_contribution=gen,
        twins=twins,
        family=family,
        contribution_family=gen_family,
        correction=correction,
        gap=gap,
    )
