"""End to end: the latent explorer decodes in the browser, with no Streamlit rerun while dragging.

A real `streamlit run app.py` (tiny preset) and headless Chromium: train the VAE on the
Latent space page, press an arrow key on a focused latent slider and drag another, and check
the canvas pixels change at each step while the browser sends nothing to the server (every
rerun is a message from the browser on the app's websocket). Only the release sends the code.
The step-to-canvas latency is printed and recorded, never asserted (timing is for bench/).
The server log and the last page go to test-artifacts/ (conftest.py's ``tiny_server``, ``tiny_page``).
"""

from __future__ import annotations

import statistics

import pytest

from bench.browser import wait_idle
from bench.latent_bench import open_explorer, record_sent

pytestmark = pytest.mark.e2e  # Chromium and Playwright come from the chromium_path fixture (conftest.py)

# The canvas as 28x28 grey levels (the centre of each drawn pixel).
CANVAS_PIXELS = """(root) => {
  const c = root.querySelector("canvas[role=img]");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data, s = c.width / 28, out = [];
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) out.push(d[4 * ((y * s + s / 2) * c.width + x * s + s / 2)]);
  return out;
}"""


def draws(explorer) -> int:
    return int(explorer.get_attribute("data-draws"))


def step_latency(page, explorer) -> float:
    """ms from the last key/pointer event to the canvas being redrawn (in-page clocks)."""
    return page.evaluate("(r) => parseFloat(r.dataset.drawnAt) - window.__lastEvent", explorer.element_handle())


def test_slider_steps_redraw_the_canvas_without_a_rerun(tiny_page, tiny_server, record_property):
    page = tiny_page
    sent = record_sent(page)
    explorer = open_explorer(page, tiny_server)
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
    page.wait_for_timeout(1100)  # the released key sends its code once (after a short delay) ...
    wait_idle(page)
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
    sent_before = len(sent)
    frames, latencies = [page.evaluate(CANVAS_PIXELS, explorer.element_handle())], []
    for i in range(1, 11):
        before = draws(explorer)
        page.mouse.move(min(box["x"] + box["width"] - 2, x + 12 * i) if x < box["x"] + box["width"] / 2 else x - 12 * i, y)
        page.wait_for_function("([r, n]) => parseInt(r.dataset.draws) > n", arg=[explorer.element_handle(), before])
        latencies.append(step_latency(page, explorer))
        frames.append(page.evaluate(CANVAS_PIXELS, explorer.element_handle()))
    sent_during_drag = len(sent) - sent_before
    page.mouse.up()
    assert sent_during_drag == 0, "the browser talked to the server while dragging"
    assert sum(a != b for a, b in zip(frames, frames[1:])) >= 8  # the image followed the drag
    assert page.locator('[data-testid="stException"]').count() == 0

    page.wait_for_timeout(1000)
    assert len(sent) - sent_before >= 1  # the release sent the code back: one rerun
    median = statistics.median(latencies)
    record_property("key_to_canvas_ms", round(key_ms, 2))
    record_property("drag_step_to_canvas_ms_median", round(median, 2))
    print(f"latent explorer: key -> canvas {key_ms:.2f} ms; drag step -> canvas median {median:.2f} ms "
          f"over {len(latencies)} steps; 0 messages to the server during the drag")
