"""End to end on a fresh machine: `streamlit run app.py` with no MNIST anywhere (issue #13).

``$VAEIMB_DATA_DIR`` unset, ``$XDG_CACHE_HOME`` an empty temporary folder and
``$VAEIMB_MNIST_MIRROR`` pointing at a loopback server of the four original ``.gz`` files
(``LoopbackMirror`` of tests/test_download.py; no network). Pressing Run in headless
Chromium downloads MNIST once into the user cache, trains the tiny preset in a worker
process (which reads the server's download) and shows the results. The first-Run time
(download included) is printed and recorded, never asserted.
"""

from __future__ import annotations

import time

import pytest

# tests/ is on sys.path (pytest's rootdir-relative imports; a site-packages "tests" package
# would shadow ``tests.test_download``), so the fresh-machine helpers come from there.
from test_download import (
    LoopbackMirror,
    assert_downloaded_once,
    fresh_machine_env,
    shared_raw_folder,
)

from bench.browser import (
    MAIN,
    TEST_ARTIFACTS,
    StartError,
    app_server,
    chromium_page,
    screenshot,
    type_number,
    wait_idle,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def mirror(mnist_dir):
    with LoopbackMirror(shared_raw_folder(mnist_dir)) as m:
        yield m


@pytest.fixture
def fresh_server(mirror, tmp_path):
    """The real app on a machine without MNIST, the tiny preset, training in one worker process."""
    env = fresh_machine_env(tmp_path, mirror.url)
    env.update({"VAEIMB_APP_PRESET": "tiny", "VAEIMB_APP_WORKERS": "1", "VAEIMB_THREADS": "1"})
    try:
        with app_server(env, TEST_ARTIFACTS / "streamlit-download.log") as srv:
            yield srv.url
    except StartError as err:
        pytest.fail(str(err))


def test_first_run_downloads_mnist_into_the_user_cache_and_shows_results(
        chromium_path, fresh_server, mirror, tmp_path, record_property):
    with chromium_page(chromium_path, timeout_ms=60_000) as page:
        try:
            page.goto(fresh_server)
            page.get_by_text("Does a VAE beat oversampling").wait_for()
            type_number(page, "Seeds", 1)
            main = page.locator(MAIN)
            t = time.perf_counter()
            main.get_by_role("button", name="Run").click()
            table = main.locator('[data-testid="stTable"]').first
            table.wait_for(timeout=240_000)
            seconds = time.perf_counter() - t
            wait_idle(page, 120_000)
            text = table.inner_text()
            assert all(name in text for name in ("baseline", "threshold", "oversample", "vae", "oracle")), text
            assert main.locator('[data-testid="stAlertContentError"]').count() == 0, main.inner_text()
            assert main.get_by_text("Traceback").count() == 0
        finally:
            screenshot(page, TEST_ARTIFACTS / "screenshots" / "first-run-download.png")
    print(f"first Run on a fresh machine (download from the loopback mirror included): {seconds:.1f} s")
    record_property("first_run_with_download_s", round(seconds, 1))
    assert_downloaded_once(tmp_path, mirror)  # by the server; the worker process read that folder
    assert list((tmp_path / "results").rglob("*.npz"))
