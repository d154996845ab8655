"""AppTest of what the recipes add to the app: the verdict, custom recipes and approach
parameters in the sidebar, bad input as st.error, and the Latent page's generator selector."""

from __future__ import annotations

import pytest
from app_session import open_app, point_app
from streamlit.testing.v1 import AppTest

TINY = {
    "cfg_n_majority": 300, "cfg_n_minority": 20, "cfg_steps": 30, "cfg_batch_size": 32,
    "cfg_generator_steps": 20, "cfg_generator_batch_size": 16, "cfg_n_checkpoints": 3, "cfg_latent_dim": 4, "cfg_n_seeds": 2,
}


@pytest.fixture
def app(monkeypatch, tmp_path, mnist_dir):
    point_app(monkeypatch, tmp_path / "cache", mnist_dir)  # trains in this process (monkeypatches reach it); see below
    return open_app(TINY, timeout=300)


def _run(at: AppTest) -> AppTest:
    at.run()
    next(b for b in at.button if b.label == "Run").click().run()
    assert not at.exception, at.exception
    return at


def test_custom_recipe_and_parameter_run_beside_the_presets_with_a_verdict(app):
    app.session_state["cfg_approaches"] = ["baseline", "threshold", "oracle"]
    app.session_state["cfg_recipes"] = "gen=smote,batches=balanced,decision=posthoc"
    app.session_state["cfg_params"] = "threshold.tau=0.5"
    at = _run(app)
    table = at.table[0].value
    names = list(table["approach"])
    assert "gen=smote,batches=balanced,decision=posthoc" in names
    assert len(names) == 5  # threshold, baseline, oracle, the recipe and its generator-free twin
    twin = next(n for n in names if n.endswith("w/o generator"))
    assert twin.startswith("gen=smote")
    thresholds = dict(zip(table["approach"], table["Threshold (minority prob.)"]))
    p = 20 / 320  # n_min / (n_min + n_maj) with tau = 1; tau = 0.5 moves it halfway in log-odds
    import math

    assert float(thresholds["threshold"]) == pytest.approx(1 / (1 + math.exp(-0.5 * math.log(20 / 300))), abs=1e-4)
    assert float(thresholds["gen=smote,batches=balanced,decision=posthoc"]) == pytest.approx(p, abs=1e-4)
    verdict = at.success[0].value if at.success else at.info[0].value
    assert "Best" in verdict and "oracle" not in verdict.split(",")[0]
    assert any("Generator's own contribution" in m.value for m in at.markdown)


@pytest.mark.parametrize("field, value, expected", [
    ("cfg_recipes", "gen=nope", "Unknown generator 'nope'"),
    ("cfg_recipes", "loss", "not key=value"),
    ("cfg_params", "threshold.tau=99", "tau must be float in [0, 5]"),
])
def test_bad_recipe_or_parameter_is_an_st_error(app, field, value, expected):
    app.session_state[field] = value
    app.run()
    assert not app.exception
    assert any(expected in e.value for e in app.error), [e.value for e in app.error]


def test_a_failing_recipe_is_an_st_error_and_the_others_keep_their_results(app):
    app.session_state["cfg_approaches"] = ["baseline"]
    app.session_state["cfg_recipes"] = "gen=smote"
    app.session_state["cfg_params"] = "gen=smote.gen.k_neighbors=40"
    at = _run(app)
    assert any("k_neighbors=40 needs at least 41 minority images" in e.value for e in at.error), [e.value for e in at.error]
    assert "baseline" in list(at.table[0].value["approach"])


def test_latent_page_offers_every_latent_generator_and_explores_the_chosen_one(app):
    app.session_state["cfg_approaches"] = ["cvae"]
    app.run()
    at = app.switch_page("pages/2_latent_space.py")
    at.session_state["latent_in_browser"] = False  # server-side sliders: visible to AppTest
    at.run()
    assert not at.exception, at.exception
    sel = at.selectbox(key="latent_generator")
    assert sel.options[0] == "cvae" and set(sel.options) == {"vae", "cvae", "latent-smote", "deepsmote"}
    next(b for b in at.button if b.label == "Train the cvae generator").click().run()
    assert not at.exception, at.exception
    sliders = [s for s in at.slider if s.key.startswith("z_")]
    assert len(sliders) == TINY["cfg_latent_dim"]
    sel.set_value("latent-smote").run()
    next(b for b in at.button if b.label == "Train the latent-smote generator").click().run()
    assert not at.exception, at.exception
    labels = [s.label for s in at.slider if s.key.startswith("z_")]
    assert labels and all("(sd " in label for label in labels)  # a deterministic AE: spread, not KL


def test_the_sidebar_recipe_help_names_every_registered_part():
    from vaeimb.parts.augmentations import AUGMENTATIONS
    from vaeimb.parts.batches import BATCHES
    from vaeimb.parts.decisions import DECISIONS
    from vaeimb.parts.generators import GENERATORS
    from vaeimb.parts.losses import LOSSES
    from vaeimb.parts.mixing import MIXINGS
    from vaeimb.running.recipes import RECIPE_KEYS
    from vaeimb_app.settings import RECIPE_HELP

    families = (("Generators", GENERATORS), ("batches", BATCHES), ("aug", AUGMENTATIONS), ("mix", MIXINGS),
                ("loss", LOSSES), ("decision", DECISIONS))
    assert [label for label, _ in families[1:]] == list(RECIPE_KEYS[2:])  # every family but data and gen
    for label, table in families:
        listed = RECIPE_HELP.split(f"{label}: ")[1].split(";")[0].rstrip(".").split(", ")
        assert listed == list(table), label


def test_the_about_page_names_every_recipe_family_and_the_mixing_presets(app):
    from vaeimb.parts.mixing import MIXINGS
    from vaeimb.running.recipes import PRESETS, RECIPE_KEYS

    app.run()
    app.switch_page("pages/4_about.py").run()
    assert not app.exception, app.exception
    n_parts = len(RECIPE_KEYS) - 1  # the generator is part of the data
    header = next(h.value for h in app.header if h.value.startswith("The approaches: recipes of"))
    assert header == f"The approaches: recipes of {['five', 'six', 'seven'][n_parts - 5]} parts"
    text = "\n".join(m.value for m in app.markdown)
    for family in ("*data*", "*batches*", "*augmentation*", "*mixing*", "*loss*", "*decision*"):
        assert family in text, family
    for name in ("mixup", "remix"):  # each mixing with its citation (author and year)
        cite = MIXINGS[name].cite
        year = next(w for w in cite.split() if w.isdigit() and len(w) == 4)
        assert f"{cite.split(',')[0]} {year}" in text, cite
    table = next(t.value for t in app.table if "approach" in t.value.columns)
    rows = dict(zip(table["approach"], table["recipe (clean protocol)"]))
    assert list(rows) == list(PRESETS)
    assert rows["augment-mixup"] == "batches=balanced,aug=affine,mix=mixup"
    assert rows["augment-remix"] == "batches=balanced,aug=affine,mix=remix"
    assert rows["remix-drw"] == "mix=remix,loss=weighted"


def test_the_app_lists_the_searched_presets_and_says_how_each_was_chosen(app):
    from vaeimb.running.recipes import PRESETS

    searched = [n for n, p in PRESETS.items() if p.searched_file]
    assert searched, "the shipped searched presets (vaeimb/shipped/searched/*.json) are presets"
    app.run()
    assert not app.exception, app.exception
    picker = next(m for m in app.multiselect if m.label == "Approaches")
    assert all(n in picker.options for n in searched)
    for name in searched:
        line = next(l for l in picker.help.splitlines() if l.startswith(f"- **{name}**:"))
        assert ("Chosen by a recipe search" in line) != name.endswith("-oracle"), line
        assert ("data limit" in line) == name.endswith("-oracle"), line
