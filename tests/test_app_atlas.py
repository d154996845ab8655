"""The Atlas page driven headlessly with AppTest on the tiny atlas in tests/data/atlas_tiny
(made by ``python -m vaeimb atlas``: pairs 0:6 6:0 3:8, ratios 2% and 5%, baseline,
oversample and vae, seeds 0-2, a tiny budget)."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
from app_session import open_app, point_app
from streamlit.testing.v1 import AppTest
from test_app import button, plotly_figures

from vaeimb.studies.atlas import runs as atlas_runs
from vaeimb.studies import atlas as atl
from vaeimb_app import atlas_view
from vaeimb_app.links import to_query

PAGE = "pages/5_atlas.py"
TINY_ATLAS = Path(__file__).resolve().parent / "data" / "atlas_tiny"


@pytest.fixture
def tiny_atlas():
    return atl.load_atlas(TINY_ATLAS)


@pytest.fixture
def open_atlas(monkeypatch, tmp_path, mnist_dir):
    """A fresh session opened on the Atlas page (optionally by a link), with an empty cache."""
    monkeypatch.setenv("VAEIMB_ATLAS_DIR", str(TINY_ATLAS))
    point_app(monkeypatch, tmp_path / "cache", mnist_dir)  # trains in the test's process: no worker start-up

    def make(query: dict | None = None) -> AppTest:
        at = open_app(timeout=180)
        at.query_params.update(query or {})
        at.run()  # the entry page reads the link; a page opened before any run would skip app.py
        at.switch_page(PAGE).run()
        assert not at.exception, at.exception
        return at

    return make


def heatmap(at: AppTest) -> dict:
    (fig,) = plotly_figures(at)
    assert fig["data"][0]["type"] == "heatmap"
    return fig


def shown_gain(at: AppTest) -> np.ndarray:
    return np.array(heatmap(at)["data"][0]["z"], dtype=float)


def view(at: AppTest) -> dict:
    return {k: at.session_state[k] for k in ("atlas_a", "atlas_b", "atlas_ratio", "atlas_metric")}


def summary(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "undecided on" in m.value)


def test_the_page_draws_the_map_and_counts_what_gain_grid_counts(open_atlas, tiny_atlas):
    at = open_atlas()
    assert at.title[0].value == "Atlas of digit pairs"
    grid = atl.gain_grid(tiny_atlas, "vae", "oversample", 0.02)
    np.testing.assert_array_equal(shown_gain(at), grid.gain)
    c = grid.counts()
    assert summary(at) == f"**{atl.summary_line(grid)}**"
    assert f"vae beats oversample on {c['a_better']} pairs after Holm's correction, loses on {c['b_better']}" in summary(at)
    assert c["cells"] == 3
    caption = " ".join(x.value for x in at.caption)
    assert "300 majority images" in caption and "seeds 0, 1, 2" in caption and "code " in caption
    assert (at.selectbox(key="w_atlas_a").value, at.selectbox(key="w_atlas_b").value) == ("vae", "oversample")
    assert not at.warning and not at.error


def test_changing_a_b_ratio_and_metric_redraws_and_goes_in_the_link(open_atlas, tiny_atlas):
    at = open_atlas()
    at.selectbox(key="w_atlas_a").set_value("oversample").run()
    at.selectbox(key="w_atlas_b").set_value("baseline").run()
    grid = atl.gain_grid(tiny_atlas, "oversample", "baseline", 0.02)
    np.testing.assert_array_equal(shown_gain(at), grid.gain)
    assert summary(at) == f"**{atl.summary_line(grid)}**"
    at.selectbox(key="w_atlas_ratio").set_value(0.05).run()
    at.radio(key="w_atlas_metric").set_value("balanced_accuracy").run()
    assert not at.exception, at.exception
    grid = atl.gain_grid(tiny_atlas, "oversample", "baseline", 0.05, "balanced_accuracy")
    np.testing.assert_array_equal(shown_gain(at), grid.gain)
    # what app.py's sync_link puts in the URL (AppTest does not report a multipage app's URL;
    # the browser test checks the real one)
    assert to_query(view(at)) == {"atlas_a": "oversample", "atlas_b": "baseline", "atlas_ratio": "0.05",
                                  "atlas_metric": "balanced_accuracy"}
    at.selectbox(key="w_atlas_b").set_value("oversample").run()
    assert any("two different approaches" in i.value for i in at.info) and not at.get("plotly_chart")


def test_a_copied_link_reopens_the_same_view(open_atlas, tiny_atlas):
    at = open_atlas({"atlas_a": "baseline", "atlas_b": "vae", "atlas_ratio": "0.05"})
    assert (at.selectbox(key="w_atlas_a").value, at.selectbox(key="w_atlas_b").value) == ("baseline", "vae")
    assert at.selectbox(key="w_atlas_ratio").value == 0.05
    np.testing.assert_array_equal(shown_gain(at), atl.gain_grid(tiny_atlas, "baseline", "vae", 0.05).gain)
    assert not at.warning


def test_a_link_to_an_unknown_approach_or_ratio_warns_and_falls_back(open_atlas, tiny_atlas):
    at = open_atlas({"atlas_a": "unknown", "atlas_ratio": "0.3"})
    warnings = [w.value for w in at.warning]
    assert any("no approach 'unknown'" in w and "showing vae" in w for w in warnings), warnings
    assert any("no ratio" in w and "showing 5%" in w for w in warnings), warnings
    assert at.selectbox(key="w_atlas_a").value == "vae" and at.selectbox(key="w_atlas_ratio").value == 0.05
    np.testing.assert_array_equal(shown_gain(at), atl.gain_grid(tiny_atlas, "vae", "oversample", 0.05).gain)
    assert to_query(view(at)) == {"atlas_ratio": "0.05"}  # the link now names the view shown


def test_choosing_a_pair_shows_its_seeds_and_opens_it_on_the_experiment_page(open_atlas, tiny_atlas):
    at = open_atlas()
    at.selectbox(key="atlas_pair").set_value("3 vs 8").run()
    assert not at.exception, at.exception
    assert any(h.value == "Majority 3 vs minority 8 at ratio 2%" for h in at.subheader)
    table = at.dataframe[0].value
    want = atl.cell_detail(tiny_atlas, 3, 8, 0.02, "vae", "oversample")
    assert table["seed"].tolist() == [r["seed"] for r in want] == [0, 1, 2]
    assert table["gain"].tolist() == [r["gain"] for r in want]
    state = atlas_view.cell_state(tiny_atlas, 3, 8, 0.02, ["vae", "oversample"])
    assert any(f"](./?{urlencode(to_query(state))})" in m.value for m in at.markdown)
    button(at, "Open it here on the Experiment page").click().run()
    assert not at.exception, at.exception
    for key in ("cfg_majority", "cfg_minority", "cfg_n_majority", "cfg_steps", "cfg_approaches", "cfg_n_seeds"):
        assert at.session_state[key] == state[key], key
    assert at.title[0].value.startswith("Does a VAE beat oversampling")
    assert any("3 vs 8, 300/6 (2% minority), mlp, 30 steps" in c.value for c in at.caption), [c.value for c in at.caption]


@pytest.mark.parametrize("problem", ["missing", "malformed"])
def test_a_missing_or_broken_atlas_is_explained_not_a_traceback(open_atlas, monkeypatch, tmp_path, problem):
    folder = tmp_path / "atlas"
    if problem == "malformed":
        shutil.copytree(TINY_ATLAS, folder)
        (folder / atl.TABLE_FILE).write_text("majority,minority\n0,6\n")
    monkeypatch.setenv("VAEIMB_ATLAS_DIR", str(folder))
    at = open_atlas()
    assert any("No atlas to show yet" in i.value for i in at.info)
    assert not at.get("plotly_chart")
    if problem == "malformed":
        assert any("malformed" in e.value for e in at.error)


def test_extending_runs_the_missing_pair_and_keeps_it(open_atlas, tiny_atlas, tmp_path):
    at = open_atlas({"atlas_a": "oversample", "atlas_b": "baseline", "atlas_ratio": "0.05"})
    before = atl.missing_pairs(tiny_atlas, 0.05, ["oversample", "baseline"])
    assert (1, 7) in before and len(before) == 87
    at.multiselect(key="atlas_extend_pairs").set_value([(1, 7)]).run()
    button(at, "Run the chosen pairs").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    mine = atl.load_atlas(tmp_path / "cache" / "atlas")
    assert mine.pairs == [(1, 7)] and mine.ratios == [0.05] and mine.seeds == [0, 1, 2]
    assert sorted(mine.approaches) == ["baseline", "oversample"] and len(mine.rows) == 6
    assert mine.meta["budget"] == {**tiny_atlas.meta["budget"], "dataset": "mnist"}  # the tiny atlas predates datasets
    merged = atl.merge_atlases(tiny_atlas, mine)
    np.testing.assert_array_equal(shown_gain(at), atl.gain_grid(merged, "oversample", "baseline", 0.05).gain)
    assert not np.isnan(shown_gain(at)[1, 7])
    assert "All 86 missing pairs" in [c.label for c in at.checkbox]
    assert sum("Made " in part for c in at.caption for part in c.value.split(". ")) == 2  # both sources named


def test_the_page_says_when_its_rows_come_from_other_code(open_atlas, tiny_atlas, monkeypatch):
    import vaeimb.declarations.provenance as P

    made_by = tiny_atlas.meta["environment"]["code"]
    monkeypatch.setattr(P, "code_fingerprint", lambda: made_by)
    assert not any("the code running here" in m.value for m in open_atlas().info)
    monkeypatch.setattr(P, "code_fingerprint", lambda: "running-code")
    notes = [m.value for m in open_atlas().info if "the code running here is running-code" in m.value]
    assert len(notes) == 1 and made_by in notes[0]
