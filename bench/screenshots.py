"""The README's screenshots: every page of the real app on the reference setup, with results.

Starts ``streamlit run app.py`` (headless, loopback, a free port), drives headless Chromium
with Playwright on the app's default settings (0 vs 6, 5000/100, clean protocol, its default
approaches and seeds), presses Run and waits for every result, then saves Experiment, Latent space, Sweep (a small sweep: three
ratios, three approaches) and About as PNG files. Training takes a few minutes the first
time; with the results in the cache (``--cache-dir``) it takes seconds.

    .venv/bin/python bench/screenshots.py [--out docs/screenshots] [--cache-dir DIR] [--timeout S] [--tiny]
    .venv/bin/python bench/screenshots.py --longtail [--cache-dir DIR]   # the long tail's Experiment page only

``--longtail`` opens a link to the long tail (DeepSMOTE's counts, five seeds, its reference
approaches: ``python bench/longtail_bench.py reference`` fills the cache it reads) and saves
``longtail.png``; it presses Run if the results are not cached.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.browser import (  # noqa: E402
    CHROMIUM,
    MAIN,
    StartError,
    app_server,
    chromium_page,
    go_to,
    playwright_api,
    screenshot,
    wait_for_charts,
    wait_idle,
)

#: The sweep shown: 2 % is the reference setup itself (a cache hit after Run), 10 % and 25 %
#: show the trend; baseline, oversample and vae are the page's default approaches.
SWEEP_RATIOS = (0.02, 0.1, 0.25)


def _ratio_chip(r: float) -> str:
    """The label the Sweep page gives a ratio (see pages/3_sweep.py)."""
    return f"{r:.2%}".replace(".00%", "%")


def capture(url: str, out: Path, chromium: str, timeout_s: float) -> list[Path]:
    """Drive every page and save its screenshot under ``out``."""
    from vaeimb.studies.sweep import DEFAULT_RATIOS

    wait_ms = timeout_s * 1000
    shots = []
    with chromium_page(chromium, height=1800, timeout_ms=60_000) as page:
        main = page.locator(MAIN)
        page.goto(url)
        page.get_by_text("Does a VAE beat oversampling").wait_for()
        wait_idle(page)  # finished results already in the cache show without Run
        table = main.locator('[data-testid="stTable"]').first
        if not table.is_visible():
            t = time.monotonic()
            main.get_by_role("button", name="Run").click()
            table.wait_for(timeout=wait_ms)
            wait_idle(page, wait_ms)
            print(f"trained in {time.monotonic() - t:.0f} s", file=sys.stderr)
            go_to(page, "About")  # away and back: the page as any visitor sees the finished config
            go_to(page, "Experiment / Results", wait_ms)
        wait_for_charts(page)
        if main.get_by_text("Traceback").count():
            raise RuntimeError("the Experiment page shows a traceback")
        shots.append(screenshot(page, out / "experiment.png"))

        go_to(page, "Latent space", wait_ms)
        main.locator('[data-testid="latent-explorer"]').wait_for(timeout=wait_ms)  # sliders + decoded image
        wait_for_charts(page, timeout_ms=wait_ms)
        shots.append(screenshot(page, out / "latent_space.png"))

        go_to(page, "Sweep")
        main.get_by_role("button", name="Run sweep").wait_for()
        for r in DEFAULT_RATIOS:
            if r not in SWEEP_RATIOS:
                main.get_by_role("button", name=f"Remove {_ratio_chip(r)}", exact=True).click()
                wait_idle(page)
        run_sweep = main.get_by_role("button", name="Run sweep")
        if main.locator('[data-testid="stPlotlyChart"]').count() == 0:  # not all points cached yet
            t = time.monotonic()
            run_sweep.click()
            wait_for_charts(page, 1, timeout_ms=wait_ms)
            wait_idle(page, wait_ms)
            print(f"sweep trained in {time.monotonic() - t:.0f} s", file=sys.stderr)
        wait_for_charts(page, 1, timeout_ms=wait_ms)
        shots.append(screenshot(page, out / "sweep.png"))

        go_to(page, "About")
        main.get_by_text("The original experiment").wait_for()
        shots.append(screenshot(page, out / "about.png"))
    return shots


def longtail_link() -> str:
    """The query string of the long tail's reference view (five seeds, its reference approaches)."""
    from urllib.parse import urlencode

    from vaeimb.declarations.task_kinds import TASK_KINDS
    from vaeimb_app.links import to_query
    from vaeimb_app.settings import defaults, task_switch

    state = {**defaults(), "cfg_task": "longtail", "cfg_n_seeds": 5}
    state.update(task_switch("pair", "longtail", state["cfg_protocol"]))
    state["cfg_approaches"] = list(TASK_KINDS["longtail"].reference_approaches)
    return urlencode(to_query(state))


def capture_longtail(url: str, out: Path, chromium: str, timeout_s: float) -> list[Path]:
    """The Experiment page of the long tail's reference view."""
    wait_ms = timeout_s * 1000
    with chromium_page(chromium, height=3200, timeout_ms=60_000) as page:
        main = page.locator(MAIN)
        page.goto(f"{url}/?{longtail_link()}")
        page.get_by_text("Does a VAE beat oversampling").wait_for()
        wait_idle(page)
        table = main.locator('[data-testid="stTable"]').first
        if not table.is_visible():
            main.get_by_role("button", name="Run").click()
            table.wait_for(timeout=wait_ms)
            wait_idle(page, wait_ms)
        wait_for_charts(page)
        if main.get_by_text("Traceback").count():
            raise RuntimeError("the Experiment page shows a traceback")
        return [screenshot(page, out / "longtail.png")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"), help="folder for the PNG files")
    ap.add_argument("--cache-dir", default=None,
                    help="result cache the app uses (default: $VAEIMB_CACHE_DIR or the user cache)")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="seconds to wait for training (the Run, then the sweep); default %(default)s")
    ap.add_argument("--chromium", default=str(CHROMIUM))
    ap.add_argument("--longtail", action="store_true",
                    help="only the long tail's Experiment page (DeepSMOTE's counts, five seeds), as longtail.png")
    ap.add_argument("--tiny", action="store_true",
                    help="the tiny preset (VAEIMB_APP_PRESET=tiny) instead of the reference setup: a quick check")
    a = ap.parse_args()
    api = playwright_api()
    if api is None:
        return 1
    from vaeimb.running.cache import default_cache_dir

    env = {"VAEIMB_CACHE_DIR": str(a.cache_dir or default_cache_dir()),
           "VAEIMB_APP_PRESET": "tiny" if a.tiny else None}
    log = Path(tempfile.mkdtemp(prefix="screenshots-")) / "streamlit.log"
    try:
        with app_server(env, log, half_the_cores=False) as server:
            shots = (capture_longtail if a.longtail else capture)(server.url, Path(a.out), a.chromium, a.timeout)
    except StartError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except api.TimeoutError as err:
        print(f"error: the page did not get there in time ({str(err).splitlines()[0]}); "
              f"raise --timeout, or see the server log {log}", file=sys.stderr)
        return 1
    for p in shots:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
