"""The long tail in the app: the sidebar's task choice, bad input as st.error, the per-class
recall chart, K x K confusion heatmaps and the verdict on ACSA; links carry the task."""

from __future__ import annotations

import numpy as np
import pytest
from app_session import open_app, point_app
from streamlit.testing.v1 import AppTest
from test_app import button, plotly_figures

from vaeimb_app.links import from_query, to_query

TINY_LT = {
    "cfg_task": "longtail", "cfg_protocol": "deepsmote", "cfg_profile": "exponential", "cfg_rho": 10.0,
    "cfg_n_head": 150, "cfg_order": "0169", "cfg_steps": 30, "cfg_batch_size": 32, "cfg_n_checkpoints": 3,
    "cfg_n_seeds": 2, "cfg_approaches": ["baseline", "threshold", "oversample", "oracle"],
}


def fresh_app(monkeypatch, tmp_path, mnist_dir, settings: dict) -> AppTest:
    """The app on an empty cache, training in-process, with ``settings`` in its session state."""
    point_app(monkeypatch, tmp_path / "cache", mnist_dir)
    return open_app(settings)


@pytest.fixture
def lt_app(monkeypatch, tmp_path, mnist_dir):
    return fresh_app(monkeypatch, tmp_path, mnist_dir, TINY_LT)


def test_switching_the_task_takes_the_long_tails_protocol_and_approaches(monkeypatch, tmp_path, mnist_dir):
    point_app(monkeypatch, tmp_path / "cache", mnist_dir)
    at = open_app().run()
    assert not at.exception
    at.sidebar.radio(key="w_cfg_task").set_value("longtail").run()
    assert not at.exception
    s = at.session_state
    assert s["cfg_protocol"] == "deepsmote" and s["cfg_steps"] == 2000 and s["cfg_classifier"] == "cnn"
    assert "oracle" in s["cfg_approaches"] and "vae" not in s["cfg_approaches"]
    assert "all ten digits, long tail deepsmote" in at.caption[0].value
    fresh = open_app({"cfg_task": "longtail"}).run()
    assert fresh.sidebar.selectbox(key="w_cfg_profile").value == "deepsmote"
    assert not [w for w in fresh.sidebar.selectbox if w.key == "w_cfg_majority"]  # no digit pair on the long tail


@pytest.mark.parametrize("changes, fragment", [
    ({"cfg_order": "0"}, "at least two classes"),
    ({"cfg_order": "1121"}, "twice"),
    ({"cfg_profile": "counts", "cfg_counts": "9000,5,5,5"}, "MNIST train holds"),
    ({"cfg_rho": 0.5}, "rho"),
    ({"cfg_profile": "counts", "cfg_counts": ""}, "needs --counts"),
])
def test_bad_long_tail_settings_are_an_error_and_nothing_runs(lt_app, changes, fragment, tmp_path):
    for key, value in changes.items():
        lt_app.session_state[key] = value
    lt_app.run()
    assert not lt_app.exception
    assert lt_app.error and fragment in lt_app.error[0].value
    assert not [b for b in lt_app.button if b.label == "Run"]  # nothing can train
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]  # and nothing was cached


def test_a_long_tail_run_shows_recall_by_count_and_k_by_k_confusions(lt_app):
    lt_app.run()
    button(lt_app, "Run").click().run()
    assert not lt_app.exception, lt_app.exception
    table = lt_app.table[0].value
    assert list(table["approach"]) == ["baseline", "threshold", "oversample", "oracle"]
    assert "ACSA (balanced accuracy)" in table.columns and "ACSA (balanced accuracy) (imbalanced test)" in table.columns
    figs = plotly_figures(lt_app)
    recall = next(f for f in figs if f["layout"].get("xaxis", {}).get("type") == "log")
    assert [t["name"] for t in recall["data"]] == list(table["approach"])
    assert sorted(recall["data"][0]["x"], reverse=True) == recall["data"][0]["x"]  # the counts, head first
    heatmaps = [f for f in figs if f["data"][0]["type"] == "heatmap"]
    assert len(heatmaps) == 4
    for h in heatmaps:
        z = np.array(h["data"][0]["z"])
        assert z.shape == (4, 4)
        np.testing.assert_allclose(z.sum(1), 1.0)  # rows normalised by default for K classes
    assert lt_app.radio(key="verdict_metric").value == "balanced_accuracy"
    assert any("ACSA" in s.value or "Balanced" in s.value for s in [*lt_app.success, *lt_app.info])
    lt_app.radio(key="recall_test_set").set_value("imbalanced").run()
    assert not lt_app.exception


def test_the_task_switch_rule():
    from vaeimb.running.recipes import CLASSIC
    from vaeimb_app.settings import task_switch

    back = task_switch("longtail", "pair", "deepsmote")  # deepsmote serves only the long tail
    assert back["cfg_protocol"] == "clean" and back["cfg_approaches"] == list(CLASSIC) and back["cfg_steps"] == 500
    assert task_switch("pair", "longtail", "clean")["cfg_protocol"] == "deepsmote"  # the old task's own protocol
    kept = task_switch("pair", "longtail", "blog")  # blog cannot serve the long tail
    assert kept["cfg_protocol"] == "deepsmote"


def test_links_carry_the_task_and_profile():
    state = {"cfg_task": "longtail", "cfg_profile": "exponential", "cfg_rho": 20.0, "cfg_order": "9876543210",
             "cfg_protocol": "deepsmote"}
    query = to_query(state)
    assert query["task"] == "longtail" and query["profile"] == "exponential" and query["rho"] == "20"
    back, warnings = from_query(query)
    assert not warnings
    for key, value in state.items():
        assert back[key] == value
    _, warnings = from_query({"task": "tenclass"})
    assert warnings and "task" in warnings[0]


def test_the_latent_page_explores_a_conditional_generator_by_class(lt_app):
    lt_app.session_state["cfg_generator_steps"] = 20
    lt_app.session_state["cfg_generator_batch_size"] = 16
    lt_app.session_state["cfg_latent_dim"] = 6
    lt_app.session_state["cfg_approaches"] = ["baseline", "cvae"]
    lt_app.session_state["latent_generator"] = "cvae"
    lt_app.run()
    lt_app.switch_page("pages/2_latent_space.py").run()
    button(lt_app, "Train the cvae generator").click().run()
    assert not lt_app.exception, lt_app.exception
    picker = lt_app.selectbox(key="latent_class")
    assert picker.options == ["digit 1 (70 training images)", "digit 6 (32 training images)",
                              "digit 9 (15 training images)"]
    picker.set_value(3).run()
    assert not lt_app.exception, lt_app.exception
    assert any("trained on 15 images of digit 9" in c.value for c in lt_app.caption)
    assert lt_app.get("plotly_chart")  # the latent map of that class


def test_a_long_tail_run_in_a_worker_process_shows_its_results(lt_app, monkeypatch):
    """The app's default on two or more cores: the Run trains in a child process and the page
    reads the exported result back (the offsets and the imbalanced test set with it)."""
    monkeypatch.setenv("VAEIMB_APP_WORKERS", "1")
    lt_app.session_state["cfg_n_seeds"] = 1
    lt_app.session_state["cfg_approaches"] = ["baseline", "threshold"]
    lt_app.run()
    button(lt_app, "Run").click().run()
    assert not lt_app.exception, lt_app.exception
    assert list(lt_app.table[0].value["approach"]) == ["baseline", "threshold"]
    assert [d.label for d in lt_app.get("download_button")] == ["Download CSV", "Download JSON"]
    lt_app.radio(key="recall_test_set").set_value("imbalanced").run()
    assert not lt_app.exception, lt_app.exception


SIDEBAR_ONLY = """
from vaeimb_app.settings import render_sidebar
render_sidebar()
"""
TASK_SETTINGS = {"majority", "minority", "n_majority", "n_minority", "profile", "rho", "n_head", "order", "counts"}


@pytest.mark.parametrize("task, profile, shown", [
    ("pair", "exponential", {"majority", "minority", "n_majority", "n_minority"}),
    ("longtail", "deepsmote", {"profile", "order"}),
    ("longtail", "exponential", {"profile", "order", "rho", "n_head"}),
    ("longtail", "counts", {"profile", "order", "counts"}),
])
def test_the_sidebar_shows_only_the_widgets_that_apply(task, profile, shown, monkeypatch, tmp_path):
    """The widgets follow the settings' declaration (task kinds' settings, ``Setting.requires``),
    and so do links and the CLI: ``schema.applies`` is their one rule."""
    from vaeimb.declarations import schema

    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path))
    at = AppTest.from_string(SIDEBAR_ONLY, default_timeout=60)
    at.session_state["cfg_task"], at.session_state["cfg_profile"] = task, profile
    at.run()
    assert not at.exception, at.exception
    drawn = {w.key[len("w_cfg_"):] for kind in ("selectbox", "number_input", "text_input", "radio")
             for w in getattr(at.sidebar, kind) if w.key and w.key.startswith("w_cfg_")}
    assert drawn & TASK_SETTINGS == shown
    assert shown == {n for n in TASK_SETTINGS if schema.applies(n, {"task": task, "profile": profile})}
    if task == "longtail":  # switching the profile redraws the profile's own widgets
        other = {"deepsmote": "exponential", "exponential": "counts", "counts": "deepsmote"}[profile]
        at.sidebar.selectbox(key="w_cfg_profile").set_value(other).run()
        drawn = {w.key[len("w_cfg_"):] for kind in ("number_input", "text_input")
                 for w in getattr(at.sidebar, kind) if w.key and w.key.startswith("w_cfg_")}
        assert drawn & TASK_SETTINGS == {n for n in TASK_SETTINGS
                                         if schema.applies(n, {"task": "longtail", "profile": other})} - {"profile"}
