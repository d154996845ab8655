"""Protocol records: what each protocol decides, in one place."""

import dataclasses

import pytest

from vaeimb.declarations import schema
from vaeimb.declarations.config import ExperimentConfig
from vaeimb.declarations.errors import ConfigError
from vaeimb.declarations.protocols import BLOG, BLOG_BUDGET, PROTOCOLS
from vaeimb.running.recipes import build_approach


def test_the_three_protocols():
    assert list(PROTOCOLS) == ["clean", "blog", "blog-clean", "deepsmote"]
    assert PROTOCOLS["deepsmote"].tasks == ("longtail",) and "longtail" in PROTOCOLS["clean"].tasks
    assert PROTOCOLS["blog"].tasks == PROTOCOLS["blog-clean"].tasks == ("pair",)
    clean, blog, fixed = PROTOCOLS["clean"], PROTOCOLS["blog"], PROTOCOLS["blog-clean"]
    assert (clean.draw, clean.generator_images, clean.output_logits) == ("seeded", "train", 2)
    assert (blog.draw, blog.generator_images, blog.output_logits) == ("file-order", "test", 1)
    assert (fixed.draw, fixed.generator_images, fixed.output_logits) == ("file-order", "train", 1)
    assert blog.leaky and not clean.leaky and not fixed.leaky and "LEAKY" in blog.description
    assert clean.family == "clean" and blog.family == fixed.family == "blog"
    assert dict(blog.budget) == dict(fixed.budget) == BLOG_BUDGET and dict(clean.budget) == {}  # clean: the defaults


def test_blog_clean_is_blog_but_for_the_generators_images():
    fixed = PROTOCOLS["blog-clean"]
    assert dataclasses.replace(fixed, name="blog", description=BLOG.description, label=BLOG.label,
                               generator_images="test") == BLOG


def test_blog_budget_is_the_original_codes():
    assert (BLOG_BUDGET["steps"], BLOG_BUDGET["batch_size"], BLOG_BUDGET["generator_steps"],
            BLOG_BUDGET["generator_batch_size"], BLOG_BUDGET["lr"]) == (1000, 128, 1000, 100, 1e-3)


def test_a_protocols_whole_budget_comes_from_the_schema():
    budget_settings = [s.name for s in schema.SETTINGS if s.budget]
    for name in PROTOCOLS:
        assert list(schema.budget(name)) == budget_settings
    assert schema.budget("clean") == {s: schema.get(s).default for s in budget_settings}
    assert schema.budget("blog") == schema.budget("blog-clean") == BLOG_BUDGET
    assert schema.get("steps").protocol_values() == {"blog": 1000, "blog-clean": 1000, "deepsmote": 2000}
    assert schema.get("steps").describe_default() == "500; blog, blog-clean: 1000; deepsmote: 2000"


def test_a_protocol_budget_naming_anything_but_a_budget_setting_is_refused(monkeypatch):
    for stray, says in (({"n_majority": 10}, "not a budget setting"), ({"vae_steps": 10}, "not a budget setting"),
                        ({"steps": 0}, r"protocol odd: steps must be int in \[1, 200000\]")):
        odd = dataclasses.replace(BLOG, name="odd", budget=stray)
        monkeypatch.setitem(PROTOCOLS, "odd", odd)
        with pytest.raises(ConfigError, match=says):
            schema.budget("odd")


def test_blog_protocols_train_the_vae_full_batch_in_order():
    """The original trains its VAE on the full batch of 100 minority images, in order ("cycle")."""
    assert PROTOCOLS["blog"].generator_batching == PROTOCOLS["blog-clean"].generator_batching == "cycle"
    assert PROTOCOLS["clean"].generator_batching == "random"
    assert ExperimentConfig.blog().generator_budget_dict()["batching"] == "cycle"
    assert ExperimentConfig.blog(leaky=False).generator_budget_dict()["batching"] == "cycle"
    assert ExperimentConfig().generator_budget_dict()["batching"] == "random"
    # with the blog budget one VAE batch (100) holds every minority image (100): a full batch
    assert ExperimentConfig.blog().generator_batch_size == ExperimentConfig.blog().n_minority


def test_generated_batches_follow_the_protocol():
    assert PROTOCOLS["blog"].generated_batches == "balanced" and PROTOCOLS["clean"].generated_batches == "random"
    for name, batches in (("clean", "random"), ("blog", "balanced"), ("blog-clean", "balanced")):
        a = build_approach("vae", name)
        assert a.recipe.batches == batches and f"{batches} batches" in a.description
        # presets that do not add generated images are the same under every protocol
        assert build_approach("baseline", name).recipe.batches == "random"
        assert build_approach("oversample", name).recipe.batches == "balanced"


def test_cycle_batching_walks_the_images_in_order():
    import torch

    from vaeimb.parts.generators.base import batch_indices

    g = torch.Generator().manual_seed(0)
    assert batch_indices(0, 100, 100, "cycle", g).tolist() == list(range(100))
    assert batch_indices(1, 100, 100, "cycle", g).tolist() == list(range(100))
    assert batch_indices(1, 10, 4, "cycle", g).tolist() == [4, 5, 6, 7]
    assert batch_indices(2, 10, 4, "cycle", g).tolist() == [8, 9, 0, 1]
