"""The long-tail task: profiles, label order, fixed test sets, bad input, and a tiny K-class
run through the same runner as the pair (K = 2 is the same code: tests/test_reference.py and
the parts' and generators' bit-identity tests keep the pair's numbers where they were)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from vaeimb.declarations.config import ExperimentConfig, from_settings
from vaeimb.declarations.errors import ConfigError
from vaeimb.declarations.task_kinds import DEEPSMOTE_COUNTS
from vaeimb.interfaces import cli
from vaeimb.parts.data import load_images, make_experiment_data
from vaeimb.parts.metrics import multiclass_metrics
from vaeimb.presentation.figures import per_class_recall, recall_by_count
from vaeimb.presentation.report import display_rows, format_table, to_json_dict
from vaeimb.running.cache import ResultCache
from vaeimb.studies.experiment import plan, run_experiment

#: Four digits, exponential profile, a budget that trains in seconds.
TINY_LT = dict(task="longtail", profile="exponential", rho=10.0, n_head=200, order="3857", steps=40, batch_size=32,
               generator_steps=20, generator_batch_size=16, n_checkpoints=3, latent_dim=6, classifier="cnn")


def lt(**changes) -> ExperimentConfig:
    return from_settings({**TINY_LT, **changes}).validate()


def test_deepsmote_profile_and_protocol():
    cfg = from_settings({"task": "longtail"}).validate()
    assert cfg.protocol == "deepsmote" and cfg.classifier == "cnn" and (cfg.steps, cfg.batch_size) == (2000, 128)
    assert cfg.classes == tuple(range(10)) and cfg.class_counts == DEEPSMOTE_COUNTS
    assert cfg.n_classes == 10 and cfg.output_logits == 10 and cfg.fill == tuple(range(1, 10))
    plan_ = cfg.test_plan
    assert plan_.name == "official" and plan_.per_class is None  # every test image of the ten digits
    assert plan_.subsets["balanced"] == (892,) * 10  # the rarest digit (5) in MNIST test
    imb = plan_.subsets["imbalanced"]
    assert imb[0] == 892 and imb[-1] == round(892 * 40 / 4000)
    assert plan_.seed == cfg.protocol_record.test_seed and "test seed" in plan_.description
    # a protocol implies its task, the other way round too
    assert from_settings({"protocol": "deepsmote"}).task == "longtail"
    assert from_settings({}).task == "pair" and from_settings({}).protocol == "clean"


def test_exponential_profile_and_digit_order():
    cfg = lt()
    assert cfg.classes == (3, 8, 5, 7)  # the order's head first
    assert cfg.class_counts == tuple(round(200 * 10 ** (-k / 3)) for k in range(4))
    # explicit counts are sorted into label order: the largest count is label 0
    c = lt(profile="counts", counts="50, 400, 120", order="123")
    assert c.classes == (2, 3, 1) and c.class_counts == (400, 120, 50)


@pytest.mark.parametrize("changes, fragment", [
    (dict(profile="counts", counts="6000,10", order="01"), "MNIST train holds 5923"),
    (dict(order="7"), "at least two classes"),
    (dict(order="3383"), "digit 3 twice"),
    (dict(profile="zipf"), "Unknown profile 'zipf'"),
    (dict(rho=0.5), "rho"),
    (dict(profile="counts", counts="10,x", order="01"), "whole numbers"),
    (dict(profile="counts", counts="10,20", order="012"), "one count per digit"),
    (dict(profile="deepsmote", order="0123"), "ten counts|10 counts"),
    (dict(protocol="blog"), "serves the pair task"),
])
def test_bad_long_tail_input_is_one_clear_error(changes, fragment):
    with pytest.raises(ConfigError, match=fragment):
        lt(**changes)


@pytest.mark.parametrize("flags, fragment", [
    (["--order", "0"], "at least two classes"),
    (["--order", "0012"], "twice"),
    (["--profile", "counts", "--counts", "7000,5", "--order", "01"], "MNIST train holds"),
    (["--profile", "exponential", "--rho", "0.5"], "rho"),
])
def test_cli_refuses_bad_long_tail_input_before_training(flags, fragment, tmp_path, capsys, mnist_dir):
    cache = tmp_path / "cache"
    code = cli.main(["run", "--task", "longtail", *flags, "--cache-dir", str(cache), "--data-dir", str(mnist_dir),
                     "--in-process", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == cli.EXIT_BAD_INPUT
    assert len(err) == 1 and err[0].startswith("error:") and fragment.split("|")[0] in err[0]
    assert not any(p.is_file() for p in cache.rglob("*")) if cache.exists() else True  # nothing trained or cached


def test_the_unknown_profile_flag_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "--task", "longtail", "--profile", "zipf"])
    assert e.value.code == cli.EXIT_BAD_INPUT
    assert "invalid choice: 'zipf'" in capsys.readouterr().err


def test_the_draw_and_the_fixed_test_sets(mnist_dir):
    mnist = load_images(mnist_dir)
    cfg = from_settings({"task": "longtail"}).validate()
    d0, d1 = make_experiment_data(cfg, 0, mnist), make_experiment_data(cfg, 1, mnist)
    assert np.bincount(d0.train_y).tolist() == list(DEEPSMOTE_COUNTS)
    assert (mnist.train_labels[d0.train_index] == np.asarray(cfg.classes)[d0.train_y]).all()
    assert not np.array_equal(d0.train_index, d1.train_index)  # each seed draws anew ...
    assert np.array_equal(d0.test_index, d1.test_index)  # ... and is scored on the same test images
    assert len(d0.test_index) == 10_000 and np.array_equal(d0.test_index, np.arange(10_000))  # the official split
    assert (mnist.test_labels[d0.test_index] == d0.test_y).all()  # digits 0..9 are labels 0..9 here
    for name in ("balanced", "imbalanced"):
        rows = d0.test_subsets[name]
        assert np.bincount(d0.test_y[rows], minlength=10).tolist() == list(cfg.test_plan.subsets[name])
        assert np.array_equal(rows, d1.test_subsets[name])  # one draw for every experiment seed
    # the imbalanced set lies inside the balanced one (a digit's smaller draw is a prefix of its larger)
    assert np.isin(d0.test_subsets["imbalanced"], d0.test_subsets["balanced"]).all()
    # drawn at random, not in file order: both halves of MNIST test (SD-3's first 5000 easy images,
    # SD-1's last 5000 hard ones) are there in about equal shares for every digit
    bal = d0.test_index[d0.test_subsets["balanced"]]
    for digit in range(10):
        mine = bal[mnist.test_labels[bal] == digit]
        late = (mine >= 5000).mean()
        share = (np.flatnonzero(mnist.test_labels == digit) >= 5000).mean()
        assert abs(late - share) < 0.06, (digit, late, share)
    assert [len(o) for o in d0.oracle_by_class] == [4000] * 10  # the oracle: every digit at the head count
    assert np.isin(d0.train_index[d0.train_y == 9], np.flatnonzero(mnist.train_labels == 9)).all()
    # the oracle's real images of a digit include the draw's (nested draws)
    assert {x.tobytes() for x in d0.train_x[d0.train_y == 9]} <= {x.tobytes() for x in d0.oracle_by_class[9]}


def test_every_part_plans_for_k_classes_the_tuned_decision_too():
    chosen, _ = plan(lt(), ["baseline", "tuned", "threshold", "la-loss", "focal", "ldam-drw", "oversample", "augment"])
    assert "tuned" in {a.name for a in chosen}


@pytest.fixture(scope="module")
def tiny_result(tmp_path_factory, mnist_dir):
    cache = ResultCache(tmp_path_factory.mktemp("lt-cache"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return run_experiment(lt(), ["baseline", "threshold", "oversample", "cvae", "latent-smote", "oracle"], [0, 1],
                              cache=cache, data_dir=mnist_dir)


def test_a_k_class_run_through_the_one_runner(tiny_result):
    res = tiny_result
    assert not res.failures, res.failures
    k = 4
    assert res.twins == {"cvae": "baseline", "latent-smote": "baseline"}
    for name, by_seed in res.runs.items():
        for r in by_seed.values():
            assert r.checkpoint_logits.shape[1:] == (len(r.test_y), k)
            assert r.confusion.shape == (k, k) and r.confusion.sum() == len(r.test_y)
            assert r.metrics == pytest.approx({**multiclass_metrics(r.test_y, r.predictions, k), **{
                f"{m}@{s}": v for s in ("balanced", "imbalanced") for m, v in multiclass_metrics(
                    r.test_y[r.test_subsets[s]], r.predictions[r.test_subsets[s]], k).items()}})
            assert r.curve_errors[-1] == r.metrics["misclassified"]
    base, thr = res.runs["baseline"][0], res.runs["threshold"][0]
    np.testing.assert_array_equal(base.logits, thr.logits)  # post-hoc shares the baseline's model
    counts = np.asarray(res.config.class_counts, float)
    np.testing.assert_allclose(thr.offsets, np.log(counts / counts[0]))  # tau * log(n_k / n_0)
    gen = res.runs["cvae"][0].info
    assert gen["train_counts_real"] == list(res.config.class_counts)
    assert gen["generated"] == [0, *(res.config.class_counts[0] - n for n in res.config.class_counts[1:])]
    oracle = res.runs["oracle"][0].info
    assert oracle["train_counts_real"] == [res.config.class_counts[0]] * k


def test_verdict_tables_and_figures_on_acsa(tiny_result):
    res = tiny_result
    v = res.verdict("balanced_accuracy")
    assert v is not None and v.n_seeds == 2 and "oracle" not in v.to_dict().get("best", "")
    text = format_table(res)
    assert "ACSA" in text and "On ACSA (balanced accuracy):" in text and "On Misclassified test images:" in text
    rows = display_rows(res)
    assert "ACSA (balanced accuracy) (imbalanced test)" in rows[0] and "95% CI (ACSA)" in rows[0]
    js = to_json_dict(res)
    assert js["verdict_acsa"] is not None and "imbalanced" in js["test_sets"]
    assert js["test_seed"] == res.config.protocol_record.test_seed and "test seed" in js["test_sets"]
    run = js["runs"][0]
    assert len(run["per_class"]["recall"]) == 4 and np.asarray(run["confusion_matrix"]).shape == (4, 4)
    rec = per_class_recall(res)
    manual = np.mean([r.per_class()["recall"] for r in res.runs["oversample"].values()], axis=0)
    np.testing.assert_allclose(rec["oversample"]["recall"], manual)
    fig = recall_by_count(res, "imbalanced")
    assert fig.layout.xaxis.type == "log"
    assert [t.name for t in fig.data] == list(res.runs)
    assert list(fig.data[0].x) == list(res.config.class_counts)


def test_a_conditional_generator_explored_class_by_class(tmp_path, mnist_dir):
    from vaeimb.presentation import latent
    from vaeimb.presentation.latent_js import browser_decoder
    from vaeimb.studies.experiment import load_generator

    cfg = lt()
    gen = load_generator(cfg, "cvae", 0, cache=ResultCache(tmp_path), data_dir=mnist_dir)
    assert gen.fill == (1, 2, 3) and latent.for_label(gen, 1) is gen  # the first label: the generator itself
    two, three = latent.for_label(gen, 2), latent.for_label(gen, 3)
    np.testing.assert_array_equal(two.latent_mu, gen.latent_mu_of(2))
    assert len(two.latent_mu) == cfg.class_counts[2]  # one code per training image of that class
    z = latent.mean_code(two)
    assert not np.array_equal(latent.decode(two, z), latent.decode(three, z))  # the condition changes the digit
    np.testing.assert_array_equal(two.sample(5, seed=0), gen.sample(5, seed=0, label=2))
    module, condition = browser_decoder(two)
    assert condition.tolist() == [0.0, 0.0, 1.0, 0.0]  # the K-way one-hot of label 2
    with pytest.raises(ValueError, match="fills labels"):
        latent.for_label(gen, 0)


def test_sweeps_and_atlases_are_for_digit_pairs(capsys, tmp_path):
    from vaeimb.studies.atlas.runs import atlas_experiments
    from vaeimb.studies.sweep import sweep_configs

    with pytest.raises(ConfigError, match="minority ratio.*profile"):
        sweep_configs(lt(), [0.02])
    with pytest.raises(ConfigError, match="digit pairs"):
        atlas_experiments(lt(), [(0, 6)], [0.02], ["baseline"], [0])
    assert cli.main(["sweep", "--protocol", "deepsmote", "--cache-dir", str(tmp_path), "--quiet"]) == cli.EXIT_BAD_INPUT
    assert "minority ratio" in capsys.readouterr().err


def test_the_benchmarks_target_lines_follow_the_numbers(tiny_result):
    from bench.longtail_bench import ACSA_TARGET, targets

    lines = targets(tiny_result)
    best = max((n for n in tiny_result.runs if n != "oracle"),
               key=lambda n: tiny_result.summary()[n]["balanced_accuracy"].mean)
    acsa = tiny_result.summary()[best]["balanced_accuracy"].mean
    assert f"**{best}**" in lines[0] and ("MET" if acsa >= ACSA_TARGET else "MISSED") in lines[0]
    assert any(line.strip().startswith("- cvae vs baseline:") for line in lines)
    assert lines[-1].startswith("- does generation help on the long tail?")


def test_a_k_class_result_survives_the_export_the_app_reads(tiny_result, tmp_path):
    """The app's Run trains in a child process and reads its result back (vaeimb.running.result_files):
    the decision's offsets, the other test sets and every count come back as computed."""
    from vaeimb.running.result_files import load_result, save_result

    save_result(tiny_result, tmp_path, {"made": "now"})
    back = load_result(tmp_path)
    for name, by_seed in tiny_result.runs.items():
        for seed, r in by_seed.items():
            b = back.runs[name][seed]
            np.testing.assert_array_equal(b.offsets, r.offsets)
            np.testing.assert_array_equal(b.predictions, r.predictions)
            np.testing.assert_array_equal(b.curve_errors, r.curve_errors)
            np.testing.assert_array_equal(b.per_class("imbalanced")["recall"], r.per_class("imbalanced")["recall"])
            assert b.metrics == r.metrics
    assert to_json_dict(back)["runs"] == to_json_dict(tiny_result)["runs"]


def test_test_subsets_are_seeded_per_digit_and_in_the_cache_key():
    import dataclasses
    import unittest.mock as mock

    from vaeimb.declarations import protocols
    from vaeimb.parts.data import test_subset

    labels = np.repeat(np.arange(3), 50)[np.random.default_rng(0).permutation(150)]
    among = np.arange(150)
    a = test_subset(labels, among, (0, 1, 2), (20, 20, 20), 7)
    assert np.bincount(labels[a]).tolist() == [20, 20, 20]
    small = test_subset(labels, among, (0, 1, 2), (20, 5, 1), 7)
    assert np.isin(small, a).all()  # a smaller draw of a digit is a prefix of the larger one
    assert np.array_equal(test_subset(labels, among, (1,), (5,), 7), small[labels[small] == 1])  # per digit
    assert not np.array_equal(test_subset(labels, among, (0, 1, 2), (20, 20, 20), 8), a)  # the seed decides
    with pytest.raises(ConfigError, match="needs 51 images of digit 0"):
        test_subset(labels, among, (0,), (51,), 7)
    cfg = from_settings({"task": "longtail"}).validate()
    before = cfg.data_dict()
    assert before["test"][2] == cfg.protocol_record.test_seed != 1
    other = dataclasses.replace(cfg.protocol_record, test_seed=1)
    with mock.patch.dict(protocols.PROTOCOLS, {"deepsmote": other}):  # another test seed, another cache key
        assert cfg.test_plan.seed == 1 and cfg.data_dict()["test"][2] == 1 and cfg.data_dict() != before
