"""End to end: the real `streamlit run app.py` server driven by headless Chromium.

Sets a tiny config through the sidebar widgets, presses Run, checks the results table,
moves a latent slider and checks the decoded image changed, and saves a screenshot of each
page to test-artifacts/screenshots/ (and docs/screenshots/, used by the README).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("VAEIMB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
SHOTS = ROOT / "test-artifacts" / "screenshots"
DOC_SHOTS = ROOT / "docs" / "screenshots"
TINY_WIDGETS = {  # label -> value, typed into the sidebar like a user would
    "Majority count": 300, "Minority count": 20, "Training steps": 30, "VAE latent size": 6,
}
TINY_ADVANCED = {"Batch size": 32, "VAE training steps": 20, "VAE batch size": 16, "Learning-curve checkpoints": 3}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _half_the_cores() -> None:
    """Run the server on half the CPUs: torch takes every core it may use, and on a small
    machine it would otherwise fight Chromium (and itself) for them."""
    if hasattr(os, "sched_getaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, cores[: max(1, len(cores) // 2)])


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM} (set VAEIMB_CHROMIUM); the e2e test must run in CI.")
        pytest.skip(f"Chromium not found at {CHROMIUM}; set VAEIMB_CHROMIUM to run the browser test.")
    return CHROMIUM


@pytest.fixture(scope="module")
def server(mnist_dir, tmp_path_factory):
    """A real app server on a free loopback port, stopped whatever happens."""
    port = _free_port()
    env = dict(os.environ, VAEIMB_CACHE_DIR=str(tmp_path_factory.mktemp("e2e-cache")), VAEIMB_DATA_DIR=str(mnist_dir))
    env.pop("VAEIMB_APP_PRESET", None)
    log = (tmp_path_factory.mktemp("e2e-log") / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_half_the_cores,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer on {url} within 60 s; see {log.name}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def page(chromium_path, server):
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS, headless=True)
        try:
            pg = browser.new_page(viewport={"width": 1400, "height": 1800})
            pg.set_default_timeout(30_000)
            try:
                yield pg
            except BaseException:
                raise
            finally:
                SHOTS.mkdir(parents=True, exist_ok=True)
                pg.screenshot(path=str(SHOTS / "last-state.png"))  # what the browser showed at the end
        finally:
            browser.close()


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until the script run the last interaction started has finished."""
    page.wait_for_timeout(400)
    page.wait_for_function(
        "() => { const w = document.querySelector('[data-testid=\"stStatusWidget\"]');"
        " return !w || !/Running|Stop/.test(w.innerText); }",
        timeout=timeout,
    )


def type_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def screenshot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    DOC_SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.mouse.move(0, 0)  # no hover tooltip in the picture
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)
    shutil.copyfile(path, DOC_SHOTS / path.name)


def go_to(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    wait_idle(page)


def test_run_explore_and_screenshot_every_page(page, server):
    page.goto(server)
    page.get_by_text("Does a VAE beat oversampling").wait_for()
    for label, value in TINY_WIDGETS.items():
        type_number(page, label, value)
    page.locator('[data-testid="stSidebar"]').get_by_text("Advanced", exact=True).click()
    for label, value in TINY_ADVANCED.items():
        type_number(page, label, value)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("300/20").wait_for()  # the setup caption reflects what was typed

    main.get_by_role("button", name="Run").click()
    table = main.locator('[data-testid="stTable"]').first
    table.wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    text = table.inner_text()
    assert "oversample" in text and "vae" in text and "oracle" in text
    assert re.search(r"oversample\s+\d+(\.\d+)?", text), text  # its misclassified count
    expect(main.locator('[data-testid="stPlotlyChart"]')).to_have_count(7, timeout=60_000)
    expect(main.locator(".js-plotly-plot")).to_have_count(7, timeout=60_000)  # drawn, not placeholders
    assert main.get_by_text("Traceback").count() == 0
    screenshot(page, "experiment")

    go_to(page, "Latent space")
    latent_slider = main.locator('[data-testid="stSlider"]').filter(has_text="KL").first
    latent_slider.wait_for(timeout=60_000)
    image = main.locator('[data-testid="stImage"]').filter(has_text="decoded image").locator("img")
    before = image.get_attribute("src")
    latent_slider.locator('input[type="range"]').focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    expect(image).not_to_have_attribute("src", before, timeout=30_000)
    wait_idle(page)
    expect(main.locator(".js-plotly-plot")).to_have_count(1, timeout=60_000)
    screenshot(page, "latent_space")

    go_to(page, "Sweep")
    main.get_by_role("button", name="Run sweep").wait_for()
    for chip in ("0.50%", "1%", "2%", "5%", "50%", "vae"):  # keep 10 % and 25 %, baseline and oversample
        main.get_by_role("button", name=f"Remove {chip}", exact=True).click()
        wait_idle(page)
    main.get_by_role("button", name="Run sweep").click()
    expect(main.locator(".js-plotly-plot")).to_have_count(1, timeout=120_000)
    wait_idle(page, 120_000)
    assert "oversample" in main.locator(".js-plotly-plot").inner_text()
    screenshot(page, "sweep")

    go_to(page, "About")
    main.get_by_text("The original experiment").wait_for()
    assert "70 of 1938" in main.inner_text()
    screenshot(page, "about")
