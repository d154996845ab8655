"""Running and loading results from the pages: progress display plus in-memory caches.

The core disk cache (``vaeimb.cache.ResultCache``) makes every finished (approach, seed)
instant to reload; on top of it, finished results are kept in session state and the
heavy objects (VAE models, data draws, latent maps) in ``st.cache_resource``, so switching
pages or back to a finished config redraws without touching the disk again.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterable

import streamlit as st

from vaeimb.cache import ResultCache
from vaeimb.config import ExperimentConfig
from vaeimb.data import DATA_DIR_ENV, find_raw_files, load_mnist, make_experiment_data, resolve_data_dir
from vaeimb.experiment import (
    ExperimentResult, ProgressEvent, all_cached, generator_is_cached, generator_task, load_generator, plan,
    run_experiment,
)
from vaeimb.generators import LEARNED
from vaeimb.latent import LatentMap, latent_map
from vaeimb.sweep import SweepResult, run_sweep, sweep_configs

from .settings import Settings, config_from_json, config_json

_STORE = "_finished_results"
_STORE_SIZE = 8
#: Worker processes the app trains in (at most; fewer on smaller machines).
APP_MAX_WORKERS = 4


def app_executor():
    """Where the app trains: worker processes (the server's memory returns to its idle
    size after a run), one per core up to ``APP_MAX_WORKERS``; in-process on one core.
    ``VAEIMB_APP_WORKERS=0`` forces in-process."""
    import os

    from vaeimb.executor import InProcess, LocalProcesses
    from vaeimb.training import usable_cores

    wanted = os.environ.get("VAEIMB_APP_WORKERS", "").strip()
    workers = int(wanted) if wanted.isdigit() else min(usable_cores(), APP_MAX_WORKERS)
    if workers < 1 or (not wanted and usable_cores() < 2):
        backend = InProcess()
    else:
        backend = LocalProcesses(workers)
    return backend


def cache_root() -> str:
    """Where the core cache lives for this process (``VAEIMB_CACHE_DIR`` or the user cache)."""
    return str(ResultCache().root)


def data_dir() -> str | None:
    """The MNIST folder the user chose (``VAEIMB_DATA_DIR``), else None.

    Never the resolved default: the core takes a folder it is handed as one the user
    named (which must exist), while with None it resolves the user cache itself and
    downloads MNIST there on the first run, as the CLI does.
    """
    import os

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


@st.cache_resource(max_entries=16, show_spinner=False)
def _load_finished(cfg_json: str, approaches: tuple[str, ...], seeds: tuple[int, ...], root: str,
                   ddir: str | None) -> ExperimentResult:
    return run_experiment(config_from_json(cfg_json), approaches, seeds, cache=ResultCache(root), data_dir=ddir)


def finished_experiment(settings: Settings) -> ExperimentResult | None:
    """The result of the current settings if it exists already (memory, then disk), else None."""
    result = recall(settings.key)
    if result is not None:
        return result
    cache = ResultCache(cache_root())
    if all_cached(settings.config, settings.approaches, settings.seeds, cache):
        result = _load_finished(config_json(settings.config), settings.approaches, settings.seeds, cache_root(), data_dir())
        remember(settings.key, result)
    return result


# --------------------------------------------------------------------------------------
# Training with progress bars
# --------------------------------------------------------------------------------------
def _task_label(task: str, config: ExperimentConfig) -> str:
    if task.startswith("generator:"):
        name = task.split(":", 1)[1]
        source = "TEST split (leaky)" if config.leaky else "train split"
        return f"the {name} generator on {config.n_minority} images of digit {config.minority} from the {source}"
    return f"the {config.classifier.upper()} classifier for **{task}**"


def _tasks(config: ExperimentConfig, approaches: Iterable[str]) -> list[str]:
    """What will be trained, in run order: generators first, then every approach (twins too)."""
    chosen, _ = plan(config, approaches)
    gens = [generator_task(a.recipe.gen) for a in chosen if a.recipe.gen]
    return list(dict.fromkeys(gens)) + [a.name for a in chosen]


class ProgressBoard:
    """One progress bar per (task, seed) inside the current container, fed by ProgressEvents."""

    def __init__(self, config: ExperimentConfig, approaches, seeds):
        self.config = config
        self.now = st.empty()
        tasks = _tasks(config, approaches)
        self.bars = {
            (task, seed): st.progress(0.0, text=f"{task} · seed {seed}: waiting") for seed in seeds for task in tasks
        }
        self._last: dict = {}

    def __call__(self, e: ProgressEvent) -> None:
        task = e.task
        frac = 1.0 if e.status in ("cached", "done") else (e.done / e.total if e.total else 0.0)
        self.show(task, e.seed, e.status, frac, f"step {e.done}/{e.total}" if e.status == "running" else e.message)

    def show(self, task: str, seed: int, status: str, frac: float, detail: str = "") -> None:
        bar = self.bars.get((task, seed))
        if bar is None:
            return
        state = (status, int(frac * 20))  # redraw in 5 % steps: fewer websocket messages
        if self._last.get((task, seed)) == state:
            return
        self._last[(task, seed)] = state
        label = f"{task} · seed {seed}"
        if status == "running":
            bar.progress(min(frac, 1.0), text=f"{label}: {detail}")
            self.now.markdown(f"Training {_task_label(task, self.config)} (seed {seed})")
        elif status == "failed":
            bar.progress(1.0, text=f"{label}: FAILED - {detail}")
        else:
            bar.progress(1.0, text=f"{label}: {'loaded from cache' if status == 'cached' else 'done'}")

    def finish(self, result: ExperimentResult) -> None:
        """Close every bar no event closed (a fully cached ``vae`` run never loads its VAE)."""
        self.now.empty()
        for (task, seed) in self.bars:
            if self._last.get((task, seed), ("",))[0] in ("done", "cached", "failed"):
                continue
            if task in result.failures and seed in result.failures[task]:
                self.show(task, seed, "failed", 1.0, result.failures[task][seed])
            else:
                self.show(task, seed, "done", 1.0)


def train_experiment(settings: Settings) -> ExperimentResult:
    """Run (or load) the experiment with live progress; raises VaeimbError on bad input."""
    cfg = settings.config
    n = len(settings.seeds)
    ensure_mnist()
    with st.status(f"Training {len(settings.approaches)} approach(es) × {n} seed(s)…", expanded=True) as status:
        board = ProgressBoard(cfg, settings.approaches, settings.seeds)
        try:
            result = run_experiment(cfg, settings.approaches, settings.seeds, cache=ResultCache(cache_root()),
                                    data_dir=data_dir(), progress=board, executor=app_executor())
        except Exception:
            status.update(label="Training stopped", state="error", expanded=True)
            raise
        board.finish(result)
        trained = sum(len(v) for v in result.runs.values()) - result.cached
        status.update(
            label=f"Finished: {result.cached} loaded from cache, {max(trained, 0)} trained",
            state="complete", expanded=False,
        )
    remember(settings.key, result)
    return result


def sweep_key(settings: Settings, ratios, approaches) -> str:
    return "sweep-" + settings.key + "-" + ",".join(f"{r:g}" for r in sorted(ratios)) + "-" + ",".join(approaches)


def finished_sweep(settings: Settings, ratios, approaches) -> SweepResult | None:
    """The sweep if every point is already in memory or on disk, else None."""
    key = sweep_key(settings, ratios, approaches)
    result = recall(key)
    if result is not None:
        return result
    cache = ResultCache(cache_root())
    points = sweep_configs(settings.config, ratios)
    if all(all_cached(cfg, approaches, settings.seeds, cache) for _, cfg in points):
        result = run_sweep(settings.config, ratios, approaches, settings.seeds, cache=cache, data_dir=data_dir())
        remember(key, result)
    return result


def train_sweep(settings: Settings, ratios, approaches) -> SweepResult:
    """Run (or load) every sweep point with one progress bar per point."""
    points = sweep_configs(settings.config, ratios)
    per_point = len(_tasks(settings.config, approaches)) * len(settings.seeds)  # terminal events expected per point
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
                shown = (i, e.task, e.seed, (20 * e.done) // max(e.total, 1))
                if shown == last_shown[0]:
                    return  # only redraw in 5 % steps
                last_shown[0] = shown
                what = _task_label(e.task, points[i][1])
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


# --------------------------------------------------------------------------------------
# VAE, data and latent map (heavy objects, shared across reruns)
# --------------------------------------------------------------------------------------
#: Generators the Latent space page can explore (those with a latent space).
LATENT_GENERATORS = LEARNED


def generator_key_for(config: ExperimentConfig, name: str, seed: int) -> str:
    """A short, stable identity of (config, generator, seed) for widget keys."""
    from vaeimb.config import stable_hash

    return stable_hash(config.to_dict(), name, seed)[:12]


@st.cache_data(max_entries=32, show_spinner=False)
def _quality(cfg_json: str, name: str, seed: int, root: str, ddir: str | None) -> dict:
    from vaeimb.quality import generator_quality_of

    return generator_quality_of(config_from_json(cfg_json), name, seed, cache=ResultCache(root), data_dir=ddir)


def generator_quality(config: ExperimentConfig, name: str, seed: int) -> dict:
    """Quality figures of one generator (cached on disk and in memory)."""
    return _quality(config_json(config), name, seed, cache_root(), data_dir())


def quality_of_finished(settings: Settings) -> list[dict] | None:
    """Quality against misclassified for the finished experiment of these settings
    (None when it has not run yet); measures what is missing (cached)."""
    from vaeimb.quality import measure_quality
    from vaeimb.report import quality_points

    result = finished_experiment(settings)
    if result is None:
        return None
    if not any(a.recipe.gen for a in result.recipes.values()):
        return []
    with st.spinner("Measuring generator quality (the judge network trains once, about 30 s)…"):
        measure_quality(result, cache=ResultCache(cache_root()), data_dir=data_dir())
    return quality_points(result)


def generator_cached(config: ExperimentConfig, name: str, seed: int) -> bool:
    return generator_is_cached(config, name, seed, ResultCache(cache_root()))


@st.cache_resource(max_entries=6, show_spinner=False)
def _generator(cfg_json: str, name: str, seed: int, root: str, ddir: str | None):
    return load_generator(config_from_json(cfg_json), name, seed, cache=ResultCache(root), data_dir=ddir)


def fitted_generator(config: ExperimentConfig, name: str, seed: int):
    """The fitted generator ``name`` of (config, seed) from the cache; fits it only if absent."""
    return _generator(config_json(config), name, seed, cache_root(), data_dir())


def train_generator_with_progress(config: ExperimentConfig, name: str, seed: int):
    ensure_mnist()
    with st.status(f"Training the {name} generator for seed {seed}…", expanded=True) as status:
        bar = st.progress(0.0, text=f"{name}: starting")

        def on_progress(e: ProgressEvent) -> None:
            if e.total:
                bar.progress(min(1.0, e.done / e.total), text=f"{name}: step {e.done}/{e.total}")

        gen = load_generator(config, name, seed, cache=ResultCache(cache_root()), data_dir=data_dir(), progress=on_progress)
        status.update(label=f"{name} trained", state="complete", expanded=False)
    return gen


@st.cache_resource(max_entries=4, show_spinner=False)
def _experiment_images(cfg_json: str, seed: int, ddir: str | None):
    data = make_experiment_data(config_from_json(cfg_json), seed, load_mnist(ddir))
    return data.generator_x, data.train_x[data.train_y == 0]


def experiment_images(config: ExperimentConfig, seed: int):
    """(the generators' minority images, the majority training images) of (config, seed)."""
    return _experiment_images(config_json(config), seed, data_dir())


@st.cache_resource(max_entries=8, show_spinner="Encoding images…")
def _latent_map(cfg_json: str, name: str, seed: int, method: str, root: str, ddir: str | None) -> LatentMap:
    gen = _generator(cfg_json, name, seed, root, ddir)
    real, majority = _experiment_images(cfg_json, seed, ddir)
    generated = gen.sample(min(len(majority), 1000), seed=seed)
    return latent_map(gen, real, generated, majority, method=method, seed=seed)


def latent_map_for(config: ExperimentConfig, name: str, seed: int, method: str) -> LatentMap:
    return _latent_map(config_json(config), name, seed, method, cache_root(), data_dir())


@st.cache_resource(max_entries=2, show_spinner=False)
def _mnist_test_images(ddir: str | None):
    return load_mnist(ddir).test_images


def mnist_test_images():
    return _mnist_test_images(data_dir())
