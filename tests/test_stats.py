"""The corrections against an independent computation (statsmodels' multipletests), and
the gap closed on hand-made numbers."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from vaeimb.declarations.errors import ConfigError
from vaeimb.statistics import stats


@pytest.mark.parametrize("method,theirs", [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjusted_p_values_and_decisions_match_statsmodels(method, theirs):
    rng = np.random.default_rng(0)
    for m in (1, 2, 5, 12, 90):
        for _ in range(20):
            p = rng.uniform(0, 1, m) ** rng.uniform(0.5, 4)  # many small ones, ties now and then
            p[rng.integers(0, m)] = p[0]
            reject, adjusted, *_ = multipletests(p, alpha=0.05, method=theirs)
            ours = stats.adjust(p, method)
            np.testing.assert_allclose(ours, adjusted, rtol=1e-12, atol=1e-15)
            fam = stats.family(dict(enumerate(p)), method)
            assert list(fam.separated) == list(reject)


def test_nan_p_values_are_not_members_of_the_family():
    p = [0.01, float("nan"), 0.04]
    reject, adjusted, *_ = multipletests([0.01, 0.04], method="holm")
    out = stats.adjust(p, "holm")
    assert np.isnan(out[1]) and out[0] == pytest.approx(adjusted[0]) and out[2] == pytest.approx(adjusted[1])
    assert stats.family({"a": 0.01, "b": None, "c": 0.04}).n_tests == 2


def test_no_correction_keeps_the_raw_p_values_and_says_what_chance_gives():
    assert list(stats.adjust([0.01, 0.5], "none")) == [0.01, 0.5]
    assert "about 4.5 of these 90" in stats.expected_by_chance(90, 0.05, "none")
    assert "at most 5%" in stats.expected_by_chance(90, 0.05, "holm")
    assert "Holm" in stats.family({"a": 0.01}).sentence()
    with pytest.raises(ConfigError, match="holm, bh, none"):
        stats.adjust([0.1], "bonferroni")


def test_sign_flip_p_enumerates_every_sign_pattern():
    import itertools

    rng = np.random.default_rng(5)
    for _ in range(40):
        n = int(rng.integers(2, 9))
        d = rng.integers(-3, 4, n).astype(float)
        observed = abs(d.mean())
        flips = [abs(np.mean(d * np.array(signs))) for signs in itertools.product((1, -1), repeat=n)]
        expected = min(1.0, np.mean([f >= observed - 1e-12 for f in flips])) if d.any() else 1.0
        assert stats.sign_flip_p(d) == pytest.approx(expected)
    assert stats.sign_flip_p([1, 1, 1]) == pytest.approx(0.25)
    assert stats.sign_flip_p([-2] * 5) == pytest.approx(0.0625)
    assert stats.sign_flip_p([]) == 1.0 and stats.sign_flip_p([0, 0, 0]) == 1.0
