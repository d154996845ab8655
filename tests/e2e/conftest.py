"""Fixtures for the browser test: Chromium, the real app server, a page.

The start-up code lives in ``bench/browser.py``, shared with the bench scripts. Everything
the browser test writes goes under ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.browser import CHROMIUM, TEST_ARTIFACTS, StartError, app_server, chromium_page, screenshot


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM} (set VAEIMB_CHROMIUM); the e2e test must run in CI.")
        pytest.skip(f"Chromium not found at {CHROMIUM}; set VAEIMB_CHROMIUM to run the browser test.")
    return CHROMIUM


@pytest.fixture(scope="module")
def server(mnist_dir, tmp_path_factory):
    """The real app on a free loopback port with an empty cache, stopped whatever happens."""
    env = {"VAEIMB_CACHE_DIR": str(tmp_path_factory.mktemp("e2e-cache")), "VAEIMB_DATA_DIR": str(mnist_dir),
           "VAEIMB_APP_PRESET": None}
    try:
        with app_server(env, TEST_ARTIFACTS / "streamlit.log") as srv:
            yield srv.url
    except StartError as err:
        pytest.fail(str(err))


@pytest.fixture
def page(chromium_path, server):
    """A fresh Chromium page; whatever it shows at the end is saved to test-artifacts/screenshots/."""
    with chromium_page(chromium_path) as pg:
        try:
            yield pg
        finally:
            screenshot(pg, TEST_ARTIFACTS / "screenshots" / "last-state.png")
