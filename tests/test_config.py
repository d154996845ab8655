import math
from pathlib import Path

import pytest

from vaeimb.declarations.config import (
    ExperimentConfig,
    n_minority_from_ratio,
    stable_hash,
)
from vaeimb.declarations.errors import ConfigError


def test_defaults_are_the_reference_setup():
    c = ExperimentConfig().validate()
    assert (c.majority, c.minority, c.n_majority, c.n_minority) == (0, 6, 5000, 100)
    assert c.is_reference and not c.leaky and c.protocol == "clean"
    assert c.output_logits == 2


def test_blog_config_is_the_original_budget_and_labelled_leaky():
    c = ExperimentConfig.blog().validate()
    assert (c.steps, c.batch_size, c.generator_steps, c.generator_batch_size, c.latent_dim) == (1000, 128, 1000, 100, 20)
    assert c.leaky and c.output_logits == 1 and "LEAKY" in c.label()
    twin = ExperimentConfig.blog(leaky=False)
    assert not twin.leaky and twin.protocol == "blog-clean" and "LEAKY" not in twin.label()


@pytest.mark.parametrize(
    "changes, fragment",
    [
        (dict(majority=3, minority=3), "two different digits"),
        (dict(majority=10), r"majority must be int in \[0, 9\], got 10"),
        (dict(minority=-1), r"minority must be int in \[0, 9\]"),
        (dict(n_majority=0), "from 1 to 5923"),
        (dict(n_minority=0), "from 1 to 5918"),
        (dict(majority=1, minority=5, n_majority=6000, n_minority=5422), "from 1 to 5421"),
        (dict(n_majority=6000), "from 1 to 5923"),
        (dict(n_minority=200, n_majority=100), "must not exceed n_majority"),
        (dict(protocol="nope"), r"protocol must be clean \| blog \| blog-clean \| deepsmote, got 'nope'"),
        (dict(classifier="svm"), r"classifier must be mlp \| cnn \| resnet18, got 'svm'"),
        (dict(steps=0), r"steps must be int in \[1, 200000\], got 0"),
        (dict(steps=5.0), r"steps must be int in \[1, 200000\], got 5.0"),
        (dict(generator_batch_size=0), r"generator_batch_size must be int in \[1, 4096\]"),
        (dict(lr=0.0), r"lr must be float in \[1e-06, 1\], got 0.0"),
        (dict(n_majority=300.0), r"n_majority must be int in \[1, 1000000\], got 300.0"),
        (dict(protocol="blog", n_majority=2000, n_minority=1000), "only 958"),
    ],
)
def test_bad_input_is_refused_with_what_is_allowed(changes, fragment):
    with pytest.raises(ConfigError, match=fragment):
        ExperimentConfig(**changes).validate()


def test_largest_allowed_counts_pass():
    ExperimentConfig(majority=1, minority=5, n_majority=6742, n_minority=5421).validate()


def test_ratio_to_count():
    assert n_minority_from_ratio(5000, 0.02) == 100
    assert n_minority_from_ratio(5000, 0.002) == 10
    assert n_minority_from_ratio(100, 0.001) == 1
    for bad in (0, -0.1, 1.5, math.nan):
        with pytest.raises(ConfigError):
            n_minority_from_ratio(5000, bad)


def test_hash_is_stable_and_sensitive():
    a, b = ExperimentConfig(), ExperimentConfig()
    assert stable_hash(a.to_dict()) == stable_hash(b.to_dict())
    assert stable_hash(a.to_dict()) != stable_hash(a.replace(steps=501).to_dict())
    assert ExperimentConfig.from_dict(a.to_dict()) == a


def test_from_dict_reads_the_old_generator_budget_names():
    """Saved configs (the shipped reference results, atlases) say vae_steps, vae_batch_size, vae_lr."""
    old = {"vae_steps": 7, "vae_batch_size": 5, "vae_lr": 0.01, "steps": 3}
    c = ExperimentConfig.from_dict(old)
    assert (c.generator_steps, c.generator_batch_size, c.generator_lr, c.steps) == (7, 5, 0.01, 3)
    assert ExperimentConfig.from_dict({"vae_steps": 7, "generator_steps": 7}).generator_steps == 7
    with pytest.raises(ConfigError, match="vae_steps"):
        ExperimentConfig.from_dict({"vae_steps": 7, "generator_steps": 8})


def test_the_shipped_results_load_as_configs():
    import json

    from vaeimb.presentation.reference import load_reference
    from vaeimb.studies.atlas import SHIPPED_DIR, base_config, load_atlas

    for entry in load_reference()["classifiers"].values():
        assert ExperimentConfig.from_dict(entry["config"]).validate().generator_steps == 400
    assert base_config(load_atlas(SHIPPED_DIR)).generator_steps == 400  # the reference budget
    # results written before the rename (vae_steps, ...) still load
    tiny = Path(__file__).parent / "data" / "atlas_tiny"
    assert "vae_steps" in json.loads((tiny / "atlas.json").read_text())["budget"]
    assert base_config(load_atlas(tiny)).generator_steps == 20
    old = {**ExperimentConfig().to_dict(), "vae_steps": 123}
    del old["generator_steps"]
    assert ExperimentConfig.from_dict(old).generator_steps == 123


def test_from_dict_refuses_unknown_fields_and_round_trips_approach_params():
    c = ExperimentConfig(approach_params={"threshold": {"decision.tau": 0.5}})
    assert ExperimentConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ConfigError, match="Unknown config field"):
        ExperimentConfig.from_dict({"stepz": 3})
    with pytest.raises(ConfigError, match="approach_params"):
        ExperimentConfig(approach_params={"threshold": 0.5}).validate()
    # parameters are part of the identity (cache keys)
    assert stable_hash(c.to_dict()) != stable_hash(ExperimentConfig().to_dict())


def test_for_protocol_starts_from_that_protocols_budget():
    from vaeimb.declarations.protocols import PROTOCOLS

    for name, p in PROTOCOLS.items():
        c = ExperimentConfig.for_protocol(name).validate()
        assert c.protocol == name and c.protocol_record is p and c.task == p.tasks[0]
        assert {k: getattr(c, k) for k in p.budget} == dict(p.budget)
    assert ExperimentConfig.for_protocol("blog", steps=7).steps == 7
    assert ExperimentConfig.blog() == ExperimentConfig.for_protocol("blog")
    assert ExperimentConfig.blog(leaky=False) == ExperimentConfig.for_protocol("blog-clean")
    with pytest.raises(ConfigError, match="Unknown protocol"):
        ExperimentConfig.for_protocol("leaky")


def test_generator_dicts_hold_the_leak_and_the_batching():
    clean, blog, fixed = ExperimentConfig(), ExperimentConfig.blog(), ExperimentConfig.blog(leaky=False)
    assert clean.generator_budget_dict()["batching"] == "random"
    assert blog.generator_budget_dict()["batching"] == "cycle" == fixed.generator_budget_dict()["batching"]
    # blog and blog-clean differ only where the generator's images come from
    assert blog.data_dict() == fixed.data_dict()
    assert blog.generator_data_dict() != fixed.generator_data_dict()
    assert blog.generator_data_dict()["generator_images"] == "test"
    assert clean.data_dict() != blog.data_dict()  # seeded draw vs file order, 2 vs 1 logit


@pytest.mark.parametrize("bad", [0, 1, -0.1, 1.5, 0.001, True, "0.2"])
def test_validation_fraction_must_lie_strictly_between_0_and_1(bad):
    assert ExperimentConfig().validation_fraction == 0.2
    with pytest.raises(ConfigError, match="validation_fraction"):
        ExperimentConfig(validation_fraction=bad).validate()
