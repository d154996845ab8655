"""The recipe search on the validation split (vaeimb.studies.search, python -m vaeimb search)."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest
from tiny_setup import TINY

from vaeimb.declarations.config import ExperimentConfig
from vaeimb.declarations.errors import ConfigError
from vaeimb.interfaces import cli
from vaeimb.running import recipes
from vaeimb.running.cache import ResultCache
from vaeimb.running.executor import InProcess
from vaeimb.running.recipes import PRESETS, Preset, build_approach, searched_blurb
from vaeimb.running.runner import Runner
from vaeimb.studies import search


def test_the_space_names_registered_parts_and_ranges_inside_their_declarations(monkeypatch):
    search.check_space()
    bad = search.Range("mix", "mixup", "alpha", 0.0, 200.0)  # above Param alpha's 100
    monkeypatch.setattr(search, "RANGES", (*search.RANGES, bad))
    with pytest.raises(ConfigError, match="mixup.alpha"):
        search.check_space()
    monkeypatch.setattr(search, "RANGES", (search.Range("aug", "warp", "alpha", 1.0, 2.0),))
    with pytest.raises(ConfigError, match="not in the search space"):
        search.check_space()


@pytest.mark.parametrize("n", [0, -3, 1.5, True, "5"])
def test_a_budget_of_no_trials_is_refused(n):
    with pytest.raises(ConfigError, match="1 or more trials"):
        search.check_trials(n)


def test_the_incumbent_is_proposed_exactly_as_its_preset():
    params = search.incumbent_params("augment-posthoc", "clean")
    assert params == {"batches": "balanced", "aug": "affine", "mix": "none", "loss": "ce", "decision": "posthoc",
                      "posthoc.tau": 1.0}
    a = search.approach_of(params, "clean")
    ref = build_approach("augment-posthoc")
    assert a.hold_out and not ref.hold_out
    assert a.recipe == ref.recipe and dict(a.values) == dict(ref.values)
    assert a.validates and not ref.validates


@pytest.mark.parametrize("name, fragment", [("vae", "generator-free"), ("oracle", "generator-free"),
                                            ("focal", "outside the search space"), ("nope", "Unknown approach")])
def test_an_incumbent_outside_the_space_is_refused(name, fragment):
    with pytest.raises(ConfigError, match=fragment):
        search.incumbent_params(name, "clean")


def test_suggest_asks_only_for_the_chosen_parts_parameters():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen = []
    for _ in range(40):
        t = study.ask()
        p = search.suggest(t)
        study.tell(t, 0.0)
        for r in search.RANGES:
            assert (r.label in p) == (p[r.key] == r.part)
            if r.label in p:
                assert r.low <= p[r.label] <= r.high
        a = search.approach_of(p, "clean")  # every proposal builds
        assert a.recipe.mix == p["mix"] and a.hold_out
        seen.append(p["mix"])
    assert set(seen) == {"none", "mixup", "remix"}


def _trial(n, score, seconds):
    return search.Trial(n, "r", {}, scores={0: score}, seconds={0: seconds})


def test_the_winner_is_the_best_score_within_the_time_limit_ties_to_the_earlier():
    trials = [_trial(0, 0.90, 10), _trial(1, 0.95, 16), _trial(2, 0.93, 14), _trial(3, 0.93, 9)]
    assert search.pick_winner(trials, 15.0).number == 2
    assert search.pick_winner(trials, 20.0).number == 1
    failed = search.Trial(4, "r", {}, scores={0: 0.99}, seconds={0: 1}, error="boom")
    assert search.pick_winner([*trials, failed], 15.0).number == 2
    with pytest.raises(ConfigError, match="time limit"):
        search.pick_winner(trials, 5.0)


def test_validation_predictions_need_a_held_out_split(tiny_config, cache, mnist_dir):
    runner = Runner(tiny_config, cache, data_dir=mnist_dir)
    with pytest.raises(ConfigError, match="holds out no validation"):
        runner.validation_predictions(build_approach("baseline"), 0)


def _scrambled(mnist, seed):
    """MNIST with the test labels permuted: what a search that never reads the test set cannot notice."""
    rng = np.random.default_rng(seed)
    return dataclasses.replace(mnist, test_labels=rng.permutation(mnist.test_labels))


def test_a_tiny_search_scores_on_validation_only_is_seeded_and_saves_a_loadable_preset(
        tmp_path, mnist_dir, monkeypatch):
    from vaeimb.parts import data

    cfg = ExperimentConfig(**{**TINY, "steps": 20})
    real = data.load_images(mnist_dir)
    runs = []
    for k, mnist in enumerate((real, _scrambled(real, 1))):
        monkeypatch.setattr(data, "load_images", lambda *a, _m=mnist, **kw: _m)
        told = []
        res = search.search(cfg, name="searched-tiny", trials=3, seeds=(100, 101), cache=ResultCache(tmp_path / f"c{k}"),
                            executor=InProcess(), data_dir=mnist_dir, on_trial=told.append)
        assert [t.number for t in told] == [0, 1, 2]
        runs.append(res)
    a, b = runs
    assert [t.params for t in a.trials] == [t.params for t in b.trials]  # the seeded sampler proposes the same
    assert [t.scores for t in a.trials] == [t.scores for t in b.trials]  # the test labels play no part
    assert a.trials[0].params == search.incumbent_params("augment-posthoc", "clean")
    assert all(0.0 < s <= 1.0 for t in a.trials for s in t.scores.values())
    # the score is the validation split's balanced accuracy, recomputed from the runner
    runner = Runner(cfg, ResultCache(tmp_path / "c0"), images={"mnist": real})
    approach = dataclasses.replace(search.approach_of(a.trials[1].params, "clean"), name="x")
    y, pred = runner.validation_predictions(approach, 100)
    assert len(y) == round(cfg.validation_fraction * (cfg.n_majority + cfg.n_minority))
    assert a.trials[1].scores[100] == pytest.approx(np.mean([(pred[y == k] == k).mean() for k in (0, 1)]))

    path = search.save(a, tmp_path / "presets", "python -m vaeimb search ...")
    entry = json.loads(path.read_text())
    assert entry["name"] == "searched-tiny" and entry["record"]["n_trials"] == 3
    assert entry["record"]["winner"] == a.winner.number and entry["record"]["seeds"] == [100, 101]
    monkeypatch.setenv(recipes.PRESETS_DIR_ENV, str(tmp_path / "presets"))
    loaded = recipes._searched_presets({})
    preset = loaded["searched-tiny"]
    assert preset.searched_file == str(path)
    assert "3 trials" in preset.blurb and "never read" in preset.blurb and "augment-posthoc" in preset.blurb
    winner = search.approach_of(a.winner.params, "clean")
    assert preset.recipe == winner.recipe and {k: dict(v) for k, v in preset.values.items()} == \
        {k: dict(v) for k, v in winner.values.items()}
    # its data limit: the oracle's images trained with the same parts and values
    twin = loaded["searched-tiny-oracle"]
    assert twin.recipe == dataclasses.replace(winner.recipe, data="oracle")
    assert "data" not in twin.values and all(twin.values[k] == preset.values[k] for k in twin.values)
    monkeypatch.setitem(recipes.PRESETS, "searched-tiny-oracle", twin)  # it builds like any preset
    built = build_approach("searched-tiny-oracle", "clean")
    assert built.is_bound and built.recipe.mix == winner.recipe.mix and built.values["loss"] == winner.values["loss"]
    # made for the task it was searched on, not another
    assert preset.made_for(cfg) and twin.made_for(cfg)
    assert not preset.made_for(cfg.replace(classifier="cnn")) and not preset.made_for(cfg.replace(minority=8))
    assert Preset("x", "b", recipes.Recipe()).made_for(cfg.replace(minority=8))


def test_a_malformed_searched_file_is_skipped_with_a_warning(tmp_path, monkeypatch):
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "baseline.json").write_text(json.dumps({"name": "baseline", "recipe": "loss=ce", "values": {},
                                                        "for": "x", "record": {}}))
    monkeypatch.setenv(recipes.PRESETS_DIR_ENV, str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = recipes._searched_presets(PRESETS)
    assert "baseline" not in out or out["baseline"].searched_file is None
    texts = " ".join(str(w.message) for w in caught)
    assert "broken.json skipped" in texts and "baseline.json skipped" in texts and "taken" in texts


def test_the_blurb_says_how_the_preset_was_chosen():
    entry = {"for": "all ten digits, cnn", "made_on": "AMD EPYC, 2026-12-06", "record": {
        "seeds": [100, 101], "winner": 1, "n_trials": 2, "sampler": "optuna TPESampler(seed=0)",
        "validation_fraction": 0.2, "incumbent": "augment-posthoc", "minutes": 1.25,
        "trials": [{"number": 0, "score": 0.9}, {"number": 1, "score": 0.95}]}}
    text = searched_blurb(entry)
    assert "2 trials of optuna TPESampler(seed=0)" in text and "20% validation split" in text
    assert "seeds 100, 101" in text and "95.00 %" in text and "90.00 % for the incumbent augment-posthoc" in text


@pytest.mark.parametrize("argv, fragment", [
    (["--trials", "0"], "1 or more trials"),
    (["--incumbent", "vae"], "generator-free"),
    (["--name", "baseline"], "built-in preset"),
    (["--name", "a/b"], "letters, digits"),
    (["--json", "x.json"], "--json is not for it"),
])
def test_the_search_command_refuses_bad_input_in_one_line_before_anything_trains(argv, fragment, tmp_path, capsys,
                                                                                   monkeypatch, mnist_dir):
    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path / "env-cache"))
    rc = cli.main(["search", *argv, "--steps", "5", "--quiet", "--in-process", "--data-dir", str(mnist_dir),
                   "--cache-dir", str(tmp_path / "c"), "--save-dir", str(tmp_path / "p")])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").rglob("*.npz"))
    assert not (tmp_path / "p").exists() and not (tmp_path / "env-cache").exists()


def test_the_default_name_names_the_task_and_classifier():
    assert cli.searched_name(ExperimentConfig()) == "searched-0v6-mlp"
    assert cli.searched_name(ExperimentConfig.for_protocol("deepsmote", classifier="cnn")) == "searched-longtail-cnn"


def test_a_searched_preset_is_a_preset_like_any_other():
    p = Preset("searched-x", "b", recipes.parse_recipe("batches=balanced,mix=mixup"), searched_file="/x.json")
    assert p.resolve(recipes.PROTOCOLS["clean"]).mix == "mixup"


def test_a_save_dir_that_is_a_file_is_refused_before_anything_trains(tmp_path, capsys, mnist_dir):
    (tmp_path / "p").write_text("x")
    rc = cli.main(["search", "--steps", "5", "--trials", "2", "--quiet", "--in-process", "--data-dir", str(mnist_dir),
                   "--cache-dir", str(tmp_path / "c"), "--save-dir", str(tmp_path / "p")])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 2 and lines == [f"error: --save-dir {tmp_path / 'p'} is a file; give a folder"]
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").rglob("*.npz"))


def test_all_means_every_preset_made_for_the_task(monkeypatch):
    other = Preset("searched-elsewhere", "b", recipes.parse_recipe("batches=balanced"), searched_file="/x.json",
                   searched_for={**ExperimentConfig().to_dict(), "minority": 8})
    mine = Preset("searched-here", "b", recipes.parse_recipe("batches=balanced"), searched_file="/y.json",
                  searched_for=ExperimentConfig().to_dict())
    monkeypatch.setitem(recipes.PRESETS, other.name, other)
    monkeypatch.setitem(recipes.PRESETS, mine.name, mine)
    a = cli.build_parser().parse_args(["run", "--approaches", "all"])
    names = cli._specs(a, cli.config_from_args(a))
    assert "searched-here" in names and "searched-elsewhere" not in names and "baseline" in names
