"""App server memory during and after the default Run (empty cache), and the server plus its
training processes at the Run's peak, as the app decides by itself on this machine
(``vaeimb_app.runs.app_workers``: a child process that trains, plus worker processes, one
per core as memory allows), with one training process (``VAEIMB_APP_WORKERS=1``), and
in-process (``VAEIMB_APP_WORKERS=0``); then on one core (``--one-core``: the server pinned
to one CPU like ``taskset -c 0``, where the app trains in-process by itself).

Runs the real ``streamlit run app.py``, drives Debian's Chromium with Playwright, presses
Run on the default settings (the page shows the shipped results before) and samples the
server's resident memory (VmRSS) every 0.2 s; "after" is read 10 s after the Run's results
are drawn. Server + workers = the server and every process below it, summed at the peak,
as resident memory (shared libraries counted once per process) and as proportional memory
(Pss: shared pages split between the processes sharing them, closer to what a container's
limit counts). Refreshes the "app-memory" and "app-one-core" sections of BENCHMARKS.md.

    .venv/bin/python bench/app_memory_bench.py [--output BENCHMARKS.md] [--modes rule one in-process] [--one-core]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.browser import CHROMIUM, MAIN, app_server, chromium_page, wait_idle  # noqa: E402
from bench.common import markdown_table, publish  # noqa: E402
from vaeimb.declarations.provenance import cpu_name, utc_now  # noqa: E402

#: Issue #17's targets (MB): the server 10 s after a default Run, the server and its
#: workers at the Run's peak, and the server throughout a Run on one core.
TARGETS = {"after": 700, "peak_all": 1536, "one_core_peak": 1024}
MODES = {"rule": None, "one": "1", "in-process": "0"}
LABELS = {"rule": "the app's own choice", "one": "one training process (`VAEIMB_APP_WORKERS=1`)",
          "in-process": "in the server (`VAEIMB_APP_WORKERS=0`)", "one-core": "one core: the app's own choice"}


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of ``pid`` (``RssAnon``: the part the kernel cannot drop under a
    limit, unlike the pages of shared libraries it can read back from disk)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def pss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def loaded_torch(pid: int) -> bool:
    """Whether the process has torch's library mapped."""
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


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
    """Peak RSS of the server, and of server + descendants (RSS and Pss), until stopped."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.peak_all, self.peak_pss, self.most, self.peak_child = pid, 0.0, 0.0, 0.0, 0, 0.0
        self.peak_anon = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            own = rss_mb(self.pid)
            kids = children(self.pid)
            self.most = max(self.most, len(kids))
            self.peak = max(self.peak, own)
            self.peak_anon = max(self.peak_anon, rss_mb(self.pid, "RssAnon"))
            theirs = [rss_mb(c) for c in kids]
            self.peak_child = max([self.peak_child, *theirs])
            self.peak_all = max(self.peak_all, own + sum(theirs))
            self.peak_pss = max(self.peak_pss, pss_mb(self.pid) + sum(pss_mb(c) for c in kids))
            time.sleep(0.2)


def measure(mode: str, data_dir: str | None) -> dict[str, float]:
    env = {"VAEIMB_CACHE_DIR": tempfile.mkdtemp(prefix="vaeimb-mem-"), "VAEIMB_APP_WORKERS": MODES.get(mode)}
    if data_dir:
        env["VAEIMB_DATA_DIR"] = data_dir
    log = ROOT / "test-artifacts" / f"app-memory-{mode}.log"
    cores = sorted(os.sched_getaffinity(0))
    if mode == "one-core":
        os.sched_setaffinity(0, cores[:1])  # the server inherits it, as under `taskset -c 0`
    try:
        server_cm = app_server(env, log, half_the_cores=False)
        server = server_cm.__enter__()
    finally:
        os.sched_setaffinity(0, cores)  # Chromium (the viewer's browser) runs elsewhere
    try:
        with chromium_page(CHROMIUM) as page:
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
            main.get_by_text("Finished:").first.wait_for(timeout=1_800_000)  # the Run's own status line
            main.locator('[data-testid="stTable"]').first.wait_for(timeout=1_800_000)
            wait_idle(page, 1_800_000)
            seconds = time.perf_counter() - t0
            if main.get_by_text("Shipped results:").count():
                raise RuntimeError("the shipped results are still shown after the Run")
            time.sleep(10)
            sampler.stop.set()
            sampler.join()
            return {"idle": idle, "peak": sampler.peak, "after": rss_mb(server.pid), "peak_all": sampler.peak_all,
                    "peak_pss": sampler.peak_pss, "processes": sampler.most, "peak_child": sampler.peak_child,
                    "peak_anon": sampler.peak_anon,
                    "seconds": seconds,
                    "torch": loaded_torch(server.pid)}
    finally:
        server_cm.__exit__(None, None, None)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"), help="markdown file ('-': print only)")
    p.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    p.add_argument("--one-core", action="store_true", help="also the default Run with the server on one core")
    p.add_argument("--data-dir", default=None)
    a = p.parse_args()
    # this process only drives the measured server: loaded after the arguments
    from vaeimb.running.resources import memory_limit_bytes, usable_cores
    from vaeimb_app.runs import app_workers
    from vaeimb_app.settings import DEFAULTS

    os.environ.pop("VAEIMB_APP_WORKERS", None)
    chosen = app_workers()
    memory = memory_limit_bytes()
    where = (f"{cpu_name()} ({usable_cores()} cores, {memory / 2**30:.1f} GB the app may use), torch "
             f"{_torch_version()} (the default CUDA wheel)")
    setup = (f"the real `streamlit run app.py` in headless Chromium, empty cache, the default settings "
             f"({', '.join(DEFAULTS['cfg_approaches'])}; {DEFAULTS['cfg_n_seeds']} seeds), Run pressed once")
    if a.modes:
        rows = {m: measure(m, a.data_dir) for m in a.modes}
        lines = [
            "## App server memory",
            "",
            f"Measured {utc_now()} on {where} by `python bench/app_memory_bench.py`: {setup}. Server = the "
            "Streamlit process's VmRSS, sampled every 0.2 s; 'after' 10 s after the Run's results are drawn. "
            "Server + workers = the server and every process below it (the Run's child process and its "
            "worker processes), summed at the peak: RSS counts the shared libraries once per process, Pss "
            f"splits them. On this machine the app's own choice is {chosen} training process(es) "
            "(`vaeimb_app.runs.app_workers`). The machine was shared with other work: seconds are indicative.",
            "",
        ]
        header = ["training", "server idle (MB)", "server peak (MB)", "server after Run (MB)",
                  f"≤ {TARGETS['after']}", "server + workers peak, RSS (MB)", f"≤ {TARGETS['peak_all']}",
                  "same, Pss (MB)", "processes below the server", "largest of them, peak (MB)", "server loaded torch",
                  "Run (s)"]
        lines += markdown_table(header, [
            (LABELS[m], f"{r['idle']:.0f}", f"{r['peak']:.0f}", f"{r['after']:.0f}",
             "yes" if r["after"] <= TARGETS["after"] else "NO", f"{r['peak_all']:.0f}",
             "yes" if r["peak_all"] <= TARGETS["peak_all"] else "NO", f"{r['peak_pss']:.0f}", r["processes"],
             f"{r['peak_child']:.0f}" if r["processes"] else "", "yes" if r["torch"] else "no", f"{r['seconds']:.0f}")
            for m, r in rows.items()])
        publish(a.output, "app-memory", "\n".join(lines))
    if a.one_core:
        r = measure("one-core", a.data_dir)
        lines = [
            "## App on one core",
            "",
            f"Measured {utc_now()} on {where} by `python bench/app_memory_bench.py --one-core`: {setup}, the "
            "server pinned to one CPU as under `taskset -c 0` (so the app trains in-process by its own rule). "
            "Peak = the server's VmRSS, sampled every 0.2 s, from the click to 10 s after the results.",
            "",
        ]
        lines += markdown_table(
            ["what", "value", "target", "ok"],
            [("processes below the server during the Run", r["processes"], "0 (in-process)",
              "yes" if r["processes"] == 0 else "NO"),
             ("default Run, click to results (s)", f"{r['seconds']:.0f}", "", ""),
             ("server peak (MB)", f"{r['peak']:.1f}", f"≤ {TARGETS['one_core_peak']}",
              "yes" if r["peak"] <= TARGETS["one_core_peak"] else "NO"),
             ("of it anonymous memory, peak (MB; the rest are library pages a limit can evict)",
              f"{r['peak_anon']:.0f}", "", ""),
             ("server 10 s after the Run (MB)", f"{r['after']:.0f}", "", "")])
        publish(a.output, "app-one-core", "\n".join(lines))
    return 0


def _torch_version() -> str:
    from importlib.metadata import version

    return version("torch")


if __name__ == "__main__":
    sys.exit(main())
