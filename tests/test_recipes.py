"""Recipes, presets, twins and parameter overrides: pure, no training."""

import pytest

from vaeimb.declarations.config import ExperimentConfig
from vaeimb.declarations.errors import ConfigError
from vaeimb.running.recipes import (
    CLASSIC,
    PRESETS,
    RECIPE_KEYS,
    Recipe,
    build_approach,
    build_approaches,
    parse_param_overrides,
    parse_recipe,
    twin_of,
)

ALL_PRESETS = ("baseline", "threshold", "oversample", "vae", "oracle", "augment", "augment-posthoc", "la-loss",
               "la-augment", "focal", "ldam-drw", "tuned", "smote", "latent-smote", "cvae", "vae-augment-posthoc",
               "cvae-augment-posthoc", "drw", "drs", "crt", "elastic-posthoc",
               "augment-mixup", "augment-remix", "remix-drw", "oracle-augment",
               "cvae-remix", "cvae-plus-remix", "cvae-plus-artefact", "cvae-plus-crt", "deepsmote-remix")


def test_presets_and_classic():
    assert tuple(n for n, p in PRESETS.items() if not p.searched_file) == ALL_PRESETS  # searched ones follow
    assert CLASSIC == ("baseline", "threshold", "oversample", "vae", "oracle")
    for name in PRESETS:  # every preset resolves to known parts under every protocol
        for protocol in ("clean", "blog", "blog-clean"):
            a = build_approach(name, protocol)
            assert a.name == name and a.description and a.recipe.text()


def test_text_round_trip_short_and_twin():
    r = parse_recipe("gen=cvae,batches=balanced,aug=affine,loss=la,decision=posthoc")
    assert r == Recipe(gen="cvae", batches="balanced", aug="affine", loss="la", decision="posthoc")
    assert r.text() == "data=real,gen=cvae,batches=balanced,aug=affine,mix=none,loss=la,decision=posthoc"
    assert parse_recipe(r.text()) == r
    assert [item.split("=")[0] for item in r.text().split(",")] == list(RECIPE_KEYS)
    assert r.short() == "gen=cvae,batches=balanced,aug=affine,loss=la,decision=posthoc"
    assert Recipe().short() == "data=real" and parse_recipe("gen=none") == Recipe()
    assert r.twin() == Recipe(batches="balanced", aug="affine", loss="la", decision="posthoc")
    assert parse_recipe(" loss = focal , ") == Recipe(loss="focal")


@pytest.mark.parametrize("text, fragment", [
    ("", "Empty recipe"),
    ("gen", "not key=value"),
    ("gen=", "not key=value"),
    ("colour=red", "Unknown recipe key 'colour'"),
    ("loss=ce,loss=la", "given twice"),
    ("data=fake", "data must be one of real, oracle"),
    ("data=oracle,gen=vae", "drop gen="),
])
def test_unparsable_recipes_are_refused_with_one_line(text, fragment):
    with pytest.raises(ConfigError, match=fragment) as e:
        parse_recipe(text)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("spec, fragment", [
    ("gen=gan", "Unknown generator 'gan'; choose from vae"),
    ("loss=hinge", "Unknown loss 'hinge'"),
    ("batches=sorted", "Unknown batch policy 'sorted'"),
    ("aug=mixup", "Unknown augmentation 'mixup'"),  # mixup is a mixing, not an augmentation
    ("mix=cutmix", "Unknown mixing 'cutmix'; choose from none, mixup, remix"),
    ("decision=oracle", "Unknown decision 'oracle'"),
    ("nope", "Unknown approach 'nope'"),
])
def test_unknown_parts_name_the_known_ones(spec, fragment):
    with pytest.raises(ConfigError, match=fragment):
        build_approach(spec)


def test_custom_recipe_is_named_by_its_short_form():
    a = build_approach("batches=balanced,loss=focal")
    assert a.name == "batches=balanced,loss=focal" and a.recipe == Recipe(batches="balanced", loss="focal")
    assert a.values["loss"] == {"gamma": 2.0, "alpha": 0.25}


def test_same_recipe_same_key_different_part_different_key():
    over, same = build_approach("oversample"), build_approach("batches=balanced")
    assert over.name != same.name and over.key() == same.key()
    assert build_approach("batches=balanced,loss=focal").key() != over.key()
    # threshold and baseline differ only in the decision: one trained model
    t, b = build_approach("threshold"), build_approach("baseline")
    assert t.key() != b.key() and t.key(training=True) == b.key(training=True)
    assert build_approach("threshold", overrides={"decision.tau": 0.5}).key() != t.key()


def test_vae_preset_batches_follow_the_protocol():
    clean, blog, fixed = (build_approach("vae", p) for p in ("clean", "blog", "blog-clean"))
    assert clean.recipe.batches == "random" and "random batches" in clean.description
    assert blog.recipe.batches == "balanced" and "balanced batches" in blog.description
    assert fixed.recipe.batches == "balanced"
    assert blog.leaky(blog_protocol()) and not fixed.leaky(fixed_protocol())
    assert not build_approach("oversample", "blog").leaky(blog_protocol())


def blog_protocol():
    from vaeimb.declarations.protocols import PROTOCOLS

    return PROTOCOLS["blog"]


def fixed_protocol():
    from vaeimb.declarations.protocols import PROTOCOLS

    return PROTOCOLS["blog-clean"]


def test_twins_are_the_generator_free_presets():
    assert twin_of(build_approach("vae", "clean"), "clean").name == "baseline"
    assert twin_of(build_approach("vae", "blog"), "blog").name == "oversample"
    assert twin_of(build_approach("smote"), "clean").name == "baseline"
    assert twin_of(build_approach("cvae-augment-posthoc")).name == "augment-posthoc"
    custom = twin_of(build_approach("gen=vae,loss=focal"))
    assert custom.name == "focal"
    odd = twin_of(build_approach("gen=vae,loss=focal", overrides={"loss.gamma": 1.0}))
    assert odd.name == "gen=vae,loss=focal w/o generator" and odd.recipe == Recipe(loss="focal")
    assert odd.values["loss"]["gamma"] == 1.0 and "gen" not in odd.values and odd.values["data"] == {}


def test_overrides_checked_by_the_parts_declaration():
    a = build_approach("threshold", overrides={"tau": 0.5})  # unambiguous: no part prefix needed
    assert a.values["decision"]["tau"] == 0.5
    assert build_approach("vae", overrides={"data.n_generate": 10}).values["data"]["n_generate"] == 10
    with pytest.raises(ConfigError, match=r"tau must be float in \[0, 5\]"):
        build_approach("threshold", overrides={"decision.tau": 9})
    with pytest.raises(ConfigError, match="unknown parameter"):
        build_approach("threshold", overrides={"decision.tua": 1})
    with pytest.raises(ConfigError, match="no part 'gen'"):
        build_approach("baseline", overrides={"gen.k_neighbors": 3})
    with pytest.raises(ConfigError, match="declared by no part"):
        build_approach("baseline", overrides={"gamma": 3})


def test_build_approaches_dedupes_and_refuses_params_for_approaches_not_run():
    cfg = ExperimentConfig(approach_params={"threshold": {"decision.tau": 0.5}})
    out = build_approaches(["threshold", "baseline", "threshold"], cfg)
    assert [a.name for a in out] == ["threshold", "baseline"] and out[0].values["decision"]["tau"] == 0.5
    with pytest.raises(ConfigError, match="not run"):
        build_approaches(["baseline"], cfg)
    with pytest.raises(ConfigError, match="at least one approach"):
        build_approaches([], ExperimentConfig())


def test_parse_param_overrides():
    got = parse_param_overrides(["threshold.tau=0.5", "vae.data.n_generate=1000", "smote.gen.k_neighbors=3"],
                                ["threshold", "vae", "smote"])
    assert got == {"threshold": {"decision.tau": 0.5}, "vae": {"data.n_generate": 1000},
                   "smote": {"gen.k_neighbors": 3}}
    assert parse_param_overrides(["loss=focal.loss.gamma=1"], ["loss=focal"]) == {"loss=focal": {"loss.gamma": 1.0}}
    assert parse_param_overrides(["vae.n_generate=none"], ["vae"]) == {"vae": {"data.n_generate": None}}
    for items, fragment in ((["threshold.tau"], "not APPROACH.PARAM=VALUE"),
                            (["oracle.tau=1"], "one of this run's"),
                            (["threshold.tau=abc"], "tau must be float"),
                            (["threshold.tau=7"], "tau must be float"),
                            (["threshold.nope=1"], "declared by no part")):
        with pytest.raises(ConfigError, match=fragment):
            parse_param_overrides(items, ["threshold", "vae"])


def test_data_sources_answer_the_runners_questions():
    """Each recipe names its source by registry; the source says what it is, not the runner."""
    from vaeimb.declarations.config import ExperimentConfig
    from vaeimb.parts.sources import SOURCES

    assert {build_approach(n).recipe.source for n in ("baseline", "vae", "oracle")} == set(SOURCES)
    oracle, vae = build_approach("oracle").part("data"), build_approach("vae").part("data")
    assert build_approach("oracle").is_bound and not build_approach("vae").is_bound
    assert vae.uses_generator and not oracle.uses_generator
    assert vae.n_generate((5000, 100)) == {1: 4900}
    assert build_approach("vae", overrides={"data.n_generate": 1000}).part("data").n_generate((5000, 100)) == {1: 1000}
    # K classes: every minority class filled up to the head (or to a share of it)
    assert vae.n_generate((400, 200, 40)) == {1: 200, 2: 360}
    assert build_approach("vae", overrides={"data.fill_to": 0.5}).part("data").n_generate((400, 200, 40)) == {1: 0, 2: 160}
    assert oracle.unavailable(ExperimentConfig()) is None
    too_many = ExperimentConfig(majority=1, minority=5, n_majority=6000, n_minority=100)
    assert "MNIST train holds 5421" in oracle.unavailable(too_many)
    assert build_approach("oversample").part("batches").balances and not build_approach("baseline").part("batches").balances



def test_a_preset_sets_its_part_parameters_and_param_overrides_them():
    from vaeimb.running.recipes import build_approach

    drw = build_approach("drw")
    assert drw.recipe.loss == "weighted" and drw.values["loss"]["switch"] == 0.8
    assert build_approach("drw", overrides={"switch": 0.5}).values["loss"]["switch"] == 0.5
    assert build_approach("loss=weighted").values["loss"]["switch"] is None  # the part's own default
    assert drw.key(training=True) != build_approach("loss=weighted").key(training=True)
    assert build_approach("drs").values["batches"] == {"switch": 0.8, "stage2": "all"}
    assert build_approach("crt").values["batches"] == {"switch": 0.8, "stage2": "head"}
    assert build_approach("oracle-augment").is_bound and build_approach("oracle").is_bound
    assert build_approach("elastic-posthoc").values["aug"]["classes"] == "all"


def test_the_mixing_presets_and_the_mix_key():
    from vaeimb.parts.mixing import Mixup, NoMixing, Remix

    mixup, remix, remix_drw = (build_approach(n) for n in ("augment-mixup", "augment-remix", "remix-drw"))
    assert mixup.recipe == Recipe(batches="balanced", aug="affine", mix="mixup")
    assert remix.recipe == Recipe(batches="balanced", aug="affine", mix="remix")
    assert remix_drw.recipe == Recipe(mix="remix", loss="weighted") and remix_drw.values["loss"]["switch"] == 0.8
    assert type(mixup.part("mix")) is Mixup and mixup.values["mix"] == {"alpha": 1.0}
    assert type(remix.part("mix")) is Remix and remix.values["mix"] == {"alpha": 1.0, "kappa": 3.0, "tau": 0.5}
    assert type(build_approach("augment").part("mix")) is NoMixing and build_approach("augment").values["mix"] == {}
    assert "mixup mixing" in mixup.description and "mixing" not in build_approach("augment").description
    # the mixing enters the trained model's key: augment and augment-mixup never share a classifier
    assert mixup.key(training=True) != build_approach("augment").key(training=True)
    assert mixup.key(training=True)["mix"] == ["mixup", {"alpha": 1.0}]
    assert build_approach("augment-mixup", overrides={"alpha": 0.2}).key() != mixup.key()
    assert parse_recipe("mix=remix,loss=weighted").short() == "mix=remix,loss=weighted"
    assert parse_param_overrides(["augment-remix.kappa=10"], ["augment-remix"]) == {"augment-remix": {"mix.kappa": 10.0}}
    with pytest.raises(ConfigError, match="alpha must be above 0"):  # in the declared range, but no Beta
        build_approach("mix=mixup", overrides={"mix.alpha": 0}).part("mix")
