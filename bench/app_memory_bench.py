"""App server memory during and after the default Run (empty cache), and the server plus its
training processes at the Run's peak, as the app decides by itself on this machine
(``vaeimb_app.runs.app_workers``: a child process that trains, plus worker processes, one
per core as memory allows), with one training process (``VAEIMB_APP_WORKERS=1``), and
in-process (``VAEIMB_APP_WORKERS=0``); then on one core (``--one-core``: the server pinned
to one CPU like ``taskset -c 0``); then two tabs pressing Run on the same new settings
(``--two-tabs``) against one Run alone.

Runs the real ``streamlit run app.py``, drives Debian's Chromium with Playwright, presses
Run on the default settings (the page shows the shipped results before) and samples every
0.2 s the server's resident memory (VmRSS) and proportional memory (Pss, from
``/proc/PID/smaps_rollup``: shared pages split between the processes sharing them, closer
to what a container's limit counts), and the same for every process below it (the Run's
child and its workers, each role's peak apart); "after" is read 10 s after the Run's
results are drawn, and with ``--pages`` again after visiting every page of the app.
Refreshes the "app-memory", "app-one-core" and "app-two-tabs" sections of BENCHMARKS.md.

    .venv/bin/python bench/app_memory_bench.py [--output BENCHMARKS.md] [--modes rule one in-process]
        [--pages] [--one-core] [--two-tabs]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.browser import CHROMIUM, MAIN, app_server, chromium_page, go_to, wait_idle  # noqa: E402
from bench.common import markdown_table, publish  # noqa: E402
from vaeimb.declarations.provenance import cpu_name, utc_now  # noqa: E402

#: Issue #17's and #24's targets (MB): the server 10 s after a default Run (RSS), the server
#: and its training processes at the Run's peak (Pss), the same on one core, and two tabs
#: pressing Run on the same new settings against one Run alone (times).
TARGETS = {"after": 700, "peak_pss": 1536, "one_core_peak_pss": 1024, "two_tabs_ratio": 1.2}
MODES = {"rule": None, "one": "1", "in-process": "0"}
LABELS = {"rule": "the app's own choice", "one": "one training process (`VAEIMB_APP_WORKERS=1`)",
          "in-process": "in the server (`VAEIMB_APP_WORKERS=0`)", "one-core": "one core: the app's own choice"}
#: The pages a visitor opens after the Run (``--pages``), by their navigation titles.
PAGES = ("Latent space", "Sweep", "Atlas", "About", "Experiment / Results")
#: How the processes below the server are told apart (their command lines).
CHILD_MARK, WORKER_MARK = "vaeimb-run", "vaeimb-worker"


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
    """Proportional set size of ``pid`` (``/proc/PID/smaps_rollup``), in MB."""
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


def role(pid: int) -> str:
    """"child" (a Run's driver), "worker" (a pool worker) or "other"."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "other"
    return "child" if CHILD_MARK.encode() in cmd else "worker" if WORKER_MARK.encode() in cmd else "other"


class Sampler(threading.Thread):
    """Peaks of the server alone (RSS, anonymous RSS, Pss), of server + descendants (RSS,
    Pss), and of one child and one worker process (Pss), until stopped."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.most = pid, 0
        self.peak = dict.fromkeys(("rss", "anon", "pss", "all_rss", "all_pss", "child_rss", "child_pss",
                                   "worker_pss"), 0.0)
        self.stop = threading.Event()

    def sample(self) -> None:
        kids = children(self.pid)
        self.most = max(self.most, len(kids))
        own_rss, own_pss = rss_mb(self.pid), pss_mb(self.pid)
        theirs = {c: (rss_mb(c), pss_mb(c), role(c)) for c in kids}
        now = {"rss": own_rss, "anon": rss_mb(self.pid, "RssAnon"), "pss": own_pss,
               "all_rss": own_rss + sum(r for r, _, _ in theirs.values()),
               "all_pss": own_pss + sum(p for _, p, _ in theirs.values()),
               "child_rss": max([r for r, _, _ in theirs.values()] or [0.0]),
               "child_pss": max([p for _, p, w in theirs.values() if w == "child"] or [0.0]),
               "worker_pss": max([p for _, p, w in theirs.values() if w == "worker"] or [0.0])}
        for k, v in now.items():
            self.peak[k] = max(self.peak[k], v)

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            time.sleep(0.2)


def _server(mode: str, data_dir: str | None):
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
    return server_cm, server


def _open(page, url: str):
    page.goto(url)
    main = page.locator(MAIN)
    main.get_by_role("button", name="Run").wait_for(timeout=120_000)
    wait_idle(page)
    return main


def _finished(page, main) -> str:
    """Wait for the Run's own status line and its table; return the table's text."""
    main.get_by_text("Finished:").first.wait_for(timeout=1_800_000)
    main.locator('[data-testid="stTable"]').first.wait_for(timeout=1_800_000)
    wait_idle(page, 1_800_000)
    if main.get_by_text("Shipped results:").count():
        raise RuntimeError("the shipped results are still shown after the Run")
    return main.locator('[data-testid="stTable"]').first.inner_text()


def measure(mode: str, data_dir: str | None, pages: bool = False) -> dict:
    server_cm, server = _server(mode, data_dir)
    try:
        with chromium_page(CHROMIUM) as page:
            main = _open(page, server.url)
            time.sleep(2)
            idle, idle_pss = rss_mb(server.pid), pss_mb(server.pid)
            sampler = Sampler(server.pid)
            sampler.start()
            t0 = time.perf_counter()
            main.get_by_role("button", name="Run").click()
            _finished(page, main)
            seconds = time.perf_counter() - t0
            time.sleep(10)
            sampler.stop.set()
            sampler.join()
            out = {"idle": idle, "idle_pss": idle_pss, **{f"peak_{k}": v for k, v in sampler.peak.items()},
                   "after": rss_mb(server.pid), "after_pss": pss_mb(server.pid), "processes": sampler.most,
                   "seconds": seconds, "torch": loaded_torch(server.pid)}
            if pages:
                visits = Sampler(server.pid)
                visits.start()
                for title in PAGES:
                    go_to(page, title, 300_000)
                    time.sleep(3)
                time.sleep(10)
                visits.stop.set()
                visits.join()
                out.update(pages_peak=visits.peak["rss"], pages_peak_pss=visits.peak["all_pss"],
                           pages_after=rss_mb(server.pid), pages_after_pss=pss_mb(server.pid),
                           pages_torch=loaded_torch(server.pid))
            return out
    finally:
        server_cm.__exit__(None, None, None)


def two_tabs(data_dir: str | None) -> dict:
    """One Run alone on a fresh cache, then two tabs pressing Run on the same new settings
    (another fresh cache, the same server kind): times (to the last table, and to each tab's),
    tables and the peak Pss."""
    out = {}
    for tabs in (1, 2):
        server_cm, server = _server("rule", data_dir)
        try:
            with chromium_page(CHROMIUM) as first:
                pages = [first] + [first.context.browser.new_page(viewport={"width": 1400, "height": 1800})
                                   for _ in range(tabs - 1)]
                mains = [_open(p, server.url) for p in pages]
                time.sleep(2)
                sampler = Sampler(server.pid)
                sampler.start()
                t0 = time.perf_counter()
                for main in mains:
                    main.get_by_role("button", name="Run").click()
                tables, each = [], []
                for p, m in zip(pages, mains):
                    tables.append(_finished(p, m))
                    each.append(time.perf_counter() - t0)
                seconds = time.perf_counter() - t0
                sampler.stop.set()
                sampler.join()
                statuses = [m.get_by_text("Finished:").first.inner_text() for m in mains]
                out[tabs] = {"seconds": seconds, "each": each, "same_table": len(set(tables)) == 1, "statuses": statuses,
                             "peak_pss": sampler.peak["all_pss"], "processes": sampler.most}
        finally:
            server_cm.__exit__(None, None, None)
    return out


def two_tabs_table(repeats: list[dict]) -> list[str]:
    """The markdown table of ``--two-tabs``: one row per repeat, then the median ratio
    against the target (a single repeat is its own median)."""
    ratios = [r[2]["seconds"] / r[1]["seconds"] for r in repeats]
    median = statistics.median(ratios)
    rows = []
    for i, (r, ratio) in enumerate(zip(repeats, ratios), 1):
        rows.append((i, f"{r[1]['seconds']:.0f}", f"{r[2]['seconds']:.0f} (" + ", ".join(f"{t:.0f}" for t in
                     r[2].get("each", [])) + ")", f"{ratio:.3f}×",
                     "yes" if r[2]["same_table"] else "NO", " / ".join(r[2]["statuses"]),
                     f"{r[1]['peak_pss']:.0f} / {r[2]['peak_pss']:.0f}", f"{r[1]['processes']} / {r[2]['processes']}"))
    lines = markdown_table(["repeat", "one tab: click to results (s)", "two tabs: click to both (each) (s)",
                            "ratio", "same table in both", "two tabs' status lines",
                            "server + training peak Pss, one / two tabs (MB)", "processes below the server, most"],
                           rows)
    ok = median <= TARGETS["two_tabs_ratio"] and all(r[2]["same_table"] for r in repeats)
    lines += ["", f"Median ratio over {len(ratios)} repeat(s): **{median:.3f}×** (range {min(ratios):.3f}-"
                  f"{max(ratios):.3f}); target ≤ {TARGETS['two_tabs_ratio']}× one tab and the same table in both: "
                  + ("**met**" if ok else "**MISSED**") + "."]
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"), help="markdown file ('-': print only)")
    p.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    p.add_argument("--pages", action="store_true", help="after each mode's Run, visit every page and measure again")
    p.add_argument("--one-core", action="store_true", help="also the default Run with the server on one core")
    p.add_argument("--two-tabs", action="store_true", help="also two tabs pressing Run on the same new settings")
    p.add_argument("--repeat", type=int, default=1,
                   help="--two-tabs: measure one tab then two tabs this many times (the target is judged on the "
                        "median ratio; every repeat is written down)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--note", default="The machine was shared with other work: seconds are indicative.",
                   help="what else ran on the machine during the measurement (written under each table)")
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
    shared = a.note
    if a.modes:
        rows = {m: measure(m, a.data_dir, a.pages) for m in a.modes}
        lines = [
            "## App server memory",
            "",
            f"Measured {utc_now()} on {where} by `python bench/app_memory_bench.py"
            f"{' --pages' if a.pages else ''}`: {setup}. Server = the Streamlit process, sampled every 0.2 s: "
            "VmRSS and Pss (`/proc/PID/smaps_rollup`: shared pages split between the processes sharing them); "
            "'after' 10 s after the Run's results are drawn. Server + training = the server and every process "
            "below it (the Run's child process and its worker processes), summed at the peak: RSS counts the "
            "shared libraries once per process, Pss splits them. Child and worker: one such process's peak "
            f"Pss. On this machine the app's own choice is {chosen} training process(es) "
            f"(`vaeimb_app.runs.app_workers`). {shared}",
            "",
        ]
        header = ["training", "server idle RSS / Pss (MB)", "server peak RSS / Pss (MB)",
                  "server after Run RSS / Pss (MB)", f"RSS ≤ {TARGETS['after']}", "server + training peak RSS (MB)",
                  "server + training peak Pss (MB)", f"Pss ≤ {TARGETS['peak_pss']}", "child peak Pss (MB)",
                  "worker peak Pss (MB)", "processes below the server", "server loaded torch", "Run (s)"]
        lines += markdown_table(header, [
            (LABELS[m], f"{r['idle']:.0f} / {r['idle_pss']:.0f}", f"{r['peak_rss']:.0f} / {r['peak_pss']:.0f}",
             f"{r['after']:.0f} / {r['after_pss']:.0f}", "yes" if r["after"] <= TARGETS["after"] else "NO",
             f"{r['peak_all_rss']:.0f}", f"{r['peak_all_pss']:.0f}",
             "yes" if r["peak_all_pss"] <= TARGETS["peak_pss"] else "NO",
             f"{r['peak_child_pss']:.0f}" if r["peak_child_pss"] else "", f"{r['peak_worker_pss']:.0f}" if
             r["peak_worker_pss"] else "", r["processes"], "yes" if r["torch"] else "no", f"{r['seconds']:.0f}")
            for m, r in rows.items()])
        if a.pages:
            lines += ["", "Then every page visited in turn (" + ", ".join(PAGES) + "), 3 s each, measured 10 s after "
                      "the last:", ""]
            lines += markdown_table(
                ["training", "server peak while visiting, RSS (MB)", "server + children peak Pss (MB)",
                 "server after every page RSS / Pss (MB)", "server loaded torch"],
                [(LABELS[m], f"{r['pages_peak']:.0f}", f"{r['pages_peak_pss']:.0f}",
                  f"{r['pages_after']:.0f} / {r['pages_after_pss']:.0f}", "yes" if r["pages_torch"] else "no")
                 for m, r in rows.items()])
        publish(a.output, "app-memory", "\n".join(lines))
    if a.one_core:
        r = measure("one-core", a.data_dir)
        lines = [
            "## App on one core",
            "",
            f"Measured {utc_now()} on {where} by `python bench/app_memory_bench.py --one-core`: {setup}, the "
            "server pinned to one CPU as under `taskset -c 0` (the app trains in one child process by its own "
            "rule, the server stays torch-free). Peaks sampled every 0.2 s from the click to 10 s after the "
            f"results. {shared}",
            "",
        ]
        lines += markdown_table(
            ["what", "value", "target", "ok"],
            [("processes below the server during the Run", r["processes"], "", ""),
             ("default Run, click to results (s)", f"{r['seconds']:.0f}", "", ""),
             ("server + training peak Pss (MB)", f"{r['peak_all_pss']:.0f}", f"≤ {TARGETS['one_core_peak_pss']}",
              "yes" if r["peak_all_pss"] <= TARGETS["one_core_peak_pss"] else "NO"),
             ("server + training peak RSS (MB)", f"{r['peak_all_rss']:.0f}", "", ""),
             ("server peak RSS / Pss (MB)", f"{r['peak_rss']:.0f} / {r['peak_pss']:.0f}", "", ""),
             ("server 10 s after the Run RSS / Pss (MB)", f"{r['after']:.0f} / {r['after_pss']:.0f}", "", ""),
             ("server loaded torch", "yes" if r["torch"] else "no", "", "")])
        publish(a.output, "app-one-core", "\n".join(lines))
    if a.two_tabs:
        repeats = [two_tabs(a.data_dir) for _ in range(max(1, a.repeat))]
        lines = [
            "## Two tabs, one Run",
            "",
            f"Measured {utc_now()} on {where} by `python bench/app_memory_bench.py --two-tabs"
            f"{f' --repeat {a.repeat}' if a.repeat > 1 else ''}`: {setup} in one tab; then, on a new server with "
            "another empty cache, two tabs pressing Run on the same settings one after the other (click to both "
            "tables; each tab's table in brackets). The second tab follows the first one's child process "
            f"(`vaeimb.interfaces.app_runs`): every job trains once. {shared}",
            "",
        ]
        lines += two_tabs_table(repeats)
        publish(a.output, "app-two-tabs", "\n".join(lines))
    return 0


def _torch_version() -> str:
    from importlib.metadata import version

    return version("torch")


if __name__ == "__main__":
    sys.exit(main())
