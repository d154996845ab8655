"""End to end: the latent explorer decodes in the browser, with no Streamlit rerun while dragging.

A real `streamlit run app.py` (tiny preset) and headless Chromium: train the VAE on the
Latent space page, press an arrow key on a focused latent slider and drag another, and check
the canvas pixels change at each step while the browser sends nothing to the server (every
rerun is a message from the browser on the app's websocket). Only the release sends the code.
The step-to-canvas latency is printed and recorded, never asserted (timing is for bench/).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("VAEIMB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
EXPLORER = '[data-testid="latent-explorer"]'

# In-page probes: when the last pointer/key event happened, and the canvas as 28x28 grey levels.
PROBES = """() => {
  window.__lastEvent = 0;
  for (const t of ["keydown", "pointermove"]) window.addEventListener(t, (e) => { window.__lastEvent = e.timeStamp; }, true);
}"""
CANVAS_PIXELS = """(root) => {
  const c = root.querySelector("canvas[role=img]");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data, s = c.width / 28, out = [];
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) out.push(d[4 * ((y * s + s / 2) * c.width + x * s + s / 2)]);
  return out;
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM} (set VAEIMB_CHROMIUM); the e2e test must run in CI.")
        pytest.skip(f"Chromium not found at {CHROMIUM}; set VAEIMB_CHROMIUM to run the browser test.")
    return CHROMIUM


@pytest.fixture(scope="module")
def server(mnist_dir, tmp_path_factory):
    port = _free_port()
    env = dict(os.environ, VAEIMB_CACHE_DIR=str(tmp_path_factory.mktemp("lx-cache")), VAEIMB_DATA_DIR=str(mnist_dir),
               VAEIMB_APP_PRESET="tiny", VAEIMB_THREADS="1")
    log = (tmp_path_factory.mktemp("lx-log") / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
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
            pg = browser.new_page(viewport={"width": 1400, "height": 1600})
            pg.set_default_timeout(60_000)
            pg.sent = []  # every websocket message the browser sends (a rerun is one of them)
            pg.on("websocket", lambda ws: ws.on("framesent", lambda payload: pg.sent.append(payload)))
            yield pg
        finally:
            browser.close()


def open_explorer(page, server):
    """The Latent space page with its VAE trained; returns the explorer's root element."""
    page.goto(f"{server}/latent_space")
    train = page.get_by_role("button", name="Train the VAE")
    explorer = page.locator(EXPLORER)
    train.or_(explorer).first.wait_for(timeout=120_000)
    if train.count():
        train.click()
    explorer.wait_for(timeout=120_000)
    page.wait_for_function("() => !/Running/.test(document.querySelector('[data-testid=\"stStatusWidget\"]')?.innerText || '')")
    page.wait_for_timeout(500)
    page.evaluate(PROBES)
    return explorer


def draws(explorer) -> int:
    return int(explorer.get_attribute("data-draws"))


def step_latency(page, explorer) -> float:
    """ms from the last key/pointer event to the canvas being redrawn (in-page clocks)."""
    return page.evaluate("(r) => parseFloat(r.dataset.drawnAt) - window.__lastEvent", explorer.element_handle())


def test_slider_steps_redraw_the_canvas_without_a_rerun(page, server, record_property):
    explorer = open_explorer(page, server)
    handle = explorer.element_handle()
    sliders = explorer.locator('input[type="range"]')
    assert sliders.count() >= 2
    assert explorer.locator("canvas[role=img]").get_attribute("aria-label").startswith("Decoded digit")
    label_for = explorer.locator("label").first.get_attribute("for")
    assert label_for == sliders.first.get_attribute("id")  # each slider has its label

    # keyboard: an arrow key on the focused slider redraws at once
    pixels0 = page.evaluate(CANVAS_PIXELS, handle)
    n0 = draws(explorer)
    sliders.first.focus()
    page.keyboard.press("ArrowRight")
    assert draws(explorer) == n0 + 1  # drawn synchronously in the key's input event
    key_ms = step_latency(page, explorer)
    pixels1 = page.evaluate(CANVAS_PIXELS, handle)
    assert pixels1 != pixels0
    page.wait_for_timeout(1500)  # the released key sends its code once (after a short delay) ...
    page.wait_for_function("() => !/Running/.test(document.querySelector('[data-testid=\"stStatusWidget\"]')?.innerText || '')")
    assert page.evaluate(CANVAS_PIXELS, explorer.element_handle()) == pixels1  # ... and the rerun keeps the image

    # drag: every step redraws, nothing goes to the server until the mouse is released
    target = sliders.nth(1)
    box = target.bounding_box()
    y = box["y"] + box["height"] / 2
    value = float(target.input_value())
    lo, hi = float(target.get_attribute("min")), float(target.get_attribute("max"))
    x = box["x"] + 8 + (box["width"] - 16) * (value - lo) / (hi - lo)  # the thumb
    page.mouse.move(x, y)
    page.mouse.down()
    sent_before = len(page.sent)
    frames, latencies = [page.evaluate(CANVAS_PIXELS, explorer.element_handle())], []
    for i in range(1, 11):
        before = draws(explorer)
        page.mouse.move(min(box["x"] + box["width"] - 2, x + 12 * i) if x < box["x"] + box["width"] / 2 else x - 12 * i, y)
        page.wait_for_function("([r, n]) => parseInt(r.dataset.draws) > n", arg=[explorer.element_handle(), before])
        latencies.append(step_latency(page, explorer))
        frames.append(page.evaluate(CANVAS_PIXELS, explorer.element_handle()))
    sent_during_drag = len(page.sent) - sent_before
    page.mouse.up()
    assert sent_during_drag == 0, "the browser talked to the server while dragging"
    assert sum(a != b for a, b in zip(frames, frames[1:])) >= 8  # the image followed the drag
    assert page.locator('[data-testid="stException"]').count() == 0

    page.wait_for_timeout(1000)
    assert len(page.sent) - sent_before >= 1  # the release sent the code back: one rerun
    median = statistics.median(latencies)
    record_property("key_to_canvas_ms", round(key_ms, 2))
    record_property("drag_step_to_canvas_ms_median", round(median, 2))
    print(f"latent explorer: key -> canvas {key_ms:.2f} ms; drag step -> canvas median {median:.2f} ms "
          f"over {len(latencies)} steps; 0 messages to the server during the drag")
