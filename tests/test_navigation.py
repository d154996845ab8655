"""A link to a page other than the first, opened as a fresh server's first request, runs
through app.py: the link's settings reach session state and the sidebar is drawn.

Streamlit treats the ``pages/`` folder beside app.py as its legacy multipage layout until
``st.navigation`` is first called in the server's process; until then, a request for a page's
URL runs that page file alone; ``vaeimb_app.settings.through_app`` then does app.py's work
(``start_app``) before the page reads the settings. Here AppTest opens a page before any run,
with Streamlit's pages state reset to a fresh server's (AppTest itself resets it before every
run; the browser test ``tests/e2e/test_first_request.py`` does it for real).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

APP = "../app.py"
ATLAS_PAGE = "pages/5_atlas.py"
TINY_ATLAS = Path(__file__).resolve().parent / "data" / "atlas_tiny"
#: A view of the tiny atlas that differs from the page's defaults in every choice.
LINKED = {"atlas_a": "oversample", "atlas_b": "baseline", "atlas_ratio": "0.05", "atlas_metric": "balanced_accuracy",
          "atlas_correction": "bh"}


@contextlib.contextmanager
def fresh_server():
    """Streamlit's pages state as a newly started server has it: the legacy ``pages/`` layout
    is decided anew (``None``: from the folder) at the next session; restored afterwards."""
    before = PagesManager.uses_pages_directory
    PagesManager.uses_pages_directory = None
    try:
        yield
    finally:
        PagesManager.uses_pages_directory = before


@pytest.fixture
def app_env(monkeypatch, tmp_path, mnist_dir):
    monkeypatch.setenv("VAEIMB_ATLAS_DIR", str(TINY_ATLAS))
    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VAEIMB_DATA_DIR", str(mnist_dir))
    monkeypatch.delenv("VAEIMB_APP_PRESET", raising=False)


def test_the_pages_folder_is_the_legacy_layout_until_navigation_is_declared():
    """What the fix answers: on a fresh server the pages folder decides the first run."""
    with fresh_server():
        PagesManager("app.py")  # the first session's manager, as a server makes it
        assert PagesManager.uses_pages_directory is True


def test_a_first_request_to_the_atlas_url_shows_the_linked_view(app_env):
    with fresh_server():
        at = AppTest.from_file(APP, default_timeout=180)
        at.query_params.update(LINKED)
        at.switch_page(ATLAS_PAGE)  # the page's URL, before any run: a fresh server's first request
        at.run()
        assert not at.exception, at.exception
        assert PagesManager.uses_pages_directory is False  # the app's pages are declared now
    shown = {s.label: s.value for s in at.selectbox}
    assert (shown["Approach A"], shown["Approach B"], shown["Minority ratio"], shown["Correction"]) == (
        "oversample", "baseline", 0.05, "bh")
    assert at.radio(key="w_atlas_metric").value == "balanced_accuracy"
    assert at.sidebar.header[0].value == "Experiment settings"  # app.py drew the sidebar
    assert {k: at.query_params[k] for k in LINKED} == LINKED  # and the URL still names the view


def test_a_page_run_without_app_py_does_app_pys_work_first(app_env):
    """Every page that reads the settings asks ``through_app`` first: a run that did not
    start in app.py (no mark in session state) reads the link and draws the sidebar itself."""
    with fresh_server():
        at = AppTest.from_file(APP, default_timeout=180)
        at.query_params.update({"seeds": "4", "approaches": "baseline,oversample"})
        at.switch_page("pages/3_sweep.py")
        at.run()
        assert not at.exception, at.exception
    assert at.session_state["cfg_n_seeds"] == 4  # read from the link by app.py
    assert at.title[0].value == "Imbalance sweep"
    assert at.sidebar.header[0].value == "Experiment settings"


def test_a_first_request_to_the_about_page_draws_the_sidebar(app_env):
    """The About page reads no settings, yet a first request to /about runs through app.py too."""
    with fresh_server():
        at = AppTest.from_file(APP, default_timeout=180)
        at.switch_page("pages/4_about.py")
        at.run()
        assert not at.exception, at.exception
    assert at.title[0].value == "About this experiment"
    assert at.sidebar.header[0].value == "Experiment settings"
