import numpy as np
import pytest

import vaeimb.experiment as E
from vaeimb.approaches.generative import VaeAugment
from vaeimb.cache import ResultCache
from vaeimb.config import ExperimentConfig
from vaeimb.errors import ConfigError


@pytest.fixture
def count_training(monkeypatch):
    """Count classifier and VAE trainings (still running the real ones)."""
    counts = {"clf": 0, "vae": 0}
    real_clf, real_vae = E.train_classifier, E.train_vae

    def clf(*a, **k):
        counts["clf"] += 1
        return real_clf(*a, **k)

    def vae(*a, **k):
        counts["vae"] += 1
        return real_vae(*a, **k)

    monkeypatch.setattr(E, "train_classifier", clf)
    monkeypatch.setattr(E, "train_vae", vae)
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
    assert result.run("vae", 0).info["n_generated"] == 280
    assert result.run("oracle", 0).info["n_train_minority_real"] == 300
    assert result.run("oversample", 0).info["balanced_batches"] is True
    s = result.summary()
    assert s["baseline"]["misclassified"].n == 2
    vals = [result.run("vae", k).metrics["balanced_accuracy"] for k in (0, 1)]
    assert s["vae"]["balanced_accuracy"].mean == pytest.approx(np.mean(vals))


def test_same_config_and_seed_give_identical_numbers(tmp_path, tiny_config, mnist_dir):
    a = E.run_experiment(tiny_config, seeds=[0], cache=ResultCache(tmp_path / "a"), data_dir=mnist_dir)
    b = E.run_experiment(tiny_config, seeds=[0], cache=ResultCache(tmp_path / "b"), data_dir=mnist_dir)
    for name in a.approaches:
        assert np.array_equal(a.run(name, 0).checkpoint_logits, b.run(name, 0).checkpoint_logits), name
        assert a.run(name, 0).metrics == b.run(name, 0).metrics
    c = E.run_experiment(tiny_config, ["baseline"], seeds=[1], cache=ResultCache(tmp_path / "a"), data_dir=mnist_dir)
    assert not np.array_equal(a.run("baseline", 0).logits, c.run("baseline", 1).logits)


def test_cache_hit_trains_nothing(tiny_run, tiny_config, mnist_dir, count_training):
    _, cache = tiny_run
    again = E.run_experiment(tiny_config, seeds=[0, 1], cache=cache, data_dir=mnist_dir)
    assert count_training == {"clf": 0, "vae": 0} and again.cached == 10
    assert again.run("vae", 1).metrics == tiny_run[0].run("vae", 1).metrics


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
    assert t.info["reused_model_of"] == "baseline"
    # moving the threshold down can only turn predictions towards the minority
    assert t.metrics["minority_recall"] >= b.metrics["minority_recall"]


def test_vae_is_trained_once_per_data_and_seed(cache, tiny_config, mnist_dir, count_training):
    E.run_experiment(tiny_config, ["vae"], [0], cache=cache, data_dir=mnist_dir)
    E.run_experiment(tiny_config.replace(steps=20), ["vae"], [0], cache=cache, data_dir=mnist_dir)
    art = E.load_vae(tiny_config, 0, cache=cache, data_dir=mnist_dir)
    assert count_training == {"clf": 2, "vae": 1}
    assert art.generated.shape == (280, 28, 28) and art.generated.dtype == np.uint8
    assert art.latent_mu.shape == (20, 20) and art.kl_per_dim.shape == (20,)
    assert art.info["trained_on"] == "train split"


def test_n_generate_hyper_parameter(cache, tiny_config, mnist_dir):
    cfg = tiny_config.replace(approach_params={"vae": {"n_generate": 50}})
    r = E.run_experiment(cfg, ["vae"], [0], cache=cache, data_dir=mnist_dir).run("vae", 0)
    assert r.info["n_generated"] == 50


def test_one_failing_approach_keeps_the_others(cache, tiny_config, mnist_dir, monkeypatch):
    def broken(self, *a, **k):
        raise RuntimeError("generator exploded")

    monkeypatch.setattr(VaeAugment, "training_set", broken)
    with pytest.warns(RuntimeWarning, match="generator exploded"):
        r = E.run_experiment(tiny_config, ["baseline", "vae", "oversample"], [0], cache=cache, data_dir=mnist_dir)
    assert "generator exploded" in r.failures["vae"][0]
    assert set(r.summary()) == {"baseline", "oversample"}
    assert not cache.exists("run", E.run_key(tiny_config, "vae", 0))


def test_abort_mid_run_keeps_finished_entries(cache, tiny_config, mnist_dir):
    class TabClosed(BaseException):  # what Streamlit raises in a stopped script
        pass

    def progress(event):
        if event.task == "oversample" and event.status == "running":
            raise TabClosed

    with pytest.raises(TabClosed):
        E.run_experiment(tiny_config, ["baseline", "oversample"], [0], cache=cache, data_dir=mnist_dir, progress=progress)
    assert cache.exists("run", E.run_key(tiny_config, "baseline", 0))
    assert not cache.exists("run", E.run_key(tiny_config, "oversample", 0))
    assert not list(cache.root.glob("run/*.tmp"))
    r = E.run_experiment(tiny_config, ["baseline", "oversample"], [0], cache=cache, data_dir=mnist_dir)
    assert r.cached == 1 and not r.failures


def test_unavailable_oracle_is_reported_not_crashed(cache, mnist_dir):
    cfg = ExperimentConfig(majority=1, minority=5, n_majority=5500, n_minority=20, steps=5, n_checkpoints=1)
    r = E.run_experiment(cfg, ["baseline", "oracle"], [0], cache=cache, data_dir=mnist_dir)
    assert "5421" in r.failures["oracle"][0] and "baseline" in r.summary()


def test_progress_events(cache, tiny_config, mnist_dir):
    events = []
    E.run_experiment(tiny_config, ["oversample", "vae"], [0], cache=cache, data_dir=mnist_dir, progress=events.append)
    tasks = {(e.task, e.status) for e in events}
    assert {("vae-model", "running"), ("vae-model", "done"), ("oversample", "running"), ("oversample", "done"),
            ("vae", "running"), ("vae", "done")} <= tasks
    last = [e for e in events if e.task == "oversample" and e.status == "running"][-1]
    assert last.done == last.total == tiny_config.steps


def test_bad_input_fails_before_training(cache, tiny_config, mnist_dir, count_training):
    for approaches, seeds, frag in ((["smote"], [0], "Unknown approach"), (["baseline"], [-1], "Seeds"),
                                    (["baseline"], [], "at least one seed"), ([], [0], "at least one")):
        with pytest.raises(ConfigError, match=frag):
            E.run_experiment(tiny_config, approaches, seeds, cache=cache, data_dir=mnist_dir)
    with pytest.raises(ConfigError):
        E.run_experiment(tiny_config.replace(majority=6), ["baseline"], [0], cache=cache, data_dir=mnist_dir)
    assert count_training == {"clf": 0, "vae": 0}


def test_leaky_protocol_is_labelled(cache, mnist_dir):
    cfg = ExperimentConfig.blog(n_majority=200, n_minority=20, steps=10, batch_size=16, vae_steps=5, n_checkpoints=2)
    r = E.run_experiment(cfg, ["baseline", "vae"], [0], cache=cache, data_dir=mnist_dir)
    assert r.run("vae", 0).info["leaky"] and not r.run("baseline", 0).info["leaky"]
    assert E.load_vae(cfg, 0, cache=cache, data_dir=mnist_dir).info["trained_on"] == "test split (LEAK)"


def test_blog_twins_share_everything_but_the_vae(cache, mnist_dir, count_training):
    kw = dict(n_majority=200, n_minority=20, steps=10, batch_size=16, vae_steps=5, n_checkpoints=2)
    leaky, twin = ExperimentConfig.blog(**kw), ExperimentConfig.blog(leaky=False, **kw)
    a = E.run_experiment(leaky, ["baseline", "oversample", "vae"], [0], cache=cache, data_dir=mnist_dir)
    b = E.run_experiment(twin, ["baseline", "oversample", "vae"], [0], cache=cache, data_dir=mnist_dir)
    assert count_training == {"clf": 4, "vae": 2} and b.cached == 2
    assert a.run("oversample", 0).metrics == b.run("oversample", 0).metrics
    assert E.run_key(leaky, "vae", 0) != E.run_key(twin, "vae", 0)
    assert E.run_key(leaky, "baseline", 0) != E.run_key(ExperimentConfig(**kw), "baseline", 0)
