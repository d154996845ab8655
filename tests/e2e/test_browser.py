"""End to end: the real `streamlit run app.py` server driven by headless Chromium.

Sets a tiny config through the sidebar widgets, presses Run, checks the results table,
moves a latent slider and checks the decoded image was redrawn, runs a small sweep, opens the
Atlas page on the tiny atlas of tests/data (a cell click, a copied link), and saves a
screenshot of each page to test-artifacts/screenshots/ (nothing outside test-artifacts/:
the README's screenshots come from ``python bench/screenshots.py``).
"""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qs, urljoin, urlparse

import pytest

try:
    import playwright.sync_api as playwright_api
except ModuleNotFoundError as err:
    why = f"playwright not installed ({err}): pip install -r requirements-dev.txt"
    if os.environ.get("CI"):  # CI must run this test: a missing playwright fails it, like a missing Chromium
        pytest.fail(f"{why}; the browser test must run in CI", pytrace=False)
    pytest.skip(why, allow_module_level=True)
expect = playwright_api.expect

from bench.browser import (  # noqa: E402  (after the playwright check)
    MAIN,
    TEST_ARTIFACTS,
    go_to,
    screenshot,
    type_number,
    wait_for_charts,
    wait_idle,
)

pytestmark = pytest.mark.e2e

SHOTS = TEST_ARTIFACTS / "screenshots"
TINY_WIDGETS = {  # label -> value, typed into the sidebar like a user would
    "Majority count": 300, "Minority count": 20, "Seeds": 1, "Training steps": 30, "Generator latent size": 6,
}
TINY_ADVANCED = {"Batch size": 32, "Generator training steps": 20, "Generator batch size": 16, "Learning-curve checkpoints": 3}
RECIPE = "gen=smote,batches=balanced"  # a custom recipe; its generator-free twin is oversample


def test_run_explore_and_screenshot_every_page(page, server):
    page.goto(server)
    page.get_by_text("Does a VAE beat oversampling").wait_for()
    for label, value in TINY_WIDGETS.items():
        type_number(page, label, value)
    page.locator('[data-testid="stSidebar"]').get_by_text("Advanced", exact=True).click()
    for label, value in TINY_ADVANCED.items():
        type_number(page, label, value)
    recipes = page.locator('[data-testid="stSidebar"] textarea[aria-label="Custom recipes (one per line)"]')
    recipes.fill(RECIPE)
    recipes.press("Control+Enter")  # a text area commits on Ctrl+Enter
    wait_idle(page)
    main = page.locator(MAIN)
    main.get_by_text("300/20").wait_for()  # the setup caption reflects what was typed

    # the URL holds the view: a copied link opens the same settings for someone else
    # (a new browser context: its own Streamlit session, nothing shared but the link)
    someone_else = page.context.browser.new_context()
    other = someone_else.new_page()
    other.goto(page.url)
    other.locator(MAIN).get_by_text("300/20").wait_for(timeout=60_000)
    assert RECIPE in other.locator(MAIN).inner_text()  # the setup caption lists the approaches
    someone_else.close()

    main.get_by_role("button", name="Run").click()
    table = main.locator('[data-testid="stTable"]').first
    table.wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    text = table.inner_text()
    assert "oversample" in text and "vae" in text and "oracle" in text and RECIPE in text
    assert re.search(r"oversample\s+\d+(\.\d+)?", text), text  # its misclassified count
    assert wait_for_charts(page, 8) == 8  # bars, six confusion matrices, curves: drawn, not placeholders
    assert main.get_by_text("Traceback").count() == 0
    screenshot(page, SHOTS / "experiment.png")

    go_to(page, "Latent space")  # the explorer in detail: test_latent_explorer.py
    explorer = main.locator('[data-testid="latent-explorer"]')
    explorer.wait_for(timeout=60_000)
    draws = int(explorer.get_attribute("data-draws"))
    explorer.locator('input[type="range"]').first.focus()
    page.keyboard.press("ArrowRight")
    expect(explorer).not_to_have_attribute("data-draws", str(draws))  # the decoded image was redrawn
    assert wait_for_charts(page) >= 1  # the latent map, drawn
    screenshot(page, SHOTS / "latent_space.png")

    go_to(page, "Sweep")
    main.get_by_role("button", name="Run sweep").wait_for()
    for chip in ("0.50%", "1%", "2%", "5%", "50%", "vae"):  # keep 10 % and 25 %, baseline and oversample
        main.get_by_role("button", name=f"Remove {chip}", exact=True).click()
        wait_idle(page)
    main.get_by_role("button", name="Run sweep").click()
    wait_idle(page, 120_000)
    assert wait_for_charts(page, 1, timeout_ms=120_000) == 1
    assert "oversample" in main.locator(".js-plotly-plot").inner_text()
    screenshot(page, SHOTS / "sweep.png")

    go_to(page, "About")
    main.get_by_text("The original experiment").wait_for()
    assert "70 of 1938" in main.inner_text()
    screenshot(page, SHOTS / "about.png")


#: A generous wait for the Atlas test: it runs after the training test, on a busy small machine.
SLOW = 120_000


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the main area's select box ``label`` the way a user does."""
    page.locator(MAIN).locator('[data-testid="stSelectbox"]').filter(has_text=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page, SLOW)


def chosen(page, label: str) -> str:
    """What the main area's select box ``label`` shows."""
    return page.locator(MAIN).get_by_label(label, exact=True).input_value()


def test_atlas_map_selects_a_pair_and_its_link_reopens_the_view(page, server):
    page.goto(server)
    page.get_by_text("Does a VAE beat oversampling").wait_for()
    go_to(page, "Atlas", SLOW)
    main = page.locator(MAIN)
    assert wait_for_charts(page, 1, SLOW) == 1
    assert main.locator(".js-plotly-plot g.hm image").count() == 1  # the heatmap is drawn, not a placeholder
    main.get_by_text("undecided on").wait_for()
    choose(page, "Approach A", "baseline")
    choose(page, "Approach B", "vae")
    choose(page, "Minority ratio", "5%")
    wait_for_charts(page, 1, SLOW)
    query = parse_qs(urlparse(page.url).query)
    assert (query["atlas_a"], query["atlas_b"], query["atlas_ratio"]) == (["baseline"], ["vae"], ["0.05"])

    # click the first cell with data (0 vs 6): the pair's seeds and its Experiment link appear
    cell = main.locator(".scatterlayer .trace").last.locator("path.point").first
    box = cell.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_idle(page, SLOW)
    main.get_by_text("Majority 0 vs minority 6 at ratio 5%", exact=True).wait_for()
    main.locator('[data-testid="stDataFrame"]').wait_for()  # its seeds
    assert main.get_by_text("Traceback").count() == 0
    screenshot(page, SHOTS / "atlas.png")
    link = main.get_by_role("link", name=re.compile("Open 0 vs 6 on the Experiment page"))
    experiment_url = urljoin(page.url, link.get_attribute("href"))

    # someone else opens the copied URL: the same approaches and ratio are selected
    someone_else = page.context.browser.new_context()
    other = someone_else.new_page()
    other.goto(page.url)
    wait_for_charts(other, 1, SLOW)
    assert (chosen(other, "Approach A"), chosen(other, "Approach B"), chosen(other, "Minority ratio")) == (
        "baseline", "vae", "5%")
    # and the cell's link opens that experiment at the atlas's budget
    other.goto(experiment_url)
    other.locator(MAIN).get_by_text("0 vs 6, 300/15").wait_for(timeout=60_000)
    someone_else.close()
