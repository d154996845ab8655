import math
from dataclasses import replace

import numpy as np
import pytest

import vaeimb.declarations.provenance as P
import vaeimb.parts.training as T
import vaeimb.running.executor as X
import vaeimb.running.runner as R
import vaeimb.studies.experiment as E
from vaeimb.declarations.config import ExperimentConfig
from vaeimb.declarations.errors import ConfigError
from vaeimb.parts.data import load_images, make_experiment_data, validation_split
from vaeimb.parts.generators.base import Generator
from vaeimb.parts.generators.vae import VaeGenerator
from vaeimb.running.cache import CacheWarning, ResultCache
from vaeimb.running.recipes import CLASSIC

ENV_KEYS = {"threads", "device", "torch", "vaeimb", "code"}


@pytest.fixture
def count_training(monkeypatch):
    """Count classifier trainings and generator fits (still running the real ones)."""
    counts = {"clf": 0, "gen": 0}
    real_clf, real_fit = T.train_classifier, Generator.fit

    def clf(*a, **k):
        counts["clf"] += 1
        return real_clf(*a, **k)

    def fit(self, *a, **k):
        counts["gen"] += 1
        return real_fit(self, *a, **k)

    monkeypatch.setattr(T, "train_classifier", clf)
    monkeypatch.setattr(Generator, "fit", fit)
    return counts


def test_results_have_every_metric_curve_and_matrix(tiny_run):
    result, _ = tiny_run
    assert result.approaches == ("baseline", "threshold", "oversample", "vae", "oracle") and result.seeds == (0, 1)
    assert not result.failures
    for name, by_seed in result.runs.items():
        for seed, r in by_seed.items():
            n_test = 980 + 958
            assert len(r.test_y) == n_test and r.confusion.sum() == n_test
            assert r.curve_errors.shape == (3,) and r.curve_errors[-1] == r.metrics["misclassified"]
            assert list(r.checkpoint_steps) == [10, 20, 30]
            assert len(r.misclassified) == r.metrics["misclassified"]
            assert ((r.probabilities >= 0) & (r.probabilities <= 1)).all()
            assert r.confusion[0, 1] + r.confusion[1, 0] == r.metrics["misclassified"]
            assert r.val_curve is None  # no recipe here holds out a validation split
            assert r.threshold_probability == pytest.approx(1 / (1 + math.exp(-r.threshold)))
            assert r.info["recipe"] == result.recipes[name].recipe.text()
    assert result.run("vae", 0).info["n_generated"] == 280
    assert result.run("oracle", 0).info["n_train_minority_real"] == 300
    assert result.recipes["oversample"].recipe.batches == "balanced"
    assert result.recipes["vae"].recipe.batches == "random"  # clean protocol: generated data in random batches
    assert result.twins == {"vae": "baseline"}
    s = result.summary()
    assert s["baseline"]["misclassified"].n == 2
    vals = [result.run("vae", k).metrics["balanced_accuracy"] for k in (0, 1)]
    assert s["vae"]["balanced_accuracy"].mean == pytest.approx(np.mean(vals))
    assert result.per_seed()["vae"] == {k: result.run("vae", k).metrics["misclassified"] for k in (0, 1)}


def test_every_run_records_its_provenance(tiny_run):
    result, _ = tiny_run
    for by_seed in result.runs.values():
        for r in by_seed.values():
            env = r.info["environment"]
            assert ENV_KEYS <= set(env)
            assert env["threads"] == T.threads_from_env() and env["device"] in ("cpu", "cuda")
            assert env["code"] == P.code_fingerprint()


def test_misclassified_interval_never_leaves_0_to_n_test():
    """Two seeds far apart give a raw t-interval far outside [0, n_test]: it is clipped."""
    from test_figures import make_result

    res = make_result(ExperimentConfig(n_majority=300, n_minority=20), {"baseline": [0, 40], "vae": [39, 40]})
    s = res.summary()["baseline"]["misclassified"]
    assert s.n == 2 and s.ci_low == 0.0 and s.ci_high == res.n_test == 40
    for stats in res.summary().values():
        for name, sp in stats.items():
            if sp.n > 1 and not math.isnan(sp.ci_low):
                hi = res.n_test if name == "misclassified" else 1.0
                assert 0.0 <= sp.ci_low <= sp.ci_high <= hi, name


def test_verdict_names_the_best_realistic_approach_never_the_oracle(tiny_run):
    result, _ = tiny_run
    v = result.verdict().to_dict()
    assert v["best"] in result.approaches and v["best"] != "oracle"
    assert {"paired_diff_mean", "ci_low", "ci_high", "wins", "n_seeds"} <= set(v["approaches"]["vae"])
    assert v["approaches"]["oracle"]["is_bound"] is True
    assert set(v["generator_contribution"]) == {"vae"} and v["generator_contribution"]["vae"]["twin"] == "baseline"
    per = result.per_seed()
    diff = np.mean([per["vae"][s] - per["baseline"][s] for s in (0, 1)])
    assert v["generator_contribution"]["vae"]["paired_diff_mean"] == pytest.approx(diff)


def test_same_config_and_seed_give_identical_numbers(tmp_path, tiny_config, mnist_dir):
    names = ["baseline", "vae"]
    a = E.run_experiment(tiny_config, names, [0], cache=ResultCache(tmp_path / "a"), data_dir=mnist_dir)
    b = E.run_experiment(tiny_config, names, [0], cache=ResultCache(tmp_path / "b"), data_dir=mnist_dir)
    for name in a.approaches:
        assert np.array_equal(a.run(name, 0).checkpoint_logits, b.run(name, 0).checkpoint_logits), name
        assert a.run(name, 0).metrics == b.run(name, 0).metrics
    c = E.run_experiment(tiny_config, ["baseline"], seeds=[1], cache=ResultCache(tmp_path / "a"), data_dir=mnist_dir)
    assert not np.array_equal(a.run("baseline", 0).logits, c.run("baseline", 1).logits)


def test_cache_hit_trains_nothing(tiny_run, tiny_config, mnist_dir, count_training):
    _, cache = tiny_run
    again = E.run_experiment(tiny_config, seeds=[0, 1], cache=cache, data_dir=mnist_dir)
    assert count_training == {"clf": 0, "gen": 0} and again.cached == 10
    assert again.run("vae", 1).metrics == tiny_run[0].run("vae", 1).metrics
    assert E.all_cached(tiny_config, CLASSIC, [0, 1], cache)
    assert not E.all_cached(tiny_config, ["baseline"], [2], cache)
    assert E.generator_is_cached(tiny_config, "vae", 1, cache) and not E.generator_is_cached(tiny_config, "vae", 2, cache)


def test_adding_a_seed_or_an_approach_reuses_what_exists(cache, tiny_config, mnist_dir, count_training):
    E.run_experiment(tiny_config, ["baseline"], [0], cache=cache, data_dir=mnist_dir)
    assert count_training["clf"] == 1
    r = E.run_experiment(tiny_config, ["baseline", "oversample"], [0, 1], cache=cache, data_dir=mnist_dir)
    assert count_training["clf"] == 1 + 3 and r.cached == 1


def test_threshold_reuses_the_baseline_model(cache, tiny_config, mnist_dir, count_training):
    t = E.run_experiment(tiny_config, ["threshold"], [0], cache=cache, data_dir=mnist_dir).run("threshold", 0)
    b = E.run_experiment(tiny_config, ["baseline"], [0], cache=cache, data_dir=mnist_dir).run("baseline", 0)
    assert count_training["clf"] == 1
    assert np.array_equal(t.checkpoint_logits, b.checkpoint_logits)
    assert t.threshold == pytest.approx(np.log(20 / 300)) and b.threshold == 0
    assert t.threshold_probability == pytest.approx(20 / 320) and b.threshold_probability == 0.5
    # moving the threshold down can only turn predictions towards the minority
    assert t.metrics["minority_recall"] >= b.metrics["minority_recall"]


def test_a_parameter_changes_the_output_and_a_training_parameter_the_key(cache, tiny_config, mnist_dir, count_training):
    cfg = tiny_config.replace(approach_params={"threshold": {"decision.tau": 0.5}})
    r = E.run_experiment(cfg, ["threshold", "baseline"], [0], cache=cache, data_dir=mnist_dir)
    t = r.run("threshold", 0)
    assert t.threshold == pytest.approx(0.5 * np.log(20 / 300))
    assert t.info["values"]["decision"] == {"tau": 0.5, "prior": "real"}
    assert count_training["clf"] == 1  # the decision's parameter does not change the trained model
    E.run_experiment(tiny_config.replace(approach_params={"focal": {"loss.gamma": 1.0}}), ["focal"], [0],
                     cache=cache, data_dir=mnist_dir)
    E.run_experiment(tiny_config, ["focal"], [0], cache=cache, data_dir=mnist_dir)
    assert count_training["clf"] == 3  # a loss parameter is part of the classifier's key
    with pytest.raises(ConfigError, match="tau"):
        E.run_experiment(tiny_config.replace(approach_params={"threshold": {"decision.tau": 9.0}}), ["threshold"],
                         [0], cache=cache, data_dir=mnist_dir)
    with pytest.raises(ConfigError, match="not run"):
        E.run_experiment(cfg, ["baseline"], [0], cache=cache, data_dir=mnist_dir)


def test_same_recipe_under_two_names_shares_its_classifier(cache, tiny_config, mnist_dir, count_training):
    r = E.run_experiment(tiny_config, ["oversample", "batches=balanced"], [0], cache=cache, data_dir=mnist_dir)
    assert set(r.approaches) == {"oversample", "batches=balanced"}
    assert count_training["clf"] == 1 and r.cached == 1
    assert r.run("oversample", 0).metrics == r.run("batches=balanced", 0).metrics
    E.run_experiment(tiny_config, ["batches=balanced,loss=focal"], [0], cache=cache, data_dir=mnist_dir)
    assert count_training["clf"] == 2  # a different part: a different model


def test_generator_is_fitted_once_per_data_and_seed(cache, tiny_config, mnist_dir, count_training):
    E.run_experiment(tiny_config, ["vae"], [0], cache=cache, data_dir=mnist_dir, twins=False)
    E.run_experiment(tiny_config.replace(steps=20), ["vae"], [0], cache=cache, data_dir=mnist_dir, twins=False)
    gen = E.load_generator(tiny_config, "vae", 0, cache=cache, data_dir=mnist_dir)
    assert count_training == {"clf": 2, "gen": 1}
    assert isinstance(gen, VaeGenerator) and gen.info["trained_on"] == "train split"
    assert ENV_KEYS <= set(gen.info["environment"])
    sample = gen.sample(280, seed=0)
    assert sample.shape == (280, 28, 28) and sample.dtype == np.uint8
    assert gen.latent_mu.shape == (20, 20) and gen.kl_per_dim.shape == (20,)
    E.run_experiment(tiny_config.replace(generator_steps=21), ["vae"], [0], cache=cache, data_dir=mnist_dir, twins=False)
    assert count_training == {"clf": 3, "gen": 2}  # the generator's budget is in its key


def test_n_generate_parameter(cache, tiny_config, mnist_dir):
    cfg = tiny_config.replace(approach_params={"vae": {"data.n_generate": 50}})
    r = E.run_experiment(cfg, ["vae"], [0], cache=cache, data_dir=mnist_dir, twins=False).run("vae", 0)
    assert r.info["n_generated"] == 50 and r.info["values"]["data"] == {
        "n_generate": 50, "fill_to": 1.0, "weight": 1.0, "stage": "all", "artefact_share": 0.0}


def test_one_failing_approach_keeps_the_others(cache, tiny_config, mnist_dir, monkeypatch):
    def broken(self, *a, **k):
        raise RuntimeError("generator exploded")

    monkeypatch.setattr(VaeGenerator, "_fit", broken)
    with pytest.warns(RuntimeWarning, match="generator exploded"):
        r = E.run_experiment(tiny_config, ["baseline", "vae", "oversample"], [0], cache=cache, data_dir=mnist_dir)
    assert "generator exploded" in r.failures["vae"][0]
    assert set(r.summary()) == {"baseline", "oversample"}
    assert not E.all_cached(tiny_config, ["vae"], [0], cache)
    assert not list(cache.root.glob("generator/*.npz"))


def test_smote_with_too_many_neighbours_fails_alone_with_a_clear_message(cache, tiny_config, mnist_dir):
    cfg = tiny_config.replace(approach_params={"smote": {"gen.k_neighbors": 50}})
    with pytest.warns(RuntimeWarning):
        r = E.run_experiment(cfg, ["baseline", "smote"], [0], cache=cache, data_dir=mnist_dir)
    msg = r.failures["smote"][0]
    assert "k_neighbors=50" in msg and "20" in msg and "Traceback" not in msg
    assert "baseline" in r.summary() and "smote" not in r.summary()


def test_abort_mid_run_keeps_finished_entries(cache, tiny_config, mnist_dir):
    class TabClosed(BaseException):  # what Streamlit raises in a stopped script
        pass

    def progress(event):
        if event.job == "oversample" and event.status == "running":
            raise TabClosed

    with pytest.raises(TabClosed):
        E.run_experiment(tiny_config, ["baseline", "oversample"], [0], cache=cache, data_dir=mnist_dir, progress=progress)
    assert E.all_cached(tiny_config, ["baseline"], [0], cache)
    assert not E.all_cached(tiny_config, ["oversample"], [0], cache)
    assert not list(cache.root.glob("*/*.tmp")) and not list(cache.root.glob("*/.*.tmp"))
    r = E.run_experiment(tiny_config, ["baseline", "oversample"], [0], cache=cache, data_dir=mnist_dir)
    assert r.cached == 1 and not r.failures


def test_unavailable_oracle_is_reported_not_crashed(cache, mnist_dir):
    cfg = ExperimentConfig(majority=1, minority=5, n_majority=5500, n_minority=20, steps=5, n_checkpoints=1)
    r = E.run_experiment(cfg, ["baseline", "oracle"], [0], cache=cache, data_dir=mnist_dir)
    assert "5421" in r.failures["oracle"][0] and "baseline" in r.summary()


def test_progress_events(cache, tiny_config, mnist_dir):
    events = []
    E.run_experiment(tiny_config, ["oversample", "vae"], [0], cache=cache, data_dir=mnist_dir, progress=events.append,
                     twins=False)
    jobs = {(e.job, e.status) for e in events}
    g = E.generator_job("vae")
    assert g == "generator:vae"
    assert {(g, "running"), (g, "done"), ("oversample", "running"), ("oversample", "done"),
            ("vae", "running"), ("vae", "done")} <= jobs
    last = [e for e in events if e.job == "oversample" and e.status == "running"][-1]
    assert last.done == last.total == tiny_config.steps


def test_bad_input_fails_before_training(cache, tiny_config, mnist_dir, count_training):
    for approaches, seeds, frag in ((["nope"], [0], "Unknown approach"), (["baseline"], [-1], "Seeds"),
                                    (["baseline"], [], "at least one seed"), ([], [0], "at least one"),
                                    (["gen=gan"], [0], "Unknown generator"), (["loss=hinge"], [0], "Unknown loss")):
        with pytest.raises(ConfigError, match=frag):
            E.run_experiment(tiny_config, approaches, seeds, cache=cache, data_dir=mnist_dir)
    with pytest.raises(ConfigError):
        E.run_experiment(tiny_config.replace(majority=6), ["baseline"], [0], cache=cache, data_dir=mnist_dir)
    assert count_training == {"clf": 0, "gen": 0}


def test_leaky_protocol_is_labelled(cache, mnist_dir):
    cfg = ExperimentConfig.blog(n_majority=200, n_minority=20, steps=10, batch_size=16, generator_steps=5, n_checkpoints=2)
    r = E.run_experiment(cfg, ["baseline", "vae"], [0], cache=cache, data_dir=mnist_dir)
    assert r.run("vae", 0).info["leaky"] and not r.run("baseline", 0).info["leaky"]
    assert r.leaky_approaches() == ["vae"]
    gen = E.load_generator(cfg, "vae", 0, cache=cache, data_dir=mnist_dir)
    assert gen.info["trained_on"] == "TEST split (LEAK)" and gen.info["leaky"] is True


def test_blog_and_blog_clean_share_everything_but_the_generator(cache, mnist_dir, count_training):
    kw = dict(n_majority=200, n_minority=20, steps=10, batch_size=16, generator_steps=5, n_checkpoints=2)
    leaky, fixed = ExperimentConfig.blog(**kw), ExperimentConfig.blog(leaky=False, **kw)
    a = E.run_experiment(leaky, ["baseline", "oversample", "vae"], [0], cache=cache, data_dir=mnist_dir)
    assert a.twins == {"vae": "oversample"}  # under blog the vae preset balances its batches
    assert a.recipes["vae"].recipe.batches == "balanced"
    assert count_training == {"clf": 3, "gen": 1}
    b = E.run_experiment(fixed, ["baseline", "oversample", "vae"], [0], cache=cache, data_dir=mnist_dir)
    assert count_training == {"clf": 4, "gen": 2} and b.cached == 2
    assert a.run("oversample", 0).metrics == b.run("oversample", 0).metrics
    assert a.run("vae", 0).info["leaky"] and not b.run("vae", 0).info["leaky"]


# ---- provenance and the cache key ------------------------------------------------------
def test_thread_count_and_code_fingerprint_enter_the_cache_key(cache, tiny_config, mnist_dir, count_training, monkeypatch):
    E.run_experiment(tiny_config, ["baseline"], [0], cache=cache, data_dir=mnist_dir)
    assert count_training["clf"] == 1
    real = T.current_identity()
    E.run_experiment(tiny_config, ["baseline"], [0], cache=cache, data_dir=mnist_dir,
                     executor=X.InProcess(threads=real.threads + 1))
    assert count_training["clf"] == 2
    monkeypatch.setattr(R, "current_identity", lambda: replace(real, device="elsewhere"))
    assert not E.all_cached(tiny_config, ["baseline"], [0], cache)
    monkeypatch.setattr(R, "current_identity", lambda: real)
    assert E.all_cached(tiny_config, ["baseline"], [0], cache)
    monkeypatch.setattr(P, "code_fingerprint", lambda: "changed-code")
    assert not E.all_cached(tiny_config, ["baseline"], [0], cache)
    E.run_experiment(tiny_config, ["baseline"], [0], cache=cache, data_dir=mnist_dir)
    assert count_training["clf"] == 3


def test_a_cached_record_lacking_a_field_is_recomputed(cache, tiny_config, mnist_dir, count_training):
    E.run_experiment(tiny_config, ["baseline"], [0], cache=cache, data_dir=mnist_dir)
    (path,) = cache.root.glob("classifier/*.npz")
    rec = cache.load("classifier", path.stem)
    del rec["meta"]["info"]["environment"]
    cache.save("classifier", path.stem, rec["meta"], rec["arrays"])
    with pytest.warns(CacheWarning, match="incomplete"):
        r = E.run_experiment(tiny_config, ["baseline"], [0], cache=cache, data_dir=mnist_dir)
    assert count_training["clf"] == 2 and r.cached == 0
    assert ENV_KEYS <= set(r.run("baseline", 0).info["environment"])
    assert "environment" in cache.load("classifier", path.stem)["meta"]["info"]
    assert not list((cache.root / ".locks").glob("*.lock"))


# ---- the validation split (tuned threshold) --------------------------------------------
def test_validation_split_is_stratified_disjoint_and_sized():
    y = np.r_[np.zeros(300, np.int64), np.ones(20, np.int64)]
    fit, val = validation_split(y, 0.2, seed=3)
    assert not set(fit) & set(val) and sorted(np.r_[fit, val]) == list(range(320))
    assert (y[val] == 1).sum() == 4 and (y[val] == 0).sum() == 60
    again = validation_split(y, 0.2, seed=3)
    assert all(np.array_equal(p, q) for p, q in zip((fit, val), again))
    assert not np.array_equal(val, validation_split(y, 0.2, seed=4)[1])
    assert (y[validation_split(y, 0.5, 0)[1]] == 1).sum() == 10
    with pytest.raises(ConfigError, match="no minority image"):
        validation_split(np.r_[np.zeros(10, np.int64), 1], 0.2, 0)


def test_tuned_recipe_fits_on_the_rest_and_its_generator_never_sees_validation(cache, tiny_config, mnist_dir, monkeypatch):
    seen = []
    real_fit = Generator.fit

    def fit(self, data, *a, **k):
        seen.append(np.array(data.minority))
        return real_fit(self, data, *a, **k)

    monkeypatch.setattr(Generator, "fit", fit)
    r = E.run_experiment(tiny_config, ["tuned", "gen=smote,decision=tuned"], [0], cache=cache, data_dir=mnist_dir)
    assert not r.failures
    t = r.run("tuned", 0)
    assert t.info["n_validation"] == 64 and t.info["n_validation_minority"] == 4
    assert t.info["n_train_majority"] == 240 and t.info["n_train_minority_real"] == 16
    assert t.val_curve is not None and t.val_curve.shape == (3,)
    data = make_experiment_data(tiny_config, 0, load_images(mnist_dir))
    fit_rows, val_rows = validation_split(data.train_y, tiny_config.validation_fraction, 0)
    val_minority = data.train_x[val_rows][data.train_y[val_rows] == 1]
    (gen_images,) = seen
    assert len(gen_images) == 16
    for img in val_minority:
        assert not (gen_images == img).all(axis=(1, 2)).any()
    # validation images come from MNIST train (the training draw), never from the test split
    mnist = load_images(mnist_dir)
    assert np.array_equal(data.train_x[val_rows], mnist.train_images[data.train_index[val_rows]])
    assert np.array_equal(data.test_x, mnist.test_images[data.test_index])
    # the tuned cut is the best balanced error on the validation split
    assert 0.0 < t.threshold_probability < 1.0 and t.info["threshold_logit"] == t.threshold


def test_test_labels_are_not_read_before_the_decision(cache, tiny_config, mnist_dir, monkeypatch):
    """Test labels are hidden behind a guard that records every read: within each
    (approach, seed), training, generator fitting and the decision come before any read."""
    from vaeimb.parts.decisions.base import Decision

    state = {"pending": False, "violations": [], "reads": 0}

    class Guard:
        def __init__(self, arr):
            self._arr = arr

        def _read(self):
            state["reads"] += 1
            if state["pending"]:
                state["violations"].append("read before the decision")
            return self._arr

        def __array__(self, dtype=None, copy=None):
            a = self._read()
            return a if dtype is None else a.astype(dtype)

        def __len__(self):
            return len(self._read())

        def __getitem__(self, i):
            return self._read()[i]

        def __iter__(self):
            return iter(self._read())

        def __getattr__(self, name):
            return getattr(self._read(), name)

    real_make = R.make_experiment_data

    def make(*a, **k):
        d = real_make(*a, **k)
        return replace(d, test_y=Guard(d.test_y))

    real_run, real_thr = R.Runner.run, Decision.threshold

    def run(self, *a, **k):
        state["pending"] = True  # from the start of each (approach, seed) until its decision is made
        return real_run(self, *a, **k)

    def thr(self, ctx):
        out = real_thr(self, ctx)
        state["pending"] = False
        return out

    monkeypatch.setattr(R, "make_experiment_data", make)
    monkeypatch.setattr(R.Runner, "run", run)
    monkeypatch.setattr(Decision, "threshold", thr)
    r = E.run_experiment(tiny_config, ["tuned", "threshold", "gen=smote,decision=tuned"], [0], cache=cache,
                         data_dir=mnist_dir)
    assert not r.failures and state["reads"] > 0 and state["violations"] == []


def test_a_validation_split_without_minority_is_refused_before_training(cache, mnist_dir, monkeypatch):
    cfg = ExperimentConfig(n_majority=50, n_minority=1, steps=3, batch_size=8, n_checkpoints=1)
    monkeypatch.setattr("vaeimb.parts.training.train_classifier", lambda *a, **k: pytest.fail("trained before refusing"))
    with pytest.raises(ConfigError, match="leaves no minority image.*validation_fraction"):
        E.run_experiment(cfg, ["baseline", "tuned"], [0], cache=cache, data_dir=mnist_dir)
