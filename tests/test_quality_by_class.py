"""Generator quality class by class, beside each class's test recall gain over the twin:
the sample-size rule, the gain on hand-built results with known numbers, quality dicts
stored before per-class figures, a tiny long tail measured for real (with a tiny judge),
and the Latent page's per-class table."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from vaeimb.declarations.config import ExperimentConfig, from_settings
from vaeimb.declarations.errors import ConfigError
from vaeimb.parts.metrics import classification_metrics, multiclass_metrics
from vaeimb.presentation import report
from vaeimb.running import result_files
from vaeimb.running.cache import ResultCache
from vaeimb.running.results import ExperimentResult, RunResult
from vaeimb.studies import quality
from vaeimb.studies.experiment import plan

FIGURES = {"precision", "recall", "frechet", "memorisation", "memorisation_real", "n_generated", "n_reference"}


@pytest.fixture(scope="module")
def tiny_judge_everywhere():
    """``quality.load_judge`` trains a small judge (2000 images, one epoch) wherever it is
    called: the default one learns all of MNIST train, too slow for a unit test."""
    real = quality.load_judge
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(quality, "load_judge", lambda mnist, cache, **_: real(mnist, cache, max_train=2000, epochs=1))
        yield


# ---------------------------------------------------------------- how many images per class
def test_the_sample_size_is_what_the_recipe_asks_capped_at_the_comparison_size():
    assert quality.quality_sample_size(180) == 180
    assert quality.quality_sample_size(4000) == quality.QUALITY_IMAGES == 1000
    assert quality.quality_sample_size(4, max_images=50, k=3) == 4
    # too few for k-NN balls (none asked included): the generator's images are judged anyway
    assert quality.quality_sample_size(0) == quality.QUALITY_IMAGES
    assert quality.quality_sample_size(3, max_images=50, k=3) == 50
    with pytest.raises(ConfigError, match="0 or more"):
        quality.quality_sample_size(-1)


# ---------------------------------------------------------------- hand-built results
def _lt_config() -> ExperimentConfig:
    """Three classes: digit 0 (the head), 1 and 7."""
    return from_settings({"task": "longtail", "profile": "counts", "counts": "100,40,10", "order": "017"}).validate()


TEST_Y = np.repeat([0, 1, 2], 10)


def _k_run(name: str, seed: int, right: dict[int, int]) -> RunResult:
    """A K = 3 run that gets ``right[label]`` of the 10 test images of each label right (the
    rest are called the head, the head's all right)."""
    pred = np.zeros(len(TEST_Y), np.int64)
    for label in (1, 2):
        rows = np.flatnonzero(TEST_Y == label)
        pred[rows[: right[label]]] = label
    logits = np.eye(3, dtype=np.float32)[pred][None] * 5.0  # one checkpoint, (1, n_test, K)
    return RunResult(approach=name, seed=seed, threshold=float("nan"), checkpoint_steps=np.array([10]),
                     checkpoint_logits=logits, test_y=TEST_Y, test_index=np.arange(len(TEST_Y)),
                     metrics=multiclass_metrics(TEST_Y, pred, 3), offsets=np.zeros(3))


def _figures(precision: float, digit: int | None = None) -> dict:
    f = {"precision": precision, "recall": precision / 2, "frechet": 10 * precision, "memorisation": 1.0,
         "memorisation_real": 2.0, "n_generated": 90, "n_reference": 90}
    return f if digit is None else {**f, "digit": digit, "n_asked": 90}


def _k_result(twins: bool = True) -> ExperimentResult:
    """smote gets digit 1 right in 8, 6, 7 of 10 images (baseline: 5, 5, 4) and digit 7 in
    5 of 10 every seed (baseline: 0). Quality: seeds 0 and 1 class by class, seed 2 stored
    the old way (the rarest class only)."""
    cfg = _lt_config()
    approaches, twin_map = plan(cfg, ["smote"])
    recipes = {a.name: a for a in approaches}
    runs = {"smote": {s: _k_run("smote", s, {1: r1, 2: 5}) for s, r1 in zip((0, 1, 2), (8, 6, 7))},
            "baseline": {s: _k_run("baseline", s, {1: r1, 2: 0}) for s, r1 in zip((0, 1, 2), (5, 5, 4))}}
    quality_ = {("smote", 0): {**_figures(0.3), "by_class": {"1": _figures(0.6, 1), "2": _figures(0.3, 7)}},
                ("smote", 1): {**_figures(0.5), "by_class": {"1": _figures(0.8, 1), "2": _figures(0.5, 7)}},
                ("smote", 2): _figures(0.7)}
    return ExperimentResult(cfg, ("smote", "baseline"), (0, 1, 2), runs, recipes=recipes,
                            twins=dict(twin_map) if twins else {}, quality=quality_)


def test_class_figures_reads_per_class_entries_and_old_rarest_only_ones():
    new = {**_figures(0.3), "by_class": {"1": _figures(0.6, 1), "2": _figures(0.3, 7)}}
    assert report.class_figures(new, 1, 3)["precision"] == 0.6
    assert report.class_figures(new, 2, 3)["digit"] == 7
    old = _figures(0.7)
    assert report.class_figures(old, 2, 3) == old  # the last label: what old figures described
    assert report.class_figures(old, 1, 3) is None
    assert report.class_figures(None, 1, 3) is None
    assert report.class_figures(old, 1, 2) == old  # the pair's minority


def test_class_gains_pairs_each_class_recall_with_the_twin_and_averages_quality():
    rows = report.class_gains(_k_result())
    assert [(r["approach"], r["label"], r["digit"], r["n_train"]) for r in rows] == [("smote", 1, 1, 40),
                                                                                       ("smote", 2, 7, 10)]
    one, seven = rows
    assert one["twin"] == "baseline" and one["generator"] == "smote" and one["seeds"] == 3
    assert one["class_recall"] == pytest.approx(0.7) and one["twin_class_recall"] == pytest.approx(14 / 30)
    diffs = np.array([0.3, 0.1, 0.3])
    assert one["gain"] == pytest.approx(diffs.mean()) and one["gain_sd"] == pytest.approx(diffs.std(ddof=1))
    half = stats.t.ppf(0.975, 2) * diffs.std(ddof=1) / math.sqrt(3)
    assert (one["gain_ci_low"], one["gain_ci_high"]) == pytest.approx((diffs.mean() - half, diffs.mean() + half))
    # quality of digit 1: seeds 0 and 1 only (seed 2's old figures are the rarest class's)
    assert one["quality_seeds"] == 2 and one["precision"] == pytest.approx(0.7) and one["frechet"] == pytest.approx(7.0)
    assert one["n_asked"] == 90
    # digit 7: every seed +0.5, so the t interval is undefined; the exact sign-flip test
    # (p = 0.25 with 3 seeds) cannot bound it: the interval is the whole possible range
    assert seven["gain"] == pytest.approx(0.5) and (seven["gain_ci_low"], seven["gain_ci_high"]) == (-1.0, 1.0)
    assert seven["quality_seeds"] == 3 and seven["precision"] == pytest.approx(0.5)


def test_class_gains_without_a_twin_or_with_one_seed():
    alone = report.class_gains(_k_result(twins=False))
    assert all(r["twin"] is None and math.isnan(r["gain"]) and math.isnan(r["twin_class_recall"]) for r in alone)
    assert alone[0]["class_recall"] == pytest.approx(0.7) and alone[0]["seeds"] == 3
    table = report.class_gain_table(alone, "smote")
    assert table[0]["Test recall gain over its twin [95% CI]"] == "no twin ran"

    one_seed = _k_result()
    for by_seed in one_seed.runs.values():
        for s in (1, 2):
            del by_seed[s]
    (row, _) = report.class_gains(one_seed)
    assert row["seeds"] == 1 and row["gain"] == pytest.approx(0.3) and math.isnan(row["gain_ci_low"])
    assert report.class_gain_table([row], "smote")[0]["Test recall gain over baseline [95% CI]"] == "+0.300 n/a"


def test_the_class_table_and_the_report_text_show_every_class_with_its_gain():
    result = _k_result()
    table = report.class_gain_table(report.class_gains(result), "smote")
    assert table == [
        {"Class (digit)": "1", "Real training images": 40, "Precision": "0.700", "Recall": "0.350",
         "Fréchet": "7.00", "Test recall (smote)": "0.700", "Test recall gain over baseline [95% CI]":
         "+0.233 [-0.054, +0.520]", "Seeds": 3},
        {"Class (digit)": "7", "Real training images": 10, "Precision": "0.500", "Recall": "0.250",
         "Fréchet": "5.00", "Test recall (smote)": "0.500", "Test recall gain over baseline [95% CI]":
         "+0.500 [-1.000, +1.000]", "Seeds": 3},
    ]
    text = report.format_table(result)
    assert "Generator quality class by class" in text
    assert "  smote (smote) vs its generator-free twin baseline:" in text
    assert ("    digit 1 (40 real): precision 0.700, recall 0.350, Frechet 7.00, memorisation 1.000 "
            "(held-out real: 2.000; 2 seeds); test recall 0.700 vs 0.467, gain +0.233 "
            "(95% CI [-0.054, +0.520]), 3 seeds") in text
    assert "    digit 7 (10 real): precision 0.500" in text


def test_the_json_export_carries_the_class_gains_as_plain_json():
    doc = report.to_json_dict(_k_result())
    gains = doc["generator_class_gains"]
    assert [(g["approach"], g["digit"]) for g in gains] == [("smote", 1), ("smote", 7)]
    json.dumps(doc["generator_class_gains"], allow_nan=False)  # NaN and infinities become null
    assert doc["runs"][0]["generator_quality"]["by_class"]["1"]["digit"] == 1


def test_per_class_quality_survives_the_shipped_format_and_old_entries_still_load(tmp_path):
    result = _k_result()
    result_files.save_result(result, tmp_path, result_files.made_here("a test"))
    back = result_files.load_result(tmp_path)
    assert back.quality == result.quality  # by_class entries and the old rarest-only one
    assert report.class_gains(back) == report.class_gains(result)


# ---------------------------------------------------------------- the pair reads as before
def _pair_result() -> ExperimentResult:
    cfg = ExperimentConfig(n_majority=300, n_minority=20)
    approaches, twin_map = plan(cfg, ["vae"])
    test_y = np.array([0] * 30 + [1] * 10)

    def run(name, seed, right):
        z = np.where(test_y == 1, 3.0, -3.0)
        z[30 + right:] = -3.0  # minority images past ``right`` are called the majority
        return RunResult(approach=name, seed=seed, threshold=0.0, checkpoint_steps=np.array([10]),
                         checkpoint_logits=z[None].astype(np.float32), test_y=test_y,
                         test_index=np.arange(len(test_y)), metrics=classification_metrics(test_y, z, 0.0))

    runs = {"vae": {0: run("vae", 0, 9), 1: run("vae", 1, 7)}, "baseline": {0: run("baseline", 0, 6),
                                                                          1: run("baseline", 1, 6)}}
    old = {("vae", 0): _figures(0.4), ("vae", 1): _figures(0.6)}  # stored before per-class figures
    return ExperimentResult(cfg, ("vae", "baseline"), (0, 1), runs, recipes={a.name: a for a in approaches},
                            twins=dict(twin_map), quality=old)


def test_the_pair_report_keeps_its_per_seed_lines_and_adds_the_minority_gain():
    result = _pair_result()
    assert result.twins == {"vae": "baseline"}
    lines = report.quality_lines(result)
    assert lines[0] == "Generator quality (vs held-out real minority images from MNIST train; judge features):"
    assert lines[1] == ("  vae seed 0: precision 0.400, recall 0.200, Frechet 4.00, memorisation 1.000 "
                        "(held-out real: 2.000)")
    assert lines[3] == ("  vae (vae) vs its generator-free twin baseline, minority (digit 6): test recall 0.800 vs "
                        "0.600, gain +0.200 (95% CI [-1.000, +1.000]), 2 seeds")
    assert "\n".join(lines) in report.format_table(result)
    (row,) = report.class_gains(result)
    assert row["quality_seeds"] == 2 and row["precision"] == pytest.approx(0.5)  # the old figures are the minority's
    assert [p["precision"] for p in report.quality_points(result)] == [0.4, 0.6]


# ---------------------------------------------------------------- measured for real
TINY_LT = dict(task="longtail", profile="exponential", rho=10.0, n_head=200, order="3857", steps=10, batch_size=32,
               generator_steps=20, generator_batch_size=16, n_checkpoints=2, latent_dim=6, classifier="cnn")


@pytest.fixture(scope="module")
def measured(tmp_path_factory, mnist_dir, tiny_judge_everywhere):
    """A four-digit long tail with SMOTE (no training: quick), quality measured."""
    from vaeimb.studies.experiment import run_experiment

    cache = ResultCache(tmp_path_factory.mktemp("by-class-cache"))
    cfg = from_settings(TINY_LT).validate()
    result = run_experiment(cfg, ["smote"], [0], cache=cache, data_dir=mnist_dir, quality=True)
    return result, cache, mnist_dir


def test_every_filled_class_is_measured_against_its_own_digit(measured):
    from vaeimb.running.runner import Runner

    result, cache, mnist_dir = measured
    cfg = result.config
    q = result.quality[("smote", 0)]
    assert set(q["by_class"]) == {"1", "2", "3"}
    runner = Runner(cfg, cache, data_dir=mnist_dir)
    a = result.recipes["smote"]
    data, _ = runner.fit_data(a, 0)
    asked = runner.n_generate(a, data)
    for label in cfg.fill:
        f = q["by_class"][str(label)]
        assert FIGURES <= set(f) and f["digit"] == cfg.classes[label]
        assert f["n_asked"] == asked.get(label, 0)
        assert f["n_generated"] == f["n_reference"] == min(quality.quality_sample_size(f["n_asked"]), 1000)
        assert 0.0 <= f["precision"] <= 1.0 and 0.0 <= f["recall"] <= 1.0 and f["frechet"] >= 0.0
    rarest = q["by_class"]["3"]
    assert {k: q[k] for k in FIGURES} == {k: rarest[k] for k in FIGURES}  # the old keys: the rarest class's
    json.dumps(q)
    # the cached entry comes back as it was; a fresh cache measures the same numbers
    assert quality.quality_of(runner, a, 0) == q
    fresh = Runner(cfg, ResultCache(cache.root.parent / "fresh-by-class"), data_dir=mnist_dir)
    assert quality.quality_of(fresh, a, 0) == q


def test_measure_quality_remeasures_only_entries_stored_before_per_class_figures(measured):
    from vaeimb.studies.quality import measure_quality

    result, cache, mnist_dir = measured
    measured_q = result.quality[("smote", 0)]
    old = {k: v for k, v in measured_q.items() if k != "by_class"}
    result.quality[("smote", 0)] = old
    measure_quality(result, cache=cache, data_dir=mnist_dir)
    assert result.quality[("smote", 0)] == measured_q
    kept = {**old, "by_class": {"1": {}}}  # already class by class: left alone
    result.quality[("smote", 0)] = kept
    measure_quality(result, cache=cache, data_dir=mnist_dir)
    assert result.quality[("smote", 0)] is kept
    result.quality[("smote", 0)] = measured_q


# ---------------------------------------------------------------- the Latent page
LT_APP = {
    "cfg_task": "longtail", "cfg_protocol": "deepsmote", "cfg_profile": "exponential", "cfg_rho": 10.0,
    "cfg_n_head": 150, "cfg_order": "0169", "cfg_steps": 20, "cfg_batch_size": 32, "cfg_n_checkpoints": 2,
    "cfg_n_seeds": 2, "cfg_approaches": ["baseline", "cvae"], "cfg_generator_steps": 20,
    "cfg_generator_batch_size": 16, "cfg_latent_dim": 6, "latent_generator": "cvae",
}


def test_the_latent_page_shows_each_generators_quality_and_gain_class_by_class(
        monkeypatch, tmp_path, mnist_dir, tiny_judge_everywhere):
    from test_app import button
    from test_app_longtail import fresh_app

    at = fresh_app(monkeypatch, tmp_path, mnist_dir, LT_APP)
    at.run()
    button(at, "Run").click().run()
    assert not at.exception, at.exception
    at.switch_page("pages/2_latent_space.py").run()
    assert not at.exception, at.exception
    (result,) = at.session_state["_finished_results"].values()
    assert {("cvae", s) for s in (0, 1)} <= set(result.quality)  # measured by the page
    expected = report.class_gain_table(report.class_gains(result), "cvae")
    assert [r["Class (digit)"] for r in expected] == ["1", "6", "9"]
    (shown,) = at.table
    assert shown.value.to_dict("records") == expected
    assert any("Which classes did each generator help" in m.value for m in at.markdown)

    # the explored class's own figures, measured class by class
    at.selectbox(key="latent_class").set_value(2).run()
    button(at, "Measure this generator's quality").click().run()
    assert not at.exception, at.exception
    seed = at.session_state["latent_seed"]
    figures = result.quality[("cvae", seed)]["by_class"]["2"]
    assert [m.value for m in at.metric][:3] == [f"{figures['precision']:.3f}", f"{figures['recall']:.3f}",
                                                f"{figures['frechet']:.2f}"]


def test_the_pair_latent_page_shows_old_shipped_figures_and_no_class_table(monkeypatch, tmp_path, mnist_dir):
    """The shipped default (a pair, figures stored before per-class quality) reads as before."""
    from test_app import button
    from test_app_longtail import fresh_app

    at = fresh_app(monkeypatch, tmp_path, mnist_dir, {}).run()
    at.switch_page("pages/2_latent_space.py").run()
    assert not at.exception, at.exception
    button(at, "Measure this generator's quality").click().run()
    assert not at.exception, at.exception
    ship = result_files.load_result()
    q = ship.quality[("vae", at.session_state["latent_seed"])]
    assert [m.value for m in at.metric][:3] == [f"{q['precision']:.3f}", f"{q['recall']:.3f}", f"{q['frechet']:.2f}"]
    assert not at.table  # no class-by-class table for the pair
    assert at.get("plotly_chart")  # the quality scatter is still drawn
