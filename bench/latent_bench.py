"""Latent explorer latency: slider step -> new image, in headless Chromium.

Starts `streamlit run app.py` (tiny preset, VAE trained on first use), opens the Latent
space page and measures with the page's own clock (``performance.now()`` / event
timestamps):

* key press on a focused latent slider -> canvas redrawn (browser decoding), 20 presses;
* drag step -> canvas redrawn, 20 steps, and the messages the browser sent to the server
  during the drag (a rerun needs one) and after the release;
* the same key press with "Decode in the browser" off (today's server-side fragment) ->
  the new <img> in the page, for comparison.

Prints a markdown table. Usage:
    VAEIMB_DATA_DIR=/path/to/mnist python bench/latent_bench.py [--screenshot out.png]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("VAEIMB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
N = 20
EXPLORER = '[data-testid="latent-explorer"]'
IDLE = "() => !/Running/.test(document.querySelector('[data-testid=\"stStatusWidget\"]')?.innerText || '')"
PROBES = """() => {
  window.__lastEvent = 0; window.__imgAt = 0;
  for (const t of ["keydown", "pointermove"]) window.addEventListener(t, (e) => { window.__lastEvent = e.timeStamp; }, true);
  new MutationObserver(() => { window.__imgAt = performance.now(); })
    .observe(document.body, { subtree: true, attributes: true, attributeFilter: ["src"] });
}"""


def start_server(cache: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, VAEIMB_CACHE_DIR=cache, VAEIMB_APP_PRESET="tiny", VAEIMB_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("streamlit did not start within 60 s")


def in_browser(page, sent: list) -> dict:
    explorer = page.locator(EXPLORER)
    root = explorer.element_handle()
    sliders = explorer.locator('input[type="range"]')
    draws = lambda: int(explorer.get_attribute("data-draws"))  # noqa: E731
    latency = lambda: page.evaluate("(r) => parseFloat(r.dataset.drawnAt) - window.__lastEvent", root)  # noqa: E731

    keys = []
    sliders.first.focus()
    for i in range(N):
        before = draws()
        page.keyboard.press("ArrowRight" if i < N // 2 else "ArrowLeft")
        page.wait_for_function("([r, n]) => parseInt(r.dataset.draws) > n", arg=[root, before])
        keys.append(latency())
    page.wait_for_timeout(1500)
    page.wait_for_function(IDLE)

    target = sliders.nth(1)
    box = target.bounding_box()
    y = box["y"] + box["height"] / 2
    lo, hi, v = (float(target.get_attribute("min")), float(target.get_attribute("max")), float(target.input_value()))
    x0 = box["x"] + 8 + (box["width"] - 16) * (v - lo) / (hi - lo)
    left = box["x"] + 10
    page.mouse.move(x0, y)
    page.mouse.down()
    page.mouse.move(left, y)  # start at the left end, then walk right in steps
    sent_before = len(sent)
    drags = []
    for i in range(1, N + 1):
        before = draws()
        page.mouse.move(left + i * (box["width"] - 20) / N, y)
        page.wait_for_function("([r, n]) => parseInt(r.dataset.draws) > n", arg=[root, before])
        drags.append(latency())
    during = len(sent) - sent_before
    page.mouse.up()
    page.wait_for_timeout(1500)
    page.wait_for_function(IDLE)
    return {"keys": keys, "drags": drags, "sent_during_drag": during, "sent_after_release": len(sent) - sent_before - during}


def on_server(page) -> list[float]:
    """Today's fragment: key press -> the decoded <img> replaced (src changed in the page)."""
    page.get_by_text("Decode in the browser", exact=False).click()
    page.wait_for_timeout(500)
    page.wait_for_function(IDLE)
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="KL").first.get_by_role("slider")
    slider.focus()
    out = []
    for i in range(N // 2):
        page.evaluate("() => { window.__imgAt = 0; }")
        page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
        page.wait_for_function("() => window.__imgAt > window.__lastEvent", timeout=30_000)
        out.append(page.evaluate("() => window.__imgAt - window.__lastEvent"))
        page.wait_for_function(IDLE)
        page.wait_for_timeout(300)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--screenshot", help="save a PNG of the explorer here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        proc, url = start_server(cache)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                page = browser.new_page(viewport={"width": 1400, "height": 1600})
                page.set_default_timeout(120_000)
                sent: list = []
                page.on("websocket", lambda ws: ws.on("framesent", lambda p: sent.append(p)))
                page.goto(f"{url}/latent_space")
                train = page.get_by_role("button", name="Train the VAE")
                train.or_(page.locator(EXPLORER)).first.wait_for()
                if train.count():
                    train.click()
                page.locator(EXPLORER).wait_for()
                page.wait_for_function(IDLE)
                page.wait_for_timeout(1000)
                page.evaluate(PROBES)
                if args.screenshot:
                    page.locator(EXPLORER).screenshot(path=args.screenshot)
                r = in_browser(page, sent)
                server_ms = on_server(page)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    med = statistics.median
    print("| latent explorer (headless Chromium, tiny preset) | median | max | reruns |")
    print("|---|---:|---:|---:|")
    print(f"| key press -> canvas, decoded in the browser ({N} presses) | {med(r['keys']):.1f} ms "
          f"| {max(r['keys']):.1f} ms | 1 per release |")
    print(f"| drag step -> canvas, decoded in the browser ({N} steps) | {med(r['drags']):.1f} ms | {max(r['drags']):.1f} ms "
          f"| {r['sent_during_drag']} during the drag ({r['sent_after_release']} message(s) after release) |")
    print(f"| key press -> image, server-side fragment ({len(server_ms)} presses) | {med(server_ms):.0f} ms "
          f"| {max(server_ms):.0f} ms | 1 per step |")
    print(f"\ntarget: <= 20 ms per step, 0 reruns while dragging -> "
          f"{'met' if med(r['drags']) <= 20 and med(r['keys']) <= 20 and r['sent_during_drag'] == 0 else 'NOT met'}")


if __name__ == "__main__":
    main()
