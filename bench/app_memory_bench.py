"""App server memory during and after the default Run (empty cache), with the app training
in worker processes (its default on 2+ cores) and, for comparison, in-process
(``VAEIMB_APP_WORKERS=0``, how the app trained before).

Runs the real ``streamlit run app.py`` on all cores, drives Debian's Chromium with
Playwright, presses Run on the default settings and samples the server's resident memory
(VmRSS) every 0.2 s; "after" is read 10 s after the results are drawn. The workers' own
memory is reported beside it (they exit when the run ends). Refreshes the "app-memory"
section of BENCHMARKS.md.

    .venv/bin/python bench/app_memory_bench.py [--output BENCHMARKS.md] [--modes workers in-process]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.browser import CHROMIUM, MAIN, app_server, chromium_page, wait_idle  # noqa: E402
from bench.common import markdown_table, publish  # noqa: E402
from vaeimb.provenance import cpu_name, utc_now  # noqa: E402

TARGETS = {"peak during the Run": 1024, "after the Run": 600}


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (the workers and their helpers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = [int(c) for c in (task / "children").read_text().split()]
                out += kids
                todo += kids
        except OSError:
            continue
    return out


class Sampler(threading.Thread):
    """Peak RSS of the server, and of server + descendants, until stopped."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.peak_all, self.stop = pid, 0.0, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            own = rss_mb(self.pid)
            self.peak = max(self.peak, own)
            self.peak_all = max(self.peak_all, own + sum(rss_mb(c) for c in children(self.pid)))
            time.sleep(0.2)


def measure(mode: str, data_dir: str | None) -> dict[str, float]:
    env = {"VAEIMB_CACHE_DIR": tempfile.mkdtemp(prefix="vaeimb-mem-"), "VAEIMB_APP_WORKERS": None}
    if mode == "in-process":
        env["VAEIMB_APP_WORKERS"] = "0"
    if data_dir:
        env["VAEIMB_DATA_DIR"] = data_dir
    log = ROOT / "test-artifacts" / f"app-memory-{mode}.log"
    with app_server(env, log, half_the_cores=False) as server, chromium_page(CHROMIUM) as page:
        page.goto(server.url)
        main = page.locator(MAIN)
        main.get_by_role("button", name="Run").wait_for(timeout=120_000)
        wait_idle(page)
        time.sleep(2)
        idle = rss_mb(server.pid)
        sampler = Sampler(server.pid)
        sampler.start()
        t0 = time.perf_counter()
        main.get_by_role("button", name="Run").click()
        main.locator('[data-testid="stTable"]').first.wait_for(timeout=1_800_000)
        wait_idle(page, 1_800_000)
        seconds = time.perf_counter() - t0
        time.sleep(10)
        sampler.stop.set()
        sampler.join()
        return {"idle": idle, "peak": sampler.peak, "after": rss_mb(server.pid), "peak_all": sampler.peak_all,
                "seconds": seconds}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"), help="markdown file ('-': print only)")
    p.add_argument("--modes", nargs="+", default=["workers", "in-process"], choices=["workers", "in-process"])
    p.add_argument("--data-dir", default=None)
    a = p.parse_args()
    # heavy (torch, streamlit), and this process only drives the measured server: loaded after the arguments
    from vaeimb.training import usable_cores
    from vaeimb_app.settings import DEFAULTS

    rows = {m: measure(m, a.data_dir) for m in a.modes}
    lines = [
        "## App server memory",
        "",
        f"Measured {utc_now()} on {cpu_name()} ({usable_cores()} cores) by `python bench/app_memory_bench.py`: "
        "the real `streamlit run app.py` in headless Chromium, empty cache, the default settings "
        f"({', '.join(DEFAULTS['cfg_approaches'])}; {DEFAULTS['cfg_n_seeds']} seeds), Run pressed once. "
        "Server memory = the Streamlit process's VmRSS, sampled every 0.2 s; 'after' 10 s after the results "
        "are drawn. Workers = what the worker processes held on top, at the peak (they exit after the run).",
        "",
    ]
    header = ["training", "server idle (MB)", "server peak during Run (MB)", "target", "server after Run (MB)",
              "target", "server + workers peak (MB)", "Run (s)"]
    peak, after = TARGETS["peak during the Run"], TARGETS["after the Run"]
    lines += markdown_table(header, [
        ("worker processes (default)" if mode == "workers" else "in-process (before)", f"{r['idle']:.0f}",
         f"{r['peak']:.0f}", f"≤ {peak}: {'yes' if r['peak'] <= peak else 'NO'}", f"{r['after']:.0f}",
         f"≤ {after}: {'yes' if r['after'] <= after else 'NO'}", f"{r['peak_all']:.0f}", f"{r['seconds']:.0f}")
        for mode, r in rows.items()])
    publish(a.output, "app-memory", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
