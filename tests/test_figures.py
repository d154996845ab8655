"""Unit tests of the dashboard's figure builders: assert on the data each chart draws."""

from __future__ import annotations

import numpy as np
import pytest

from vaeimb.declarations.config import ExperimentConfig
from vaeimb.parts.metrics import classification_metrics
from vaeimb.presentation import figures
from vaeimb.presentation.latent import LatentMap
from vaeimb.studies.experiment import ExperimentResult, RunResult
from vaeimb.studies.sweep import SweepResult


def make_run(approach: str, seed: int, logits_final: np.ndarray, test_y: np.ndarray, n_ckpt: int = 3) -> RunResult:
    """A RunResult whose checkpoints drift towards ``logits_final`` (a fake learning curve)."""
    steps = np.arange(1, n_ckpt + 1) * 10
    ckpts = np.stack([logits_final * (k + 1) / n_ckpt - (n_ckpt - 1 - k) for k in range(n_ckpt)]).astype(np.float32)
    return RunResult(
        approach=approach, seed=seed, threshold=0.0, checkpoint_steps=steps, checkpoint_logits=ckpts,
        test_y=test_y, test_index=np.arange(len(test_y)),
        metrics=classification_metrics(test_y, ckpts[-1], 0.0),
    )


def make_result(config: ExperimentConfig, n_errors: dict[str, list[int]]) -> ExperimentResult:
    """Runs where approach ``a`` with seed ``s`` misclassifies exactly ``n_errors[a][s]`` images."""
    test_y = np.array([0] * 30 + [1] * 10)
    runs = {}
    for name, per_seed in n_errors.items():
        runs[name] = {}
        for seed, k in enumerate(per_seed):
            logits = np.where(test_y == 1, 3.0, -3.0)
            logits[:k] *= -1  # the first k images get the wrong sign
            runs[name][seed] = make_run(name, seed, logits, test_y)
    seeds = tuple(range(max(len(v) for v in n_errors.values())))
    return ExperimentResult(config, tuple(n_errors), seeds, runs)


@pytest.fixture
def result() -> ExperimentResult:
    return make_result(ExperimentConfig(n_majority=300, n_minority=20), {"baseline": [4, 6], "oversample": [2, 2], "vae": [1, 5]})


def test_bar_heights_are_metric_means_with_sd_error_bars(result):
    fig = figures.misclassified_bars(result)
    assert len(fig.data) == 1  # not the reference setup: no reported bars
    bars = fig.data[0]
    assert list(bars.x) == ["baseline", "oversample", "vae"]
    assert list(bars.y) == pytest.approx([5.0, 2.0, 3.0])
    assert list(bars.error_y.array) == pytest.approx([np.std([4, 6], ddof=1), 0.0, np.std([1, 5], ddof=1)])


def test_reported_bars_only_for_the_reference_setup():
    ref = make_result(ExperimentConfig(), {"baseline": [3], "oversample": [2], "vae": [1]})
    fig = figures.misclassified_bars(ref)
    assert len(fig.data) == 2
    reported = fig.data[1]
    assert dict(zip(reported.x, reported.y)) == {"oversample": 70, "vae": 30}
    other = make_result(ExperimentConfig(minority=8), {"oversample": [2], "vae": [1]})
    assert len(figures.misclassified_bars(other).data) == 1


def test_heatmap_z_is_the_confusion_matrix(result):
    run = result.runs["baseline"][0]
    fig = figures.confusion_heatmap(run.confusion, ("0", "6"), title="baseline")
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), run.confusion)
    assert list(fig.data[0].y) == ["true 0", "true 6"]
    assert fig.layout.title.text == "baseline"


def test_normalised_heatmap_rows_sum_to_one(result):
    matrix = figures.mean_confusion(result.runs["vae"].values())
    np.testing.assert_allclose(matrix, (result.runs["vae"][0].confusion + result.runs["vae"][1].confusion) / 2)
    z = np.asarray(figures.confusion_heatmap(matrix, ("0", "6"), normalised=True).data[0].z)
    np.testing.assert_allclose(z.sum(1), [1.0, 1.0])
    np.testing.assert_allclose(figures.normalise_rows(np.zeros((2, 2))), 0.0)


def test_learning_curves_mean_line_and_band(result):
    fig = figures.learning_curves(result)
    lines = {t.name: t for t in fig.data if t.mode == "lines+markers"}
    assert set(lines) == {"baseline", "oversample", "vae"}
    runs = result.runs["baseline"]
    expected = np.mean([r.curve_errors for r in runs.values()], axis=0)
    assert list(lines["baseline"].y) == pytest.approx(expected)
    assert list(lines["baseline"].x) == list(runs[0].checkpoint_steps)
    bands = [t for t in fig.data if t.fill == "toself"]
    assert len(bands) == 3  # two seeds each: a min-max band per approach


def test_sweep_figure_log_axis_and_balanced_error():
    cfg = ExperimentConfig(n_majority=300, n_minority=20)
    low = make_result(cfg.replace(n_minority=3), {"baseline": [8, 10], "vae": [4, 4]})
    high = make_result(cfg.replace(n_minority=30), {"baseline": [2, 2], "vae": [1, 3]})
    sweep = SweepResult([(0.01, low), (0.1, high)])
    fig = figures.sweep_figure(sweep, "misclassified")
    assert fig.layout.xaxis.type == "log"
    lines = {t.name: t for t in fig.data if t.mode == "lines+markers"}
    assert list(lines["baseline"].x) == [0.01, 0.1]
    assert list(lines["baseline"].y) == pytest.approx([9.0, 2.0])
    assert len([t for t in fig.data if t.fill == "toself"]) == 2
    err = figures.sweep_figure(sweep, "balanced_error")
    bal = [r["mean"] for r in sweep.rows("balanced_accuracy") if r["approach"] == "vae"]
    vae = next(t for t in err.data if t.name == "vae")
    assert list(vae.y) == pytest.approx([1 - b for b in bal])
    with pytest.raises(ValueError):
        figures.sweep_figure(sweep, "nope")


def test_latent_map_figure_one_trace_per_kind_and_highlight():
    kinds = np.array(["real minority"] * 3 + ["generated"] * 2 + ["majority"] * 4)
    lmap = LatentMap(np.arange(18, dtype=np.float32).reshape(9, 2), kinds, np.zeros((9, 28, 28), np.uint8), "pca", (0.6, 0.2))
    fig = figures.latent_map_figure(lmap, highlight=4)
    by_name = {t.name: t for t in fig.data}
    assert len(by_name["real minority"].x) == 3 and len(by_name["majority"].x) == 4
    assert list(by_name["generated"].customdata) == [3, 4]
    assert list(by_name["point #4"].x) == [8.0]
    assert "60%" in fig.layout.xaxis.title.text


def test_image_helpers():
    img = np.linspace(0, 1, 28 * 28).reshape(28, 28)
    u8 = figures.to_uint8(img)
    assert u8.dtype == np.uint8 and u8.max() == 255 and u8.min() == 0
    big = figures.upscale(u8, 4)
    assert big.shape == (112, 112) and big[3, 3] == u8[0, 0]
    grid = figures.image_grid(np.stack([u8] * 5), n_cols=3, pad=2, factor=1)
    assert grid.shape == (2 * 30 + 2, 3 * 30 + 2)
    assert figures.png_bytes(u8).startswith(b"\x89PNG")
    with pytest.raises(ValueError):
        figures.image_grid(np.zeros((0, 28, 28)), n_cols=3)


def test_gallery_most_confident_mistakes_first():
    test_y = np.array([0, 0, 1, 1])
    logits = np.array([2.0, 0.5, -4.0, 3.0])  # images 0, 1 and 2 are wrong; 2 most confidently
    run = make_run("baseline", 0, logits, test_y, n_ckpt=1)
    images = np.arange(4, dtype=np.uint8)[:, None, None] * np.ones((4, 28, 28), np.uint8)
    imgs, captions = figures.misclassified_gallery(run, images, ("0", "6"))
    assert len(imgs) == 3 and imgs[0].shape == (84, 84)
    assert imgs[0][0, 0] == 2  # test image 2 first
    assert captions[0].startswith("true 6, pred 0 (98%")
    assert captions[-1].startswith("true 0, pred 6 (62%")


def test_leaky_results_are_titled_as_such():
    leaky = make_result(ExperimentConfig.blog(), {"oversample": [2], "vae": [1]})
    assert "LEAKY" in figures.misclassified_bars(leaky).layout.title.text
    clean = make_result(ExperimentConfig(), {"oversample": [2], "vae": [1]})
    assert not clean.config.leaky and figures.misclassified_bars(clean).layout.title.text is None
