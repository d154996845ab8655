"""Running and loading results from the pages: progress display plus in-memory caches.

The core disk cache (``vaeimb.running.cache.ResultCache``) makes every finished (approach, seed)
instant to reload; on top of it, finished results are kept in session state and the
heavy objects (VAE models, data draws, latent maps) in ``st.cache_resource``, so switching
pages or back to a finished config redraws without touching the disk again.

The server stays small: the Experiment page draws with numpy and plotly and never loads
torch (about 0.5 GB resident with the default wheel) unless it trains in-process. A Run
trains in a child process (``vaeimb.interfaces.app_runs``) that exports the finished result into
``<cache>/app-results/``, which this server reads back; on one core, or when memory is
short (``app_workers``), it trains in-process instead. The app's default settings show the
results shipped in ``vaeimb/shipped/default/`` until the user's own replace them.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import streamlit as st

from vaeimb.declarations.config import ExperimentConfig, stable_hash
from vaeimb.declarations.jobs import ProgressEvent
from vaeimb.declarations.provenance import code_fingerprint
from vaeimb.parts.data import (
    DATA_DIR_ENV,
    find_raw_files,
    load_mnist,
    resolve_data_dir,
)
from vaeimb.running import resources
from vaeimb.running import result_files as shipped
from vaeimb.running.cache import ResultCache
from vaeimb.running.results import ExperimentResult

from .settings import Settings, config_from_json, config_json

if TYPE_CHECKING:  # annotations only: it loads torch
    from vaeimb.studies.sweep import SweepResult

_STORE = "_finished_results"
_STORE_SIZE = 8
#: Training processes the app uses at most (fewer on smaller machines: ``app_workers``).
APP_MAX_WORKERS = 4
#: ``VAEIMB_APP_WORKERS=N`` sets the number of training processes (0 = in the server).
WORKERS_ENV = "VAEIMB_APP_WORKERS"
#: The server's resident memory drawing a finished default Run, and one training
#: process's peak (torch with the default CUDA wheel, MNIST, a default job), in MB:
#: measured by ``bench/app_memory_bench.py`` (BENCHMARKS.md, "app-memory").
SERVER_MB = 350
TRAINING_PROCESS_MB = 1000
#: Where a Run's finished results are exported, under the cache folder.
APP_RESULTS = "app-results"


def app_workers() -> int:
    """How many processes a Run trains in; 0 = in the server itself.

    ``$VAEIMB_APP_WORKERS`` when set; else one per usable core, as many as fit in the
    memory this process may use (its cgroup limit, else the available memory) beside the
    server, at most ``APP_MAX_WORKERS`` (``vaeimb.running.resources.app_workers``): on one core or
    when not even one fits, in-process.
    """
    wanted = os.environ.get(WORKERS_ENV, "").strip()
    if wanted.isdigit():
        return int(wanted)
    return resources.app_workers(resources.usable_cores(), resources.memory_limit_bytes(),
                                 per_worker_mb=TRAINING_PROCESS_MB, server_mb=SERVER_MB, max_workers=APP_MAX_WORKERS)


def app_executor():
    """Where the Sweep and Atlas pages train: ``app_workers()`` worker processes, or
    in-process when that is 0."""
    from vaeimb.running.executor import (  # torch: loaded only when something trains
        InProcess,
        LocalProcesses,
    )

    workers = app_workers()
    if workers < 1:
        resources.fix_mmap_threshold()  # this server trains: keep its heap from fragmenting
        return InProcess()
    return LocalProcesses(workers)


def cache_root() -> str:
    """Where the core cache lives for this process (``VAEIMB_CACHE_DIR`` or the user cache)."""
    return str(ResultCache().root)


def data_dir() -> str | None:
    """The MNIST folder the user chose (``VAEIMB_DATA_DIR``), else None.

    Never the resolved default: the core takes a folder it is handed as one the user
    named (which must exist), while with None it resolves the user cache itself and
    downloads MNIST there on the first run, as the CLI does.
    """
    return os.environ.get(DATA_DIR_ENV) or None


def ensure_mnist() -> None:
    """Load MNIST before a run draws its progress bars (once per process): the first run
    on a fresh machine downloads it under a spinner that says so, and a dataset that can
    be neither found nor downloaded is one ``DataUnavailableError`` (one ``st.error`` via
    ``errors_shown``), raised before anything trains."""
    ddir = data_dir()
    root = resolve_data_dir(ddir)
    if find_raw_files(root) is None and (ddir is None or root.is_dir()):
        with st.spinner(f"Downloading MNIST into {root} (first run only)…"):
            load_mnist(ddir)
    else:
        load_mnist(ddir)


# --------------------------------------------------------------------------------------
# Finished results kept in session state
# --------------------------------------------------------------------------------------
def remember(key: str, value) -> None:
    store: OrderedDict = st.session_state.setdefault(_STORE, OrderedDict())
    store[key] = value
    store.move_to_end(key)
    while len(store) > _STORE_SIZE:
        store.popitem(last=False)


def recall(key: str):
    return st.session_state.get(_STORE, {}).get(key)


@st.cache_resource(max_entries=4, show_spinner=False)
def _load_finished(cfg_json: str, approaches: tuple[str, ...], seeds: tuple[int, ...], root: str,
                   ddir: str | None) -> ExperimentResult:
    from vaeimb.studies.experiment import (
        run_experiment,  # torch: only the in-process app reads the cache itself
    )

    return run_experiment(config_from_json(cfg_json), approaches, seeds, cache=ResultCache(root), data_dir=ddir)


def exported_folder(settings: Settings) -> Path:
    """Where a Run of these settings exports its finished result: one folder per settings,
    code id and identity (threads, device), so a code change never shows stale numbers."""
    key = stable_hash(settings.key, code_fingerprint(), os.environ.get("VAEIMB_THREADS", "").strip(),
                      os.environ.get("VAEIMB_DEVICE", "").strip().lower())
    return Path(cache_root()) / APP_RESULTS / key[:20]


@st.cache_resource(max_entries=4, show_spinner=False)
def _exported(folder: str, stamp: float) -> ExperimentResult:
    return shipped.load_result(folder)


def exported_experiment(settings: Settings) -> ExperimentResult | None:
    """The result a Run of these settings exported (read without torch), else None."""
    folder = exported_folder(settings)
    try:
        stamp = (folder / shipped.RESULT_JSON).stat().st_mtime
    except OSError:
        return None
    return _exported(str(folder), stamp)


def finished_experiment(settings: Settings) -> ExperimentResult | None:
    """The user's own result of the current settings if it exists already (memory, then a
    Run's export; when the app trains in-process, torch is loaded anyway and the disk cache
    is read too), else None."""
    result = recall(settings.key)
    if result is not None:
        return result
    result = exported_experiment(settings)
    if result is None and app_workers() < 1:
        from vaeimb.studies.experiment import all_cached  # torch: see _load_finished

        if all_cached(settings.config, settings.approaches, settings.seeds, ResultCache(cache_root())):
            result = _load_finished(config_json(settings.config), settings.approaches, settings.seeds, cache_root(),
                                    data_dir())
    if result is not None:
        remember(settings.key, result)
    return result


@st.cache_resource(max_entries=1, show_spinner=False)
def shipped_default() -> tuple[ExperimentResult, dict] | None:
    if not shipped.exists(shipped.DEFAULT_DIR):
        return None
    return shipped.load_result(shipped.DEFAULT_DIR), shipped.load_provenance(shipped.DEFAULT_DIR)


def shipped_for(settings: Settings) -> tuple[ExperimentResult, dict] | None:
    """(the shipped result, its provenance) when the settings are exactly the ones it was
    made with (the app's defaults), else None. Shared by every session: never modify it."""
    found = shipped_default()
    if found is None or settings.config is None:
        return None
    result = found[0]
    if (result.config, result.approaches, result.seeds) != (settings.config, settings.approaches, settings.seeds):
        return None
    return found


def shown_experiment(settings: Settings) -> tuple[ExperimentResult | None, dict | None]:
    """What the Experiment page shows: the user's own result (provenance None), else the
    shipped one for the default settings (with its provenance), else (None, None)."""
    own = finished_experiment(settings)
    if own is not None:
        return own, None
    return shipped_for(settings) or (None, None)


# --------------------------------------------------------------------------------------
# Training with progress bars
# --------------------------------------------------------------------------------------
def _job_label(job: str, config: ExperimentConfig) -> str:
    if job.startswith("generator:"):
        name = job.split(":", 1)[1]
        source = "TEST split (leaky)" if config.leaky else "train split"
        return f"the {name} generator on {config.n_minority} images of digit {config.minority} from the {source}"
    return f"the {config.classifier.upper()} classifier for **{job}**"


def _jobs(config: ExperimentConfig, approaches: Iterable[str]) -> list[str]:
    """What will be trained, in run order: generators first, then every approach (twins too)."""
    from vaeimb.studies.experiment import (
        job_names,  # torch: only the in-process app asks here; the child plans its own
    )

    return job_names(config, approaches)


class ProgressBoard:
    """One progress bar per (job, seed) inside the current container, fed by ProgressEvents."""

    def __init__(self, config: ExperimentConfig, jobs: Iterable[str], seeds):
        self.config = config
        self.now = st.empty()
        self.bars = {
            (job, seed): st.progress(0.0, text=f"{job} · seed {seed}: waiting") for seed in seeds for job in jobs
        }
        self._last: dict = {}

    def __call__(self, e: ProgressEvent) -> None:
        job = e.job
        frac = 1.0 if e.status in ("cached", "done") else (e.done / e.total if e.total else 0.0)
        self.show(job, e.seed, e.status, frac, f"step {e.done}/{e.total}" if e.status == "running" else e.message)

    def show(self, job: str, seed: int, status: str, frac: float, detail: str = "") -> None:
        bar = self.bars.get((job, seed))
        if bar is None:
            return
        state = (status, int(frac * 20))  # redraw in 5 % steps: fewer websocket messages
        if self._last.get((job, seed)) == state:
            return
        self._last[(job, seed)] = state
        label = f"{job} · seed {seed}"
        if status == "running":
            bar.progress(min(frac, 1.0), text=f"{label}: {detail}")
            self.now.markdown(f"Training {_job_label(job, self.config)} (seed {seed})")
        elif status == "failed":
            bar.progress(1.0, text=f"{label}: FAILED - {detail}")
        else:
            bar.progress(1.0, text=f"{label}: {'loaded from cache' if status == 'cached' else 'done'}")

    def finish(self, result: ExperimentResult) -> None:
        """Close every bar no event closed (a fully cached ``vae`` run never loads its VAE)."""
        self.now.empty()
        for (job, seed) in self.bars:
            if self._last.get((job, seed), ("",))[0] in ("done", "cached", "failed"):
                continue
            if job in result.failures and seed in result.failures[job]:
                self.show(job, seed, "failed", 1.0, result.failures[job][seed])
            else:
                self.show(job, seed, "done", 1.0)


def train_experiment(settings: Settings) -> ExperimentResult:
    """Run (or load) the experiment with live progress; raises VaeimbError on bad input.

    With ``app_workers() >= 1`` it trains in a child process (``vaeimb.interfaces.app_runs``), so this
    server never loads torch; with 0, here."""
    cfg = settings.config
    n = len(settings.seeds)
    workers = app_workers()
    ensure_mnist()
    with st.status(f"Training {len(settings.approaches)} approach(es) × {n} seed(s)…", expanded=True) as status:
        boards: list[ProgressBoard] = []

        def on_plan(jobs: list[str]) -> None:
            boards.append(ProgressBoard(cfg, jobs, settings.seeds))

        def on_progress(e: ProgressEvent) -> None:
            boards[-1](e)
            if workers < 1 and e.status in ("done", "failed"):
                resources.trim_heap()  # between jobs: the next one starts from a compact heap

        try:
            if workers < 1:
                from vaeimb.running.executor import (
                    InProcess,  # torch: this server trains
                )
                from vaeimb.studies.experiment import run_experiment

                on_plan(_jobs(cfg, settings.approaches))
                resources.fix_mmap_threshold()  # this server trains: keep its heap from fragmenting
                resources.trim_heap()  # and starts from a compact one (the page drawn before left garbage)
                result = run_experiment(cfg, settings.approaches, settings.seeds, cache=ResultCache(cache_root()),
                                        data_dir=data_dir(), progress=on_progress, executor=InProcess())
            else:
                from vaeimb.interfaces.app_runs import run_in_child

                result = run_in_child(cfg, settings.approaches, settings.seeds, exported_folder(settings),
                                      cache_root=cache_root(), data_dir=data_dir(), workers=workers,
                                      progress=on_progress, on_plan=on_plan)
        except Exception:
            status.update(label="Training stopped", state="error", expanded=True)
            raise
        if boards:
            boards[-1].finish(result)
        trained = sum(len(v) for v in result.runs.values()) - result.cached
        status.update(
            label=f"Finished: {result.cached} loaded from cache, {max(trained, 0)} trained",
            state="complete", expanded=False,
        )
    remember(settings.key, result)
    resources.trim_heap()
    return result


def sweep_key(settings: Settings, ratios, approaches) -> str:
    return "sweep-" + settings.key + "-" + ",".join(f"{r:g}" for r in sorted(ratios)) + "-" + ",".join(approaches)


def finished_sweep(settings: Settings, ratios, approaches) -> SweepResult | None:
    """The sweep if every point is already in memory or on disk, else None."""
    key = sweep_key(settings, ratios, approaches)
    result = recall(key)
    if result is not None:
        return result
    from vaeimb.studies.experiment import (
        all_cached,  # torch: the Sweep page reads and trains in this server
    )
    from vaeimb.studies.sweep import run_sweep, sweep_configs

    cache = ResultCache(cache_root())
    points = sweep_configs(settings.config, ratios)
    if all(all_cached(cfg, approaches, settings.seeds, cache) for _, cfg in points):
        result = run_sweep(settings.config, ratios, approaches, settings.seeds, cache=cache, data_dir=data_dir())
        remember(key, result)
    return result


def train_sweep(settings: Settings, ratios, approaches) -> SweepResult:
    """Run (or load) every sweep point with one progress bar per point."""
    from vaeimb.studies.sweep import (  # torch: see finished_sweep
        run_sweep,
        sweep_configs,
    )

    points = sweep_configs(settings.config, ratios)
    per_point = len(_jobs(settings.config, approaches)) * len(settings.seeds)  # terminal events expected per point
    ensure_mnist()
    with st.status(f"Sweeping {len(points)} ratios…", expanded=True) as status:
        now = st.empty()
        bars = [st.progress(0.0, text=f"ratio {r:.2%} ({c.n_minority} minority): waiting") for r, c in points]
        finished = [0 for _ in points]
        last_shown = [None]

        def on_progress(i: int, total: int, ratio: float, e: ProgressEvent) -> None:
            if e.status in ("done", "cached", "failed"):
                finished[i] += 1
            frac = min(1.0, finished[i] / per_point)
            if e.status == "running":
                shown = (i, e.job, e.seed, (20 * e.done) // max(e.total, 1))
                if shown == last_shown[0]:
                    return  # only redraw in 5 % steps
                last_shown[0] = shown
                what = _job_label(e.job, points[i][1])
                now.markdown(f"Ratio {ratio:.2%}: training {what} (seed {e.seed}), step {e.done}/{e.total}")
            else:
                bars[i].progress(frac, text=f"ratio {ratio:.2%} ({points[i][1].n_minority} minority): "
                                            f"{min(finished[i], per_point)}/{per_point} done")

        try:
            result = run_sweep(settings.config, ratios, approaches, settings.seeds, cache=ResultCache(cache_root()),
                               data_dir=data_dir(), progress=on_progress, executor=app_executor())
        except Exception:
            status.update(label="Sweep stopped", state="error", expanded=True)
            raise
        for bar, (r, c) in zip(bars, points):
            bar.progress(1.0, text=f"ratio {r:.2%} ({c.n_minority} minority): done")
        now.empty()
        status.update(label=f"Sweep finished: {len(points)} ratios", state="complete", expanded=False)
    remember(sweep_key(settings, ratios, approaches), result)
    return result


@st.cache_resource(max_entries=1, show_spinner=False)
def _mnist_test_images(ddir: str | None):
    return load_mnist(ddir).test_images


def mnist_test_images():
    """MNIST's test images (downloaded first on a fresh machine, under a spinner)."""
    ensure_mnist()
    return _mnist_test_images(data_dir())
