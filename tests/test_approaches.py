import math

import numpy as np
import pytest

from vaeimb.approaches import APPROACHES, Approach, check_approaches, get_approach
from vaeimb.config import ExperimentConfig
from vaeimb.data import ExperimentData
from vaeimb.errors import ConfigError


def _data(n_maj=30, n_min=3, oracle=True):
    x = np.zeros((n_maj + n_min, 28, 28), np.uint8)
    y = np.r_[np.zeros(n_maj, int), np.ones(n_min, int)]
    t = np.zeros((4, 28, 28), np.uint8)
    return ExperimentData(x, y, t, np.array([0, 1, 0, 1]), np.arange(4), x[y == 1],
                          np.full((n_maj, 28, 28), 7, np.uint8) if oracle else None)


def test_every_approach_has_the_uniform_interface():
    assert list(APPROACHES) == ["baseline", "threshold", "oversample", "vae", "oracle"]
    for name, a in APPROACHES.items():
        assert isinstance(a, Approach) and a.name == name and len(a.description) > 20
        assert isinstance(a.params(ExperimentConfig()), dict)


def test_threshold_is_the_log_prior_and_tau_scales_it():
    cfg = ExperimentConfig(n_majority=5000, n_minority=100)
    t = get_approach("threshold")
    assert t.threshold(cfg) == pytest.approx(math.log(100 / 5000))
    assert t.threshold_probability(cfg) == pytest.approx(100 / 5100)
    half = cfg.replace(approach_params={"threshold": {"tau": 0.5}})
    assert t.threshold(half) == pytest.approx(0.5 * math.log(0.02))
    assert t.reuses_model_of == "baseline"
    assert get_approach("baseline").threshold(cfg) == 0


def test_training_sets():
    cfg = ExperimentConfig(n_majority=30, n_minority=3)
    d = _data()
    x, y = get_approach("baseline").training_set(d, cfg)
    assert len(x) == 33 and y.sum() == 3
    gen = np.ones((27, 28, 28), np.uint8)
    vae = get_approach("vae")
    assert vae.n_generated(cfg) == 27
    x, y = vae.training_set(d, cfg, gen)
    assert len(x) == 60 and y.sum() == 30
    x, y = get_approach("oracle").training_set(d, cfg)
    assert len(x) == 60 and y.sum() == 30 and (x[y == 1] == 7).all()
    with pytest.raises(ValueError):
        get_approach("oracle").training_set(_data(oracle=False), cfg)


def test_batching_follows_approach_and_protocol():
    clean, blog = ExperimentConfig(), ExperimentConfig.blog()
    assert get_approach("oversample").balanced_batches(clean)
    assert not get_approach("baseline").balanced_batches(clean)
    assert not get_approach("vae").balanced_batches(clean)
    assert get_approach("vae").balanced_batches(blog)  # as the original code did
    forced = clean.replace(approach_params={"vae": {"balanced_batches": True}})
    assert get_approach("vae").balanced_batches(forced)


def test_oracle_availability():
    assert get_approach("oracle").unavailable_reason(ExperimentConfig()) is None
    reason = get_approach("oracle").unavailable_reason(ExperimentConfig(majority=1, minority=5, n_majority=6000))
    assert "5421" in reason


def test_lookup_errors():
    with pytest.raises(ConfigError, match="baseline, threshold"):
        get_approach("smote")
    with pytest.raises(ConfigError):
        check_approaches([])
    assert check_approaches(["vae", "baseline", "vae"]) == ("baseline", "vae")
