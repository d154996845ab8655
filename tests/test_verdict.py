"""The verdict: paired statistics against scipy, and sentences that never overclaim."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from vaeimb.declarations.errors import ConfigError
from vaeimb.statistics.verdict import (
    LEAKY_TAG,
    contribution,
    paired_difference,
    seeds_needed,
    verdict,
)

FIELDS = {"paired_diff_mean", "ci_low", "ci_high", "wins", "n_seeds", "p_value", "distinguishable", "seeds_needed",
          "test"}


def _seeded(values, start=0):
    return {start + i: float(v) for i, v in enumerate(values)}


def _exact(n, mean, sd):
    """n differences with exactly this sample mean and sd."""
    z = np.linspace(-1.0, 1.0, n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


@pytest.mark.parametrize("n", [2, 3, 5, 12])
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_matches_scipy_ttest_rel(n, confidence):
    rng = np.random.default_rng(n)
    a = rng.normal(40, 8, n)
    b = a + rng.normal(-3, 5, n)
    diff = paired_difference(_seeded(a), _seeded(b), confidence)
    ref = stats.ttest_rel(a, b)
    ci = ref.confidence_interval(confidence_level=confidence)
    assert diff.mean == pytest.approx(np.mean(a - b))
    assert diff.sd == pytest.approx(np.std(a - b, ddof=1))
    assert diff.p_value == pytest.approx(ref.pvalue)
    assert (diff.ci_low, diff.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert diff.distinguishable == (ci.low > 0 or ci.high < 0)
    assert diff.n_seeds == n


def test_wins_ties_losses_and_direction():
    a = {0: 10, 1: 12, 2: 9, 3: 15}
    b = {0: 11, 1: 12, 2: 14, 3: 13}
    low = paired_difference(a, b)
    assert (low.wins, low.ties, low.losses) == (2, 1, 1)
    high = paired_difference(a, b, higher_is_better=True)
    assert (high.wins, high.ties, high.losses) == (1, 1, 2)
    assert high.mean == low.mean == pytest.approx(-1.0)


def test_only_common_seeds_are_paired():
    a = {0: 10.0, 1: 20.0, 2: 30.0, 7: 1000.0}
    b = {1: 18.0, 2: 25.0, 0: 9.0, 9: -1000.0}
    diff = paired_difference(a, b)
    assert diff.n_seeds == 3
    assert diff.mean == pytest.approx(np.mean([1.0, 2.0, 5.0]))
    ref = stats.ttest_rel([10, 20, 30], [9, 18, 25])
    assert diff.p_value == pytest.approx(ref.pvalue)


def test_nan_results_count_as_missing_seeds():
    diff = paired_difference({0: 1.0, 1: float("nan"), 2: 3.0}, {0: 0.0, 1: 0.0, 2: 1.0})
    assert diff.n_seeds == 2 and diff.mean == pytest.approx(1.5)


def test_one_seed_gives_nan_interval():
    diff = paired_difference({3: 5.0}, {3: 2.0})
    assert diff.n_seeds == 1 and diff.mean == 3.0 and diff.wins == 0 and diff.losses == 1
    assert math.isnan(diff.ci_low) and math.isnan(diff.ci_high) and math.isnan(diff.p_value)
    assert not diff.distinguishable and diff.seeds_needed is None


def test_degenerate_spreads():
    # every difference +2 over 3 seeds: the t statistic is 2 / 0; the exact sign-flip test
    # decides: all 3 on one side has probability 2 / 2^3 = 0.25 under "no difference"
    constant = paired_difference({0: 5, 1: 6, 2: 7}, {0: 3, 1: 4, 2: 5})
    assert constant.test == "sign-flip" and constant.p_value == pytest.approx(0.25)
    assert not constant.distinguishable and not constant.bounded  # no shift is rejected: unbounded
    assert constant.seeds_needed == 6  # 2 / 2^6 < 0.05
    five = paired_difference(dict(enumerate([1.0] * 5)), dict(enumerate([0.0] * 5)))
    assert five.p_value == pytest.approx(0.0625) and not five.distinguishable
    six = paired_difference(dict(enumerate([3.0] * 6)), dict(enumerate([2.0] * 6)))
    assert six.p_value == pytest.approx(2 / 64) and six.distinguishable and (six.ci_low, six.ci_high) == (1.0, 1.0)
    assert six.to_dict()["test"] == "sign-flip" and constant.to_dict()["ci_low"] is None  # JSON: no infinity
    same = paired_difference({0: 5, 1: 6}, {0: 5, 1: 6})
    assert (same.ci_low, same.ci_high, same.p_value) == (0.0, 0.0, 1.0)
    assert not same.distinguishable and same.seeds_needed is None and same.ties == 2


@pytest.mark.parametrize("mean,sd", [(3.0, 12.0), (-11.8, 14.8), (5.0, 4.0), (1.0, 9.0)])
def test_seeds_needed_is_the_first_count_that_separates(mean, sd):
    n = paired_difference(_seeded(_exact(5, mean, sd)), _seeded(np.zeros(5))).seeds_needed
    assert n == seeds_needed(mean, sd)
    assert n is not None and n >= 2

    def separates(k):
        return paired_difference(_seeded(_exact(k, mean, sd)), _seeded(np.zeros(k))).distinguishable

    assert separates(n)
    assert not separates(n - 1)


def test_seeds_needed_edges():
    assert seeds_needed(0.0, 3.0) is None
    assert seeds_needed(0.01, 100.0) is None  # beyond the cap
    assert seeds_needed(2.0, 0.0) == 2


def _runs():
    return {
        "oversample": _seeded([70, 75, 72, 80, 69]),
        "threshold": _seeded([30, 32, 31, 29, 33]),
        "vae": _seeded([31, 40, 25, 30, 35]),
        "oracle": _seeded([14, 15, 14, 16, 14]),
    }


def test_bound_is_never_best_even_when_lowest():
    v = verdict(_runs())
    assert v.best == "threshold"
    assert v.to_dict()["approaches"]["oracle"]["is_bound"] is True
    assert v.oracle_ratio == pytest.approx(31.0 / 14.6)
    assert any("Data limit: oracle 14.6" in s and "errors (misclassified) are 2.12\u00d7" in s for s in v.sentences())


def test_best_is_first_sentence_and_diffs_are_against_it():
    v = verdict(_runs())
    assert v.diffs["oversample"].mean == pytest.approx(42.2)
    assert v.diffs["oversample"].losses == 5
    sentences = v.sentences()
    assert sentences[0].startswith("Best by mean: threshold, 31.0 misclassified (mean of 5 seeds)")
    assert "not separable from vae" in sentences[0]
    over = next(s for s in sentences if s.startswith("oversample:"))
    assert "threshold better in 5 of 5 seeds" in over and "\u2014 distinguishable (adjusted p < 0.001)" in over
    vae = next(s for s in sentences if s.startswith("vae:"))
    assert "not distinguishable with 5 seeds" in vae and f"about {v.diffs['vae'].seeds_needed} seeds" in vae


def test_winner_named_only_when_every_runner_up_is_separated():
    runs = _runs()
    runs["vae"] = _seeded([50, 52, 49, 55, 51])
    assert verdict(runs).sentences()[0].startswith("Best: threshold")
    close = {"a": _seeded([10, 12, 11]), "b": _seeded([11, 11, 12])}
    first = verdict(close, bounds=()).sentences()[0]
    assert first.startswith("Best by mean: a") and "not separable from the runners-up (b)" in first


def test_leaky_best_is_labelled_in_every_sentence_naming_it():
    runs = _runs()
    runs["vae"] = _seeded([20, 22, 21, 19, 24])
    v = verdict(runs, leaky=["vae"], pairs={"vae": "oversample"})
    assert v.best == "vae"
    sentences = v.sentences()
    naming = [s for s in sentences if "vae" in s]
    assert len(naming) >= 4
    for s in naming:
        assert s.count("vae") == s.count("vae" + LEAKY_TAG), s
    assert v.to_dict()["approaches"]["vae"]["leaky"] is True


def test_higher_is_better_flips_the_best():
    runs = {"a": _seeded([0.9, 0.91, 0.92]), "b": _seeded([0.8, 0.82, 0.81]), "oracle": _seeded([0.99] * 3)}
    assert verdict(runs).best == "b"
    v = verdict(runs, higher_is_better=True, metric="accuracy")
    assert v.best == "a"
    assert v.diffs["b"].mean < 0 and v.diffs["b"].losses == 3
    assert v.sentences()[0].startswith("Best: a, 0.910 accuracy")


def test_one_seed_says_intervals_need_two():
    runs = {name: {0: values[0]} for name, values in _runs().items()}
    v = verdict(runs)
    first = v.sentences()[0]
    assert "need 2+ seeds" in first and first.startswith("Best by mean: threshold")
    d = v.to_dict()
    assert d["n_seeds"] == 1
    assert d["approaches"]["vae"]["ci_low"] is None and d["approaches"]["vae"]["distinguishable"] is False
    json.dumps(d, allow_nan=False)


def test_to_dict_shape_and_json():
    runs = _runs()
    runs["augment"] = _seeded([50, 45, 55, 40, 52])
    runs["augment-gen"] = _seeded([45, 47, 50, 44, 42])
    v = verdict(runs, leaky=["vae"], pairs={"vae": "oversample", "augment-gen": "augment", "never-run": "x"})
    d = json.loads(json.dumps(v.to_dict(), allow_nan=False))
    assert set(d) == {"best", "n_seeds", "oracle_ratio", "approaches", "generator_contribution", "correction", "gap_closed"}
    assert d["best"] == "threshold" and d["n_seeds"] == 5
    assert set(d["approaches"]) == set(runs)
    for entry in d["approaches"].values():
        assert set(entry) == FIELDS | {"is_bound", "leaky", "p_adjusted", "separated"}
    best = d["approaches"]["threshold"]
    assert (best["paired_diff_mean"], best["ci_low"], best["ci_high"], best["p_value"]) == (0.0, 0.0, 0.0, 1.0)
    assert set(d["generator_contribution"]) == {"vae", "augment-gen"}
    for entry in d["generator_contribution"].values():
        assert set(entry) == FIELDS | {"twin", "p_adjusted", "separated"}
    assert d["generator_contribution"]["augment-gen"]["twin"] == "augment"
    assert "generator_contribution" not in verdict(runs).to_dict()


def test_contribution_is_preset_minus_twin():
    runs = _runs()
    got = contribution(runs, {"vae": "oversample", "augment-gen": "augment"})
    assert set(got) == {"vae"}
    ref = stats.ttest_rel(list(runs["vae"].values()), list(runs["oversample"].values()))
    assert got["vae"].mean == pytest.approx(-41.0) and got["vae"].p_value == pytest.approx(ref.pvalue)
    missing_twin = verdict({"vae": runs["vae"], "threshold": runs["threshold"]}, pairs={"vae": "oversample"})
    assert missing_twin.generator_contribution["vae"].n_seeds == 0
    assert any("not measured, oversample was not run" in s for s in missing_twin.sentences())
    json.dumps(missing_twin.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    "per_seed,kwargs,match",
    [
        ({}, {}, "No results"),
        ({"oracle": {0: 1.0}}, {}, "Only bounds"),
        ({"a": {}}, {}, "No \\(non-NaN\\) seed results"),
        ({"a": {0: "x"}}, {}, "not a number"),
        ({"a": {0: 1.0}}, {"confidence": 1.5}, "confidence"),
    ],
)
def test_bad_input_raises_clear_value_error(per_seed, kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        verdict(per_seed, **kwargs)
    assert isinstance(err.value, ConfigError) and "\n" not in str(err.value)


def test_corrected_decisions_match_statsmodels_on_both_families():
    """Every realistic approach against the best is one family, the generators' own
    contributions a second; each decided by Holm (and BH) exactly as statsmodels decides."""
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(3)
    for trial in range(30):
        base = rng.normal(50, 10, 5)
        per_seed = {name: dict(enumerate(base + rng.normal(shift, rng.uniform(1, 8), 5)))
                    for name, shift in (("best", -6), ("a", 0), ("b", 2), ("c", 5), ("d", 9), ("vae", 1), ("cvae", 3))}
        per_seed["oracle"] = dict(enumerate(base - 30))
        pairs = {"vae": "a", "cvae": "b"}
        for method, theirs in (("holm", "holm"), ("bh", "fdr_bh"), ("none", None)):
            v = verdict(per_seed, bounds=("oracle",), pairs=pairs, correction=method)
            others = [n for n in per_seed if n not in ("oracle", v.best)]
            raw = [v.diffs[n].p_value for n in others]
            reject = [p < 0.05 for p in raw] if theirs is None else list(multipletests(raw, 0.05, theirs)[0])
            assert [v.separated(n) for n in others] == reject
            raw_gen = [v.generator_contribution[p].p_value for p in pairs]
            reject_gen = [p < 0.05 for p in raw_gen] if theirs is None else list(multipletests(raw_gen, 0.05, theirs)[0])
            assert [v.contribution_separated(p) for p in pairs] == reject_gen
            exported = v.to_dict()
            for n in others:
                assert exported["approaches"][n]["p_value"] == pytest.approx(v.diffs[n].p_value)
                assert exported["approaches"][n]["separated"] == v.separated(n)
            assert exported["approaches"]["oracle"]["p_adjusted"] is None and exported["correction"] == method


def test_an_interval_excluding_zero_is_not_a_winner_after_the_correction():
    best = [10, 12, 11, 13, 12]
    per_seed = {"best": dict(enumerate(best))}
    for name, extra in (("c1", [1, 3, 0, 2, 2]), ("c2", [2, 0, 3, 1, 2]), ("c3", [0, 2, 2, 3, 1])):
        per_seed[name] = dict(enumerate(np.add(best, extra)))
    v = verdict(per_seed, bounds=())
    for name in ("c1", "c2", "c3"):
        assert v.diffs[name].distinguishable and 0.01 < v.diffs[name].p_value < 0.05  # each alone: "separated"
        assert not v.separated(name)  # three of them: Holm's adjusted p is about 0.1
    text = "\n".join(v.sentences())
    assert text.count("not after the correction") == 3 and "Holm" in text and "no winner yet" in text
    uncorrected = verdict(per_seed, bounds=(), correction="none")
    assert all(uncorrected.separated(n) for n in ("c1", "c2", "c3"))


def test_the_verdict_states_the_gap_closed_between_oversample_and_the_oracle():
    per_seed = {"baseline": {0: 60, 1: 50, 2: 70}, "oversample": {0: 70, 1: 60, 2: 50},
                "augment-posthoc": {0: 40, 1: 70, 2: 30}, "oracle": {0: 10, 1: 20, 2: 10}}
    v = verdict(per_seed)
    g = v.gap["augment-posthoc"]
    # from the seed means (60, 46.7, 13.3), not a mean of per-seed ratios (0.5, -0.25, 0.5 -> 0.25)
    assert g.mean == pytest.approx((60 - 140 / 3) / (60 - 40 / 3)) and g.n == 3 and g.defined
    assert g.ci_low < g.mean < g.ci_high  # paired bootstrap over the three seeds
    assert np.mean(list(g.per_seed.values())) == pytest.approx(g.mean)
    assert "oversample" not in v.gap and "oracle" not in v.gap  # the ends themselves are 0 and 1
    line = v.sentences()[-1]
    assert line.startswith("Gap closed between oversample (0) and the oracle (1)") and "augment-posthoc +0.29 [" in line
    assert v.to_dict()["gap_closed"]["baseline"]["n_seeds"] == 3
    assert verdict({k: v for k, v in per_seed.items() if k != "oracle"}, bounds=()).gap is None


def test_gap_closed_is_undefined_when_oversample_and_the_oracle_are_not_separated():
    from vaeimb.statistics.verdict import gap_closed

    # one seed whose gap is a single image must not decide anything: the ends are not separated
    per_seed = {"oversample": {0: 30, 1: 21, 2: 40}, "augment": {0: 20, 1: 25, 2: 30},
                "oracle": {0: 10, 1: 20, 2: 42}}
    v = verdict(per_seed)
    assert not v.gap["augment"].defined and math.isnan(v.gap["augment"].mean)
    assert "not separated" in v.gap["augment"].reason and v.gap["augment"].format() == "undefined"
    assert "undefined" in v.sentences()[-1] and v.to_dict()["gap_closed"]["augment"]["defined"] is False
    assert gap_closed({0: 1}, {0: 5}, {0: 1}).reason.startswith("oversample and the oracle share 1 seed")
    # every seed the same: the interval is that value
    same = gap_closed(dict(enumerate([5.0] * 6)), dict(enumerate([9.0] * 6)), dict(enumerate([1.0] * 6)))
    assert same.defined and same.mean == same.ci_low == same.ci_high == 0.5
    # a resample without a gap makes the ratio unbounded there (seeds 0-1 have none)
    wide = gap_closed({0: 5, 1: 5, 2: 5, 3: 5, 4: 5, 5: 5}, {0: 9, 1: 9, 2: 30, 3: 31, 4: 29, 5: 30},
                      {0: 9, 1: 9, 2: 1, 3: 2, 4: 1, 5: 1})
    assert wide.defined and math.isfinite(wide.mean)
    assert wide.to_dict()["ci_high"] is None or math.isfinite(wide.ci_high)


def test_the_best_is_picked_on_the_seeds_every_approach_shares():
    # "lucky" has the lowest mean only thanks to seed 3, which "steady" never ran
    per_seed = {"steady": {0: 10, 1: 10, 2: 10}, "lucky": {0: 11, 1: 11, 2: 11, 3: 0}, "oracle": {0: 1, 1: 1, 2: 1}}
    v = verdict(per_seed)
    assert np.mean(list(per_seed["lucky"].values())) < 10 and v.best == "steady"


def test_the_data_limit_is_a_ratio_of_errors_whatever_the_metric():
    acsa = {"augment-posthoc": dict(enumerate([0.969, 0.970, 0.968])), "oversample": dict(enumerate([0.93, 0.92, 0.925])),
            "oracle": dict(enumerate([0.982, 0.983, 0.981]))}
    v = verdict(acsa, higher_is_better=True, metric="ACSA (balanced accuracy)")
    assert v.oracle_ratio == pytest.approx(0.031 / 0.018)  # 1.72x the errors, not 0.99x the accuracy
    line = next(s for s in v.sentences() if s.startswith("Data limit"))
    assert "balanced error (1 \u2212 ACSA) is 1.72\u00d7 the oracle's" in line and "0.99" not in line
    assert "closes" in line and "of the gap between oversample (0) and the oracle (1)" in line
    assert v.gap["augment-posthoc"].mean == pytest.approx((0.075 - 0.031) / (0.075 - 0.018))


def test_three_identical_differences_never_name_a_winner():
    # +1, +1, +1 over 3 seeds: the t-test is undefined; the exact test gives p = 0.25
    per_seed = {"a": {0: 10, 1: 20, 2: 30}, "b": {0: 11, 1: 21, 2: 31}, "oracle": {0: 1, 1: 2, 2: 3}}
    v = verdict(per_seed)
    assert v.best == "a" and not v.separated("b") and v.diffs["b"].test == "sign-flip"
    text = "\n".join(v.sentences())
    assert "no winner yet" in text and "exact sign-flip test p = 0.25" in text and "sign-flip test where" in text
    assert v.to_dict()["approaches"]["b"]["p_value"] == pytest.approx(0.25)


def test_the_gap_closed_bootstrap_runs_once_for_the_same_numbers(monkeypatch):
    from vaeimb.statistics import verdict as vmod

    calls = []
    real = stats.bootstrap
    monkeypatch.setattr(stats, "bootstrap", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    vmod._bootstrap_gap.cache_clear()
    e, o, r = {0: 40, 1: 70, 2: 30}, {0: 70, 1: 60, 2: 50}, {0: 10, 1: 20, 2: 10}
    first = vmod.gap_closed(e, o, r)
    again = vmod.gap_closed(dict(e), dict(o), dict(r))  # the table, the chart and the verdict of one page
    assert len(calls) == 1 and (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    other = vmod.gap_closed({0: 41, 1: 70, 2: 30}, o, r)
    assert len(calls) == 2 and (other.ci_low, other.ci_high) != (first.ci_low, first.ci_high)
    vmod._bootstrap_gap.cache_clear()
    fresh = vmod.gap_closed(e, o, r)  # remembered or not, the same interval (fixed random state)
    assert (fresh.ci_low, fresh.ci_high) == (first.ci_low, first.ci_high) and len(calls) == 3
