"""Running and loading results from the pages: progress display plus in-memory caches.

The core disk cache (``vaeimb.running.cache.ResultCache``) makes every finished (approach, seed)
instant to reload; on top of it, finished results are kept in session state and the
heavy objects (VAE models, data draws, latent maps) in ``st.cache_resource``, so switching
pages or back to a finished config redraws without touching the disk again.

The server stays small: the Experiment page draws with numpy and plotly and never loads
torch (about 0.5 GB resident with the default wheel) unless it trains in-process. A Run, a
Sweep and an Atlas extension train in a child process (``vaeimb.interfaces.app_runs``) that
exports what it finished into ``<cache>/app-results/``, which this server reads back; only
when memory is too short for even one training process beside the server
(``app_workers``), or when ``VAEIMB_APP_WORKERS=0`` asks for it, the server trains
in-process. Two tabs pressing Run on the same settings share one child: the second follows
the first's progress and reads its result. The app's default settings show the results
shipped in ``vaeimb/shipped/default/`` until the user's own replace them.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import streamlit as st

from vaeimb.declarations import own
from vaeimb.declarations.config import ExperimentConfig, stable_hash
from vaeimb.declarations.datasets import DEFAULT_DATASET, dataset
from vaeimb.declarations.jobs import ProgressEvent
from vaeimb.declarations.provenance import code_fingerprint
from vaeimb.interfaces import app_runs
from vaeimb.parts.data import (
    DATA_DIR_ENV,
    find_raw_files,
    load_images,
    resolve_data_dir,
)
from vaeimb.running import resources
from vaeimb.running import result_files as shipped
from vaeimb.running.cache import ResultCache
from vaeimb.running.results import ExperimentResult

from .settings import DOWNLOAD_MB, Settings, config_from_json, config_json

if TYPE_CHECKING:  # annotations only: it loads torch
    from vaeimb.studies.sweep import SweepResult

_STORE = "_finished_results"
_STORE_SIZE = 8
#: Training processes the app uses at most (fewer on smaller machines: ``app_workers``).
APP_MAX_WORKERS = 4
#: ``VAEIMB_APP_WORKERS=N`` sets the number of training processes (0 = in the server).
WORKERS_ENV = "VAEIMB_APP_WORKERS"
#: Memory as proportional set size (Pss, ``/proc/PID/smaps_rollup``: a shared library's
#: pages split between the processes that map it, so one more process costs its own Pss),
#: in MB, measured by ``bench/app_memory_bench.py --pages`` during and after a default Run
#: (2026-12-07 12:16, AMD EPYC, 2 cores, torch 2.14.1 with the default CUDA wheel), rounded
#: up with room: ``SERVER_MB``, the Streamlit server, torch-free, after the Run and a visit to
#: every page (237 MB; 230 MB at the Run's peak); ``TRAINING_PROCESS_MB``, one training
#: process at its peak, the larger of the Run's child (which drives and trains: 583 MB) and a
#: worker process (535 MB): torch, MNIST and a default job.
SERVER_MB = 320
TRAINING_PROCESS_MB = 650
#: Where a Run's finished results are exported, under the cache folder.
APP_RESULTS = "app-results"


def app_workers() -> int:
    """How many processes a Run trains in (the child, and its workers beyond the first);
    0 = in the server itself.

    ``$VAEIMB_APP_WORKERS`` when set; else one per usable core, as many as fit in the
    memory this process may use (its cgroup limit, else the available memory) beside the
    server, at most ``APP_MAX_WORKERS`` (``vaeimb.running.resources.app_workers``): on one
    core the child alone (the server stays torch-free), in-process only when not even one
    training process fits.
    """
    wanted = os.environ.get(WORKERS_ENV, "").strip()
    if wanted.isdigit():
        return int(wanted)
    return resources.app_workers(resources.usable_cores(), resources.memory_limit_bytes(),
                                 per_worker_mb=TRAINING_PROCESS_MB, server_mb=SERVER_MB, max_workers=APP_MAX_WORKERS)


def run_workers() -> int:
    """The training processes a new Run gets: ``app_workers()`` less those the Runs already
    training in this server hold (each Run keeps at least one), so two Runs of different
    settings share the machine instead of doubling its memory; 0 = in-process."""
    workers = app_workers()
    if workers < 1:
        return 0
    return max(1, workers - app_runs.training_processes())


def cache_root() -> str:
    """Where the core cache lives for this process (``VAEIMB_CACHE_DIR`` or the user cache)."""
    return str(ResultCache().root)


def data_dir() -> str | None:
    """The data folder the user chose (``VAEIMB_DATA_DIR``), else None.

    Never the resolved default: the core takes a folder it is handed as one the user
    named (which must exist), while with None it resolves the user cache itself and
    downloads a dataset there on its first run, as the CLI does.
    """
    return os.environ.get(DATA_DIR_ENV) or None


def data_location(name: str = DEFAULT_DATASET) -> tuple[Path, Path | None]:
    """(the data folder, the folder the dataset's files lie in there, or None when they are
    not on this machine yet: its first Run downloads them into the data folder). An own
    file's: (the store, its folder there, or None when it is gone)."""
    content_hash = own.parse(name)
    if content_hash is not None:
        return own.own_root(), own.folder_of(content_hash) if own.stored(content_hash) is not None else None
    root = resolve_data_dir(data_dir())
    files = find_raw_files(root, dataset(name))
    return root, None if files is None else files["train_images"].parent


def nothing_shipped_note(settings: Settings) -> str:
    """The first view of a dataset nothing is shipped for: what a Run computes, and where
    the dataset comes from (read from disk, or downloaded on first use, with its size)."""
    from vaeimb.presentation.latent_view import (
        generators_used,  # recipes only: no torch
    )

    cfg = settings.config
    ds = cfg.dataset_record
    n = len(settings.seeds)
    try:
        gens = generators_used(settings.approaches)
    except ValueError:  # ConfigError: an unknown recipe is refused by the Run itself
        gens = []
    gen_text = f", each seed's {', '.join(gens)} generator{'s' if len(gens) > 1 else ''} first" if gens else ""
    root, found = data_location(ds.name)
    what = cfg.task_kind.describe(cfg).removeprefix(cfg.dataset_prefix)
    run = (f"Press **Run** to compute these settings ({what}) here: it trains {', '.join(settings.approaches)} on "
           f"{n} seed{'s' if n > 1 else ''}{gen_text}, and caches every finished run.")
    if own.parse(ds.name) is not None:
        return (f"Nothing is computed for your file {ds.title} yet (the results shipped with the app are MNIST's). "
                f"{run} It reads the copy of your file this server keeps, checked and converted when it was "
                f"uploaded, in {found or root}.")
    if found is not None:
        where = f"{ds.title} is read from {found}."
    else:
        cache = " (the user cache)" if data_dir() is None else ""
        where = (f"{ds.title} is not on this machine yet: the first Run downloads it once into {root}{cache}, "
                 f"about {DOWNLOAD_MB.get(ds.name, 30)} MB.")
    return f"Nothing is shipped for {ds.title} yet: the results shipped with the app are MNIST's. {run} {where}"


def ensure_images(name: str = DEFAULT_DATASET) -> None:
    """Load the dataset before a run draws its progress bars (once per process): the first
    run on a fresh machine downloads it under a spinner that says so, and a dataset that can
    be neither found nor downloaded is one ``DataUnavailableError`` (one ``st.error`` via
    ``errors_shown``), raised before anything trains."""
    ddir = data_dir()
    if own.parse(name) is not None:  # the analyst's file, kept on this server when it was uploaded
        load_images(ddir, dataset=name)
        return
    root = resolve_data_dir(ddir)
    ds = dataset(name)
    if find_raw_files(root, ds) is None and (ddir is None or root.is_dir()):
        with st.spinner(f"Downloading {ds.title} into {root} (first run only)…"):
            load_images(ddir, dataset=name)
    else:
        load_images(ddir, dataset=name)


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
    return export_folder(settings.key)


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
    # the config's equality includes its dataset: the shipped results are MNIST's alone
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
        return (f"the {name} generator on {config.n_minority} images {config.dataset_record.holds(config.minority)} "
                f"from the {source}")
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
        self._now = ""  # the line above the bars, drawn again only when it changes

    def __call__(self, e: ProgressEvent) -> None:
        job = e.job
        frac = 1.0 if e.status in ("cached", "done") else (e.done / e.total if e.total else 0.0)
        detail = f"step {e.done}/{e.total}" if e.status == "running" else e.message
        if e.status == "running" and e.message:  # e.g. being trained by another run
            detail = f"{e.message}, {detail}"
        self.show(job, e.seed, e.status, frac, detail)

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
            now = f"Training {_job_label(job, self.config)} (seed {seed})"
            if now != self._now:  # every message reaches the browser, which redraws the page for it
                self._now = now
                self.now.markdown(now)
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
    workers = run_workers()
    ensure_images(cfg.dataset)
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
            else:  # in a child process; a Run of the same settings in another tab is followed, not repeated
                result = app_runs.run_in_child(cfg, settings.approaches, settings.seeds, exported_folder(settings),
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


def export_folder(*parts) -> Path:
    """An export's folder under ``<cache>/app-results``: one per request, code id and
    identity (threads, device), so a code change never shows stale numbers."""
    key = stable_hash(*parts, code_fingerprint(), os.environ.get("VAEIMB_THREADS", "").strip(),
                      os.environ.get("VAEIMB_DEVICE", "").strip().lower())
    return Path(cache_root()) / APP_RESULTS / key[:20]


def sweep_folder(settings: Settings, ratios, approaches) -> Path:
    """Where a sweep of these settings exports its points."""
    return export_folder(sweep_key(settings, ratios, approaches))


def finished_sweep(settings: Settings, ratios, approaches) -> SweepResult | None:
    """The sweep if it is in memory or exported by a child, else None; when this server
    trains in-process (``app_workers() == 0``) also when every point is on disk. (A server
    that trains in a child never loads torch to look: pressing Run sweep loads every cached
    point in the child, at once.)"""
    key = sweep_key(settings, ratios, approaches)
    result = recall(key)
    if result is not None:
        return result
    folder = sweep_folder(settings, ratios, approaches)
    if (folder / app_runs.SWEEP_JSON).is_file():
        from vaeimb.studies.sweep import (
            SweepResult,  # torch, by its module's imports (see train_sweep)
        )

        result = SweepResult(app_runs.load_sweep(folder))
    elif app_workers() < 1:
        from vaeimb.studies.experiment import (
            all_cached,  # torch: this server trains and reads the cache
        )
        from vaeimb.studies.sweep import run_sweep, sweep_configs  # torch: as above

        cache = ResultCache(cache_root())
        points = sweep_configs(settings.config, ratios)
        if all(all_cached(cfg, approaches, settings.seeds, cache) for _, cfg in points):
            result = run_sweep(settings.config, ratios, approaches, settings.seeds, cache=cache, data_dir=data_dir())
    if result is not None:
        remember(key, result)
    return result


def train_sweep(settings: Settings, ratios, approaches) -> SweepResult:
    """Run (or load) every sweep point with one progress bar per point: in a child process
    as a Run (``app_runs.sweep_in_child``), or in-process when ``app_workers()`` is 0."""
    from vaeimb.studies.sweep import (  # torch: see finished_sweep
        SweepResult,
        run_sweep,
        sweep_configs,
    )

    points = sweep_configs(settings.config, ratios)
    index = {f"ratio {r:g}": i for i, (r, _) in enumerate(points)}
    workers = run_workers()
    ensure_images(settings.config.dataset)
    with st.status(f"Sweeping {len(points)} ratios…", expanded=True) as status:
        now = st.empty()
        bars = [st.progress(0.0, text=f"ratio {r:.2%} ({c.n_minority} minority): waiting") for r, c in points]
        finished = [0 for _ in points]
        last_shown = [None]
        per_point = [1]  # terminal events expected per point: the plan's jobs x seeds

        def on_plan(jobs: list[str]) -> None:
            per_point[0] = max(1, len(jobs) * len(settings.seeds))

        def on_progress(e: ProgressEvent) -> None:
            i = index.get(e.where)
            if i is None:
                return
            ratio = points[i][0]
            if e.status in ("done", "cached", "failed"):
                finished[i] += 1
            frac = min(1.0, finished[i] / per_point[0])
            if e.status == "running":
                shown = (i, e.job, e.seed, (20 * e.done) // max(e.total, 1))
                if shown == last_shown[0]:
                    return  # only redraw in 5 % steps
                last_shown[0] = shown
                what = _job_label(e.job, points[i][1])
                now.markdown(f"Ratio {ratio:.2%}: training {what} (seed {e.seed}), step {e.done}/{e.total}")
            else:
                bars[i].progress(frac, text=f"ratio {ratio:.2%} ({points[i][1].n_minority} minority): "
                                            f"{min(finished[i], per_point[0])}/{per_point[0]} done")

        try:
            if workers < 1:
                from vaeimb.running.executor import (
                    InProcess,  # torch: this server trains
                )

                on_plan(_jobs(settings.config, approaches))
                resources.fix_mmap_threshold()  # this server trains: keep its heap from fragmenting
                result = run_sweep(settings.config, ratios, approaches, settings.seeds,
                                   cache=ResultCache(cache_root()), data_dir=data_dir(),
                                   progress=lambda i, n, r, e: on_progress(e), executor=InProcess())
            else:  # in a child process, as a Run
                result = SweepResult(app_runs.sweep_in_child(
                    settings.config, ratios, approaches, settings.seeds, sweep_folder(settings, ratios, approaches),
                    cache_root=cache_root(), data_dir=data_dir(), workers=workers, progress=on_progress,
                    on_plan=on_plan))
        except Exception:
            status.update(label="Sweep stopped", state="error", expanded=True)
            raise
        for bar, (r, c) in zip(bars, points):
            bar.progress(1.0, text=f"ratio {r:.2%} ({c.n_minority} minority): done")
        now.empty()
        status.update(label=f"Sweep finished: {len(points)} ratios", state="complete", expanded=False)
    remember(sweep_key(settings, ratios, approaches), result)
    resources.trim_heap()
    return result


@st.cache_resource(max_entries=1, show_spinner=False)
def _test_images(ddir: str | None, name: str):
    return load_images(ddir, dataset=name).test_images


def test_images(name: str = DEFAULT_DATASET):
    """The dataset's test images (downloaded first on a fresh machine, under a spinner)."""
    ensure_images(name)
    return _test_images(data_dir(), name)
