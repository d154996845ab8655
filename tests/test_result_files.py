"""Results as files (the shipped first view, a Run's export): a finished experiment written
and read back identical, without torch; the default folder matches the app's defaults."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from import_probe import heavy_modules_loaded

from vaeimb.declarations.errors import VaeimbError
from vaeimb.parts.metrics import METRICS
from vaeimb.presentation.report import to_json_dict
from vaeimb.running import result_files

ROOT = Path(__file__).resolve().parents[1]
PROVENANCE = {"made": "2026-12-01 09:00 UTC", "cpu": "Test CPU", "command": "python bench/ship_default.py",
              "code": "abc123def456", "vaeimb": "0.1.0"}


@pytest.fixture
def result(tiny_run):
    """The shared tiny result with quality figures, copied (the fixture is read-only)."""
    r = copy.deepcopy(tiny_run[0])
    for seed in r.seeds:
        r.quality[("vae", seed)] = {"precision": 0.5 + seed / 10, "recall": 0.25, "frechet": 12.5,
                                    "memorisation": 3.0, "memorisation_real": 4.0, "n_samples": 300}
    return r


def test_a_result_comes_back_identical(result, tmp_path):
    result_files.save_result(result, tmp_path, PROVENANCE)
    back = result_files.load_result(tmp_path)
    assert back.summary() == result.summary()
    assert back.verdict().sentences() == result.verdict().sentences()
    for m in METRICS:
        assert back.per_seed(m) == result.per_seed(m)
    for name, by_seed in result.runs.items():
        for seed, r in by_seed.items():
            b = back.runs[name][seed]
            np.testing.assert_array_equal(b.checkpoint_logits, r.checkpoint_logits)
            np.testing.assert_array_equal(b.checkpoint_steps, r.checkpoint_steps)
            np.testing.assert_array_equal(b.test_index, r.test_index)
            np.testing.assert_array_equal(b.confusion, r.confusion)
            np.testing.assert_array_equal(b.curve_errors, r.curve_errors)
            assert b.threshold == r.threshold and b.info == json.loads(json.dumps(r.info))
    assert (back.config, back.approaches, back.seeds, back.twins) == (result.config, result.approaches, result.seeds,
                                                                      result.twins)
    assert {n: a.recipe for n, a in back.recipes.items()} == {n: a.recipe for n, a in result.recipes.items()}
    assert back.quality == result.quality
    # everything an export shows
    assert json.loads(json.dumps(to_json_dict(back), default=float)) == json.loads(json.dumps(to_json_dict(result),
                                                                                              default=float))
    assert result_files.load_provenance(tmp_path) == PROVENANCE


def test_shared_arrays_are_stored_once(result, tmp_path):
    result_files.save_result(result, tmp_path, PROVENANCE)
    with np.load(tmp_path / result_files.RESULT_ARRAYS) as npz:
        names = npz.files
    assert len([n for n in names if n.startswith("test_index")]) == 1  # one test set for every run


def test_failures_travel_too(result, tmp_path):
    result.failures = {"vae": {1: "simulated out-of-memory"}}
    result_files.save_result(result, tmp_path, PROVENANCE)
    assert result_files.load_result(tmp_path).failures == {"vae": {1: "simulated out-of-memory"}}


def test_missing_or_foreign_files_are_one_clear_error(tmp_path):
    with pytest.raises(VaeimbError, match="ship_default"):
        result_files.load_result(tmp_path)
    (tmp_path / result_files.RESULT_JSON).write_text(json.dumps({"format": 99}))
    with pytest.raises(VaeimbError, match="format 99"):
        result_files.load_result(tmp_path)


def test_the_label_says_when_where_how_and_which_code():
    text = result_files.label(PROVENANCE)
    assert text == ("Shipped results: made 2026-12-01 09:00 UTC on Test CPU by `python bench/ship_default.py`, "
                    "code abc123def456.")


def test_a_shipped_generator_decodes_as_the_fitted_one(tiny_run, tmp_path, mnist_dir):
    from vaeimb.studies.experiment import load_generator

    result, cache = tiny_run
    gen = load_generator(result.config, "vae", 0, cache=cache, data_dir=mnist_dir)
    meta, arrays = gen.state()
    result_files.save_generator_state(meta, arrays, tmp_path, "vae", 0)
    assert result_files.has_generator(tmp_path, "vae", 0) and not result_files.has_generator(tmp_path, "vae", 1)
    back = result_files.load_generator(tmp_path, "vae", 0)
    z = np.random.default_rng(0).normal(size=(4, gen.latent_dim)).astype(np.float32)
    np.testing.assert_array_equal(back.decode(z), gen.decode(z))
    np.testing.assert_array_equal(back.latent_mu, gen.latent_mu)
    np.testing.assert_array_equal(back.sample(8, seed=0), gen.sample(8, seed=0))


# ---- the folder that ships -------------------------------------------------------------
def test_the_default_folder_holds_the_apps_default_settings():
    sys.path.insert(0, str(ROOT))
    from bench.ship_default import default_settings

    config, approaches, seeds = default_settings()
    r = result_files.load_result(result_files.DEFAULT_DIR)
    assert (r.config, r.approaches, r.seeds) == (config, approaches, seeds)
    assert not r.failures and all(len(r.runs[a]) == len(seeds) for a in approaches)
    assert {(g, s) for g, s in r.quality} == {("vae", s) for s in seeds}  # quality measured
    assert r.verdict() is not None
    prov = result_files.load_provenance(result_files.DEFAULT_DIR)
    assert prov["command"] == "python bench/ship_default.py" and len(prov["code"]) == 12
    assert all(result_files.has_generator(result_files.DEFAULT_DIR, "vae", s) for s in seeds)
    size = sum(p.stat().st_size for p in result_files.DEFAULT_DIR.iterdir())
    assert size < 4 * 2**20, f"the shipped folder grew to {size / 2**20:.1f} MB"


def test_reading_shipped_results_loads_no_torch():
    code = ("from vaeimb.running import result_files; r = result_files.load_result(); r.summary(); r.verdict(); "
            "result_files.load_generator_state(result_files.DEFAULT_DIR, 'vae', 0)")
    assert heavy_modules_loaded(code, ("torch", "sklearn")) == []
