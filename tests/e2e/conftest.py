"""Fixtures for the browser tests: Chromium, the real app server, a page.

The start-up code lives in ``bench/browser.py``, shared with the bench scripts. Everything
the browser tests write goes under ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from bench.browser import (
    CHROMIUM,
    TEST_ARTIFACTS,
    StartError,
    app_server,
    chromium_page,
    screenshot,
)


def _missing(why: str) -> None:
    """Skip locally, fail in CI: CI must run the browser tests, so a missing piece is an error there."""
    if os.environ.get("CI"):
        pytest.fail(f"{why}; the e2e tests must run in CI", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    """Chromium, once Playwright (which drives it) is known to be importable."""
    try:
        import playwright.sync_api  # noqa: F401
    except ModuleNotFoundError as err:
        _missing(f"playwright not installed ({err}): pip install -r requirements-dev.txt")
    if not CHROMIUM.exists():
        _missing(f"Chromium not found at {CHROMIUM}; set VAEIMB_CHROMIUM to run the browser tests")
    return CHROMIUM


def _serve(env: dict, log: Path):
    """The app's URL for as long as the fixture lives; a server that does not start fails the test."""
    try:
        with app_server(env, log) as srv:
            yield srv.url
    except StartError as err:
        pytest.fail(str(err))


#: The tiny atlas the Atlas page shows in the browser tests (made by ``python -m vaeimb atlas``).
TINY_ATLAS = Path(__file__).resolve().parents[1] / "data" / "atlas_tiny"


@pytest.fixture(scope="module")
def server(mnist_dir, tmp_path_factory):
    """The real app (default settings) on a free loopback port with an empty cache, training
    in a worker process as it does on 2+ cores (the server gets one core here); its Atlas
    page shows the tiny atlas of tests/data."""
    env = {"VAEIMB_CACHE_DIR": str(tmp_path_factory.mktemp("e2e-cache")), "VAEIMB_DATA_DIR": str(mnist_dir),
           "VAEIMB_APP_PRESET": None, "VAEIMB_ATLAS_DIR": str(TINY_ATLAS), "VAEIMB_APP_WORKERS": "1"}
    yield from _serve(env, TEST_ARTIFACTS / "streamlit.log")


@pytest.fixture(scope="module")
def tiny_server(mnist_dir, tmp_path_factory):
    """The real app with the tiny preset on one thread (its VAE trains in seconds), empty cache."""
    env = {"VAEIMB_CACHE_DIR": str(tmp_path_factory.mktemp("e2e-tiny-cache")), "VAEIMB_DATA_DIR": str(mnist_dir),
           "VAEIMB_APP_PRESET": "tiny", "VAEIMB_THREADS": "1"}
    yield from _serve(env, TEST_ARTIFACTS / "streamlit-tiny.log")


@contextlib.contextmanager
def _page(chromium: Path, last_shot: str, **size):
    """A fresh Chromium page; whatever it shows at the end is saved to test-artifacts/screenshots/."""
    with chromium_page(chromium, **size) as pg:
        try:
            yield pg
        finally:
            screenshot(pg, TEST_ARTIFACTS / "screenshots" / last_shot)


@pytest.fixture
def page(chromium_path, server):
    with _page(chromium_path, "last-state.png") as pg:
        yield pg


@pytest.fixture
def tiny_page(chromium_path, tiny_server):
    with _page(chromium_path, "latent-explorer-last-state.png", height=1600, timeout_ms=60_000) as pg:
        yield pg
