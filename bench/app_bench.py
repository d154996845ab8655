"""Dashboard benchmark: cold first paint, redraw of a finished config, and the server's peak
memory while serving one finished reference experiment (the latent explorer's redraw is
measured by bench/latent_bench.py).

Runs the real ``streamlit run app.py`` on a loopback port and drives Debian's Chromium with
Playwright. The reference experiment (default settings, one seed) is trained first into the
cache (or found there). Refreshes the "Dashboard" section of BENCHMARKS.md.

    .venv/bin/python bench/app_bench.py [--cache-dir DIR] [--output BENCHMARKS.md]

``--startup`` measures instead how soon a fresh install answers: from ``streamlit run``'s
start (empty cache, the browser already open) to the first page drawn, and to the shipped
results drawn; refreshes the "app-startup" section.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.browser import (  # noqa: E402
    CHROMIUM,
    MAIN,
    app_server,
    chromium_page,
    go_to,
    wait_for_charts,
    wait_idle,
)
from bench.common import markdown_table, publish  # noqa: E402
from vaeimb.declarations.provenance import cpu_name, utc_now  # noqa: E402

TARGETS = {
    "server: finished experiment page rerun after a page switch (s)": 1.0,
    "first paint, cold (s)": 5.0,
    "finished reference experiment redrawn (s)": 1.0,
    "server peak RSS serving the finished experiment (MB)": 1024,
}


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def prepare(cache_dir: str) -> None:
    """Train (or find) what the app shows on its default settings: the reference setup, its
    default approaches and seeds."""
    from vaeimb import ExperimentConfig, ResultCache, run_experiment
    from vaeimb_app.settings import DEFAULTS

    t = time.perf_counter()
    run_experiment(ExperimentConfig(), DEFAULTS["cfg_approaches"], seeds=range(DEFAULTS["cfg_n_seeds"]),
                   cache=ResultCache(cache_dir))
    print(f"reference experiment ready in {time.perf_counter() - t:.1f} s", file=sys.stderr)


def measure_server(cache_dir: str) -> dict[str, float]:
    """Script time alone (no browser), with Streamlit's AppTest: median of five reruns."""
    os.environ["VAEIMB_CACHE_DIR"] = cache_dir
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    if not at.table:  # the finished result is loaded from disk on first sight
        next(b for b in at.button if b.label == "Run").click().run()

    def switch_back():
        at.switch_page("pages/4_about.py").run()
        at.switch_page("pages/1_experiment.py")
        t = time.perf_counter()
        at.run()
        return time.perf_counter() - t

    return {"server: finished experiment page rerun after a page switch (s)": sorted(switch_back() for _ in range(5))[2]}


def measure(cache_dir: str, chromium: str) -> dict[str, float]:
    log = Path(tempfile.mkdtemp(prefix="app-bench-")) / "streamlit.log"
    out: dict[str, float] = {}
    with app_server({"VAEIMB_CACHE_DIR": cache_dir}, log, half_the_cores=False) as server, \
            chromium_page(chromium, height=1600, timeout_ms=120_000) as page:
        t = time.perf_counter()
        page.goto(server.url)
        page.get_by_text("Does a VAE beat oversampling").wait_for()
        out["first paint, cold (s)"] = time.perf_counter() - t

        main = page.locator(MAIN)
        wait_idle(page, 120_000)  # the finished result is loaded from disk on first sight
        table = main.locator('[data-testid="stTable"]').first
        if not table.is_visible() or main.get_by_text("Shipped results:").count():  # the user's own, not shipped
            main.get_by_role("button", name="Run").click()
            main.get_by_text("Finished:").first.wait_for()
        table.wait_for()
        wait_idle(page, 600_000)
        nav = page.locator('[data-testid="stSidebarNav"]')
        go_to(page, "About")  # one untimed visit away and back: the page as a finished config shows it
        go_to(page, "Experiment / Results")
        wait_idle(page)  # the rerun finished: every chart is on the page, not only the first ones
        n_charts = wait_for_charts(page)  # every chart of the finished page, drawn
        # switch away and back: the finished config must redraw from memory
        go_to(page, "About")
        main.get_by_text("The original experiment").wait_for()
        t = time.perf_counter()
        nav.get_by_text("Experiment / Results", exact=True).click()
        main.locator('[data-testid="stTable"]').first.wait_for()
        wait_for_charts(page, n_charts)
        out["finished reference experiment redrawn (s)"] = time.perf_counter() - t
        wait_idle(page)

        out["server peak RSS serving the finished experiment (MB)"] = _peak_rss_mb(server.pid)
    return out


STARTUP_TARGET_S = 3.0


def measure_startup(chromium: str, data_dir: str | None) -> dict:
    """Seconds from ``streamlit run`` to the first page drawn and to the shipped results drawn
    (a fresh install: empty cache), and whether the server loaded torch for them."""
    env = {"VAEIMB_CACHE_DIR": tempfile.mkdtemp(prefix="vaeimb-startup-"), "VAEIMB_APP_PRESET": None,
           "VAEIMB_APP_WORKERS": None, "VAEIMB_DATA_DIR": data_dir}
    log = Path(tempfile.mkdtemp(prefix="app-startup-")) / "streamlit.log"
    out: dict = {}
    with chromium_page(chromium, height=1600, timeout_ms=120_000) as page:
        page.goto("about:blank")  # the browser is up before the clock starts
        t = time.perf_counter()
        with app_server(env, log, half_the_cores=False) as server:
            out["server answering (s)"] = time.perf_counter() - t
            page.goto(server.url)
            page.get_by_text("Does a VAE beat oversampling").wait_for()
            out["first page drawn, from the server's start (s)"] = time.perf_counter() - t
            main = page.locator(MAIN)
            main.get_by_text("Shipped results:").first.wait_for()
            main.locator('[data-testid="stTable"]').first.wait_for()
            out["shipped results drawn: verdict, table (s)"] = time.perf_counter() - t
            wait_idle(page, 120_000)
            out["whole page drawn: every chart and the gallery (s)"] = time.perf_counter() - t
            maps = Path(f"/proc/{server.pid}/maps").read_text()
            out["server loaded torch"] = "libtorch" in maps
            with open(f"/proc/{server.pid}/status") as f:
                out["server resident memory then (MB)"] = next(int(l.split()[1]) / 1024 for l in f if l.startswith("VmRSS:"))
    return out


def startup_main(a) -> int:
    res = measure_startup(a.chromium, a.data_dir)
    lines = ["## App start-up", "", f"Measured {utc_now()} on {cpu_name()} ({len(os.sched_getaffinity(0))} cores) by "
             "`python bench/app_bench.py --startup`: a fresh install (empty result cache, MNIST on disk), the "
             "clock started when `streamlit run app.py` is started, headless Chromium already open; the first "
             "page is drawn when its title shows, the shipped results when their label and table show, the whole "
             "page when the script run ends. One measurement, on a machine shared with other work.", ""]
    rows = []
    for k, v in res.items():
        if isinstance(v, bool):
            rows.append((k, "yes" if v else "no", "no", "yes" if not v else "NO"))
        elif k.startswith("first page"):
            rows.append((k, f"{v:.2f}", f"≤ {STARTUP_TARGET_S:g}", "yes" if v <= STARTUP_TARGET_S else "NO"))
        else:
            rows.append((k, f"{v:.2f}" if k.endswith("(s)") else f"{v:.0f}", "", ""))
    lines += markdown_table(["what", "value", "target", "ok"], rows, "lrrc")
    publish(a.output, "app-startup", "\n".join(lines) + "\n")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", default=None, help="result cache (default: $VAEIMB_CACHE_DIR or the user cache)")
    ap.add_argument("--chromium", default=str(CHROMIUM))
    ap.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"), help="markdown file whose Dashboard section to refresh ('-': none)")
    ap.add_argument("--startup", action="store_true", help="measure the start-up of a fresh install instead")
    ap.add_argument("--data-dir", default=os.environ.get("VAEIMB_DATA_DIR"), help="MNIST folder (--startup)")
    a = ap.parse_args()
    if a.startup:
        return startup_main(a)
    from vaeimb.running.cache import default_cache_dir

    cache_dir = str(a.cache_dir or default_cache_dir())
    prepare(cache_dir)
    res = {**measure_server(cache_dir), **measure(cache_dir, a.chromium)}
    now = utc_now()
    lines = ["## Dashboard", "", f"Measured {now} on {cpu_name()} ({len(os.sched_getaffinity(0))} cores) by "
             "`python bench/app_bench.py`: the real `streamlit run app.py` "
             "driven by headless Chromium, the app's default settings (reference setup, its default "
             "approaches and seeds), finished results in the disk cache. The 'server' row times the "
             "script alone (Streamlit's AppTest, median of five). The browser rows include the "
             "websocket round trip and rendering: the redraw waits for the results table and for "
             "every one of the page's Plotly charts to be drawn. The latent explorer is measured by "
             "`python bench/latent_bench.py`.", ""]
    lines += markdown_table(["what", "value", "target", "ok"], [
        (k, f"{v:.3f}", f"< {TARGETS[k]:g}", "yes" if v < TARGETS[k] else "NO") for k, v in res.items()], "lrrc")
    publish(a.output, "dashboard", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
