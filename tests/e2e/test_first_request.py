"""A shared link to the Atlas page, opened as a freshly started server's very first request,
shows the view it names (the real ``streamlit run app.py`` and Chromium).

Streamlit runs a page file alone on that request when the app keeps its pages in a
``pages/`` folder (its legacy layout, until ``st.navigation`` is first called); the page
then does app.py's work itself (``vaeimb_app.settings.through_app``): it reads the link
into session state and draws the sidebar. This module starts its own server, so the
request below is its first.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from bench.browser import MAIN, TEST_ARTIFACTS, StartError, app_server, chromium_page, screenshot, wait_for_charts, wait_idle

TINY_ATLAS = Path(__file__).resolve().parents[1] / "data" / "atlas_tiny"
SLOW = 120_000
#: A view of the tiny atlas that differs from the page's defaults in every choice.
LINKED = {"atlas_a": "oversample", "atlas_b": "baseline", "atlas_ratio": "0.05", "atlas_metric": "balanced_accuracy",
          "atlas_correction": "bh"}


@pytest.fixture(scope="module")
def fresh_server(mnist_dir, tmp_path_factory):
    """A server no request has reached yet: the Atlas page shows the tiny atlas."""
    env = {"VAEIMB_CACHE_DIR": str(tmp_path_factory.mktemp("e2e-first-request-cache")), "VAEIMB_DATA_DIR": str(mnist_dir),
           "VAEIMB_APP_PRESET": None, "VAEIMB_ATLAS_DIR": str(TINY_ATLAS), "VAEIMB_APP_WORKERS": "1"}
    try:
        with app_server(env, TEST_ARTIFACTS / "streamlit-first-request.log") as srv:
            yield srv.url
    except StartError as err:
        pytest.fail(str(err))


def _chosen(page, label: str) -> str:
    return page.locator(MAIN).get_by_label(label, exact=True).input_value()


def test_the_first_request_to_an_atlas_link_shows_the_linked_view(chromium_path, fresh_server):
    with chromium_page(chromium_path, timeout_ms=SLOW) as page:
        try:
            page.goto(f"{fresh_server}/atlas?{urlencode(LINKED)}")
            page.locator(MAIN).get_by_text("Atlas of digit pairs").wait_for()
            wait_for_charts(page, 1, SLOW)
            wait_idle(page, SLOW)
            assert (_chosen(page, "Approach A"), _chosen(page, "Approach B"), _chosen(page, "Minority ratio"),
                    _chosen(page, "Correction")) == ("oversample", "baseline", "5%", "Benjamini-Hochberg (false discoveries)")
            assert page.locator(MAIN).get_by_role("radiogroup", name="Metric").get_by_role(
                "radio", name="Balanced accuracy").is_checked()
            # app.py ran: the sidebar's settings are drawn, and the URL still opens this view
            page.locator('[data-testid="stSidebar"]').get_by_text("Experiment settings").wait_for()
            url = urlparse(page.url)
            assert url.path.rstrip("/").endswith("/atlas")
            assert {k: v[-1] for k, v in parse_qs(url.query).items() if k in LINKED} == LINKED
            assert page.locator(MAIN).get_by_text("Traceback").count() == 0
        finally:
            screenshot(page, TEST_ARTIFACTS / "screenshots" / "first-request-atlas.png")
