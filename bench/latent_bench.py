"""Latent explorer latency: slider step -> new image, in headless Chromium.

Starts `streamlit run app.py` (tiny preset, VAE trained on first use), opens the Latent
space page and measures with the page's own clock (``performance.now()`` / event
timestamps):

* key press on a focused latent slider -> canvas redrawn (browser decoding), 20 presses;
* drag step -> canvas redrawn, 20 steps, and the messages the browser sent to the server
  during the drag (a rerun needs one) and after the release;
* the same key press with "Decode in the browser" off (the server-side fragment, which
  decodes the exported spec in numpy: the server holds no torch) -> the new <img> in the
  page, for comparison.

The VAE is trained (or found in the cache) by the Latent page's child process
(``vaeimb.interfaces.latent_child``), as on any app server.

``open_explorer`` and ``record_sent`` are also what tests/e2e/test_latent_explorer.py
drives the page with; Playwright is imported only when a browser is opened.

Prints a markdown table. Usage:
    VAEIMB_DATA_DIR=/path/to/mnist python bench/latent_bench.py [--screenshot out.png]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.browser import (  # noqa: E402
    CHROMIUM,
    StartError,
    app_server,
    chromium_page,
    playwright_api,
    wait_idle,
)
from bench.common import markdown_table, publish  # noqa: E402
from vaeimb.declarations.provenance import cpu_name, utc_now  # noqa: E402

N = 20
EXPLORER = '[data-testid="latent-explorer"]'
# In-page probes: when the last key/pointer event happened, and when an <img> last changed its src.
PROBES = """() => {
  window.__lastEvent = 0; window.__imgAt = 0;
  for (const t of ["keydown", "pointermove"]) window.addEventListener(t, (e) => { window.__lastEvent = e.timeStamp; }, true);
  new MutationObserver(() => { window.__imgAt = performance.now(); })
    .observe(document.body, { subtree: true, attributes: true, attributeFilter: ["src"] });
}"""


def record_sent(page) -> list:
    """Every websocket message the browser sends from now on (a Streamlit rerun is one of them).
    Call before ``page.goto`` so the app's socket is seen opening."""
    sent: list = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    return sent


def open_explorer(page, url: str, timeout_ms: float = 120_000):
    """The Latent space page with its VAE trained (pressing "Train the VAE" if the cache has
    none) and the probes installed; returns the explorer's locator."""
    page.goto(f"{url}/latent_space")
    train = page.get_by_role("button", name="Train the VAE")
    explorer = page.locator(EXPLORER)
    train.or_(explorer).first.wait_for(timeout=timeout_ms)
    if train.count():
        train.click()
    explorer.wait_for(timeout=timeout_ms)
    wait_idle(page, timeout_ms)
    page.wait_for_timeout(600)
    page.evaluate(PROBES)
    return explorer


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
    page.wait_for_timeout(1100)
    wait_idle(page)

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
    page.wait_for_timeout(1100)
    wait_idle(page)
    return {"keys": keys, "drags": drags, "sent_during_drag": during, "sent_after_release": len(sent) - sent_before - during}


def on_server(page) -> list[float]:
    """The server-side fragment (numpy decode): key press -> the decoded <img> replaced (src changed in the page)."""
    page.get_by_text("Decode in the browser", exact=False).click()
    page.wait_for_timeout(100)
    wait_idle(page)
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="KL").first.get_by_role("slider")
    slider.focus()
    out = []
    for i in range(N // 2):
        page.evaluate("() => { window.__imgAt = 0; }")
        page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
        page.wait_for_function("() => window.__imgAt > window.__lastEvent", timeout=30_000)
        out.append(page.evaluate("() => window.__imgAt - window.__lastEvent"))
        wait_idle(page)
        page.wait_for_timeout(300)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--screenshot", help="save a PNG of the explorer here")
    ap.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "BENCHMARKS.md"),
                    help="markdown file whose 'Latent explorer' section to refresh ('-': print only)")
    args = ap.parse_args()
    if playwright_api() is None:
        return 1
    with tempfile.TemporaryDirectory() as cache:
        log = Path(tempfile.mkdtemp(prefix="latent-bench-")) / "streamlit.log"
        env = {"VAEIMB_CACHE_DIR": cache, "VAEIMB_APP_PRESET": "tiny", "VAEIMB_THREADS": "1"}
        try:
            with app_server(env, log) as server, chromium_page(CHROMIUM, height=1600, timeout_ms=120_000) as page:
                sent = record_sent(page)
                open_explorer(page, server.url)
                if args.screenshot:
                    page.locator(EXPLORER).screenshot(path=args.screenshot)
                r = in_browser(page, sent)
                server_ms = on_server(page)
        except StartError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    med = statistics.median
    now = utc_now()
    met = med(r["drags"]) <= 20 and med(r["keys"]) <= 20 and r["sent_during_drag"] == 0
    lines = [
        "## Latent explorer", "",
        f"Measured {now} on {cpu_name()} by `python bench/latent_bench.py`: the real app (tiny preset) in "
        "headless Chromium, latency from the input event to the new canvas image measured with "
        "`performance.now()` in the page; reruns counted as messages from the browser on the app's websocket.", "",
        *markdown_table(["latent explorer (headless Chromium, tiny preset)", "median", "max", "reruns"], [
            (f"key press -> canvas, decoded in the browser ({N} presses)", f"{med(r['keys']):.1f} ms",
             f"{max(r['keys']):.1f} ms", "1 per release"),
            (f"drag step -> canvas, decoded in the browser ({N} steps)", f"{med(r['drags']):.1f} ms",
             f"{max(r['drags']):.1f} ms",
             f"{r['sent_during_drag']} during the drag ({r['sent_after_release']} message(s) after release)"),
            (f"key press -> image, server-side fragment ({len(server_ms)} presses)", f"{med(server_ms):.0f} ms",
             f"{max(server_ms):.0f} ms", "1 per step"),
        ]),
        "", f"Target: <= 20 ms per step, 0 reruns while dragging -> {'met' if met else 'NOT met'}.",
    ]
    publish(args.output, "latent", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
