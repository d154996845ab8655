"""The Latent space page's data: generators with a latent space, their exported views, their
quality, and the quality of a finished experiment's generators.

The server never loads torch for this page. A fitted generator reaches it as a latent view
(``vaeimb.presentation.latent_view``: decoder spec and weights as arrays, latent codes,
reconstructions, samples, the map's codes), written by a child process
(``vaeimb.interfaces.latent_child``) into ``<cache>/latent-views/<key>/``, or shipped beside
the first-view result for the app's default settings. Loading or training a generator,
encoding, t-SNE and quality measurement run in that child; decoding a slider's code and
PCA of the map run here in numpy. When the app trains in-process (``VAEIMB_APP_WORKERS=0``:
one core, or too little memory for a second process) the same requests run in the server.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import streamlit as st

from vaeimb.declarations.config import ExperimentConfig, stable_hash
from vaeimb.declarations.errors import ConfigError
from vaeimb.declarations.jobs import ProgressEvent
from vaeimb.declarations.provenance import code_fingerprint
from vaeimb.interfaces import latent_child
from vaeimb.parts.data import find_raw_files, resolve_data_dir
from vaeimb.presentation import latent_view
from vaeimb.presentation.latent import LatentMap
from vaeimb.presentation.latent_view import (
    LatentView,
    has_view,
    load_projection,
    load_view,
    view_stem,
)
from vaeimb.presentation.report import class_gains, quality_points
from vaeimb.running import result_files
from vaeimb.running.cache import ResultCache
from vaeimb.running.results import ExperimentResult

from .runs import (
    app_workers,
    cache_root,
    data_dir,
    ensure_images,
    exported_folder,
    shipped_default,
    shown_experiment,
)
from .settings import Settings

#: Where the page's views and what it measured live, under the cache folder.
LATENT_VIEWS = "latent-views"
VIEW_STEM = "view"
QUALITY_FILE = "quality.json"


# --------------------------------------------------------------------------------------
# Which generators, and where their views lie
# --------------------------------------------------------------------------------------
def latent_generators() -> tuple[str, ...]:
    """Generators the Latent space page can explore (those with a latent space)."""
    return latent_view.LATENT_GENERATORS


def generators_used(settings: Settings) -> list[str]:
    """The generators the chosen approaches use, in order (read from their recipes: no torch)."""
    return latent_view.generators_used(settings.approaches)


def generator_key_for(config: ExperimentConfig, name: str, seed: int, source: str = "cache") -> str:
    """A short, stable identity of (config, generator, seed) for widget keys and the cached
    decoder spec; the shipped generator has its own (the user's own replaces it)."""
    if source == "shipped":
        return stable_hash(config.to_dict(), name, seed, source)[:12]
    return stable_hash(config.to_dict(), name, seed)[:12]


def view_folder(config: ExperimentConfig, name: str, seed: int, *, of_shipped: bool = False) -> Path:
    """Where the view of generator ``name`` of (config, seed) is exported: one folder per
    generator, code id and identity (threads, device), like a Run's result
    (``runs.exported_folder``). ``of_shipped``: the folder for what the page adds to a
    shipped view (a t-SNE map, or the whole view when an older clone shipped only the weights)."""
    key = stable_hash(config.to_dict(), name, int(seed), code_fingerprint(), "shipped" if of_shipped else "own",
                      os.environ.get("VAEIMB_THREADS", "").strip(), os.environ.get("VAEIMB_DEVICE", "").strip().lower())
    return Path(cache_root()) / LATENT_VIEWS / key[:20]


def in_process() -> bool:
    """Whether the page's torch work runs in this server (it trains in-process anyway)."""
    return app_workers() < 1


def _call(request: dict, progress=None) -> dict:
    return latent_child.call(request, progress=progress, in_process=in_process())


def _data_ready(config: ExperimentConfig) -> None:
    """Download the config's dataset under the app's spinner if it is absent (the child
    loads it itself)."""
    ddir = data_dir()
    if find_raw_files(resolve_data_dir(ddir), config.dataset_record) is None:
        ensure_images(config.dataset)


def shipped_generator_for(config: ExperimentConfig, name: str, seed: int) -> dict | None:
    """The provenance of the shipped fitted generator ``name`` of ``seed`` when ``config``
    is the one it was fitted for (the app's defaults, on MNIST: the config's equality
    includes its dataset), else None."""
    found = shipped_default()
    if found is None or found[0].config != config:
        return None
    if not (has_view(result_files.DEFAULT_DIR, view_stem(name, seed)) or result_files.has_generator(result_files.DEFAULT_DIR, name, seed)):
        return None
    return found[1]


def _own_result(settings: Settings) -> ExperimentResult | None:
    result, provenance = shown_experiment(settings)
    return result if provenance is None else None


def export_view(config: ExperimentConfig, name: str, seed: int, *, train: bool, shipped_state: bool = False,
                progress=None) -> bool:
    """Export the view of generator ``name`` of (config, seed) (in the child); False when it
    is not cached and ``train`` is false. ``shipped_state``: from the shipped weights."""
    folder = view_folder(config, name, seed, of_shipped=shipped_state)
    answer = _call({"kind": "view", "config": config.to_dict(), "name": name, "seed": int(seed), "out": str(folder),
                    "cache_root": cache_root(), "data_dir": data_dir(), "train": train, "shipped": shipped_state},
                   progress)
    return answer.get("status") == "written"


def generator_source(settings: Settings, name: str, seed: int) -> str | None:
    """Where the Latent page gets the generator: "cache" (the user's own, exported), "shipped"
    (the app's defaults, nothing run here yet) or None (it must be trained first).

    Without an exported view, a child looks in the result cache (once per session and
    result shown) and exports the generator when it is there; the shipped one is taken
    without asking when the user has no result of their own for these settings.
    """
    config = settings.config
    if has_view(view_folder(config, name, seed)):
        return "cache"
    is_shipped = shipped_generator_for(config, name, seed) is not None
    own = _own_result(settings)
    if is_shipped and own is None:
        return "shipped"
    asked = st.session_state.setdefault("_latent_not_cached", set())
    token = (generator_key_for(config, name, seed), id(own))
    if token not in asked:
        with st.spinner(f"Looking for the {name} generator in the cache…"):
            if export_view(config, name, seed, train=False):
                return "cache"
        asked.add(token)
    return "shipped" if is_shipped else None


def train_generator_with_progress(config: ExperimentConfig, name: str, seed: int) -> None:
    """Train (or load) generator ``name`` of (config, seed) in the child, with a progress
    bar, and export its view."""
    _data_ready(config)
    with st.status(f"Training the {name} generator for seed {seed}…", expanded=True) as status:
        bar = st.progress(0.0, text=f"{name}: starting")

        def on_progress(e: ProgressEvent) -> None:
            if e.total:
                bar.progress(min(1.0, e.done / e.total), text=f"{name}: step {e.done}/{e.total}")

        try:
            export_view(config, name, seed, train=True, progress=on_progress)
        except Exception:
            status.update(label=f"Training the {name} generator stopped", state="error", expanded=True)
            raise
        status.update(label=f"{name} trained", state="complete", expanded=False)


# --------------------------------------------------------------------------------------
# Reading views
# --------------------------------------------------------------------------------------
@st.cache_resource(max_entries=8, show_spinner=False)
def _load(folder: str, stem: str, stamp: float) -> dict[int, LatentView]:
    return load_view(folder, stem)


def _stamp(folder: Path, stem: str) -> float:
    try:
        return (folder / f"{stem}.json").stat().st_mtime
    except OSError:
        return 0.0


def _view_location(config: ExperimentConfig, name: str, seed: int, source: str) -> tuple[Path, str]:
    """(folder, stem) of the view the page reads; a shipped generator without a shipped
    view (an older clone) is exported from its shipped weights first."""
    if source == "shipped":
        if has_view(result_files.DEFAULT_DIR, view_stem(name, seed)):
            return result_files.DEFAULT_DIR, view_stem(name, seed)
        folder = view_folder(config, name, seed, of_shipped=True)
        if not has_view(folder):
            with st.spinner(f"Exporting the shipped {name} generator…"):
                export_view(config, name, seed, train=False, shipped_state=True)
        return folder, VIEW_STEM
    return view_folder(config, name, seed), VIEW_STEM


def generator_views(config: ExperimentConfig, name: str, seed: int, source: str = "cache") -> dict[int, LatentView]:
    """``{label: LatentView}`` of generator ``name`` of (config, seed) from ``source``."""
    folder, stem = _view_location(config, name, seed, source)
    return _load(str(folder), stem, _stamp(folder, stem))


def view_for(config: ExperimentConfig, name: str, seed: int, source: str = "cache", label: int = 1) -> LatentView:
    """The view of ``label`` (one class the generator fills)."""
    views = generator_views(config, name, seed, source)
    if label not in views:
        raise ConfigError(f"the {name} generator's view holds labels {sorted(views)}, not {label}.")
    return views[label]


def latent_map_for(config: ExperimentConfig, view: LatentView, method: str, source: str = "cache") -> LatentMap:
    """The latent map of ``view`` by ``method``: PCA here (numpy), a t-SNE from the view
    or made once in the child and kept beside the view."""
    lmap = view.latent_map(method)
    if lmap is not None:
        return lmap
    extra = view_folder(config, view.name, view.seed, of_shipped=source == "shipped") / f"{method}-{view.label}.npy"
    coords = load_projection(extra)
    if coords is None:
        folder, stem = _view_location(config, view.name, view.seed, source)
        with st.spinner(f"Laying out the map with {method} (in a separate process)…"):
            _call({"kind": method, "folder": str(folder), "stem": stem, "label": view.label, "out": str(extra)})
        coords = load_projection(extra)
    return view.latent_map(method, coords)


# --------------------------------------------------------------------------------------
# Quality
# --------------------------------------------------------------------------------------
def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def generator_quality(config: ExperimentConfig, name: str, seed: int, source: str = "cache") -> dict:
    """Quality figures of one generator (measured once in the child, kept beside its view);
    a shipped generator's are the ones shipped with it."""
    if source == "shipped":
        found = shipped_default()
        figures = None if found is None else found[0].quality.get((name, seed))
        if figures is not None:
            return figures
    path = view_folder(config, name, seed, of_shipped=source == "shipped") / QUALITY_FILE
    figures = _read_json(path)
    if not isinstance(figures, dict):
        _data_ready(config)
        _call({"kind": "quality", "config": config.to_dict(), "name": name, "seed": int(seed), "out": str(path),
               "cache_root": cache_root(), "data_dir": data_dir()})
        figures = _read_json(path)
    return figures


def _has_generators(result: ExperimentResult) -> bool:
    return any(a.recipe.gen for a in result.recipes.values())


def _measured(settings: Settings) -> dict | None:
    """``{"points": report.quality_points, "gains": report.class_gains}`` of the experiment
    the Experiment page shows for these settings (None when it has not run yet), its
    generators' quality measured where missing: in the child, once per exported result
    (which also draws both tables: reading a generator with its own values resolves its
    part, and so loads torch); in this server when it trains in-process; a shipped result
    has it all."""
    result, provenance = shown_experiment(settings)
    if result is None:
        return None
    if provenance is None and _has_generators(result):
        spinner = "Measuring generator quality (the judge network trains once, about 30 s)…"
        if in_process():
            from vaeimb.studies.quality import (
                measure_quality,  # torch: this server trains in-process anyway
            )

            with st.spinner(spinner):
                measure_quality(result, cache=ResultCache(cache_root()), data_dir=data_dir())
        else:
            folder = exported_folder(settings)
            stamp = _stamp(folder, result_files.RESULT_JSON.removesuffix(".json"))
            if stamp:  # else not exported: shown without quality
                out = Path(cache_root()) / LATENT_VIEWS / f"quality-{stable_hash(str(folder), stamp)[:20]}.json"
                measured = _read_json(out)
                if not isinstance(measured, dict):
                    _data_ready(settings.config)
                    with st.spinner(spinner):
                        _call({"kind": "measure", "result": str(folder), "out": str(out), "cache_root": cache_root(),
                               "data_dir": data_dir()})
                    measured = _read_json(out)
                if isinstance(measured, dict):
                    return {"points": measured["points"], "gains": measured["gains"]}
    return {"points": quality_points(result), "gains": class_gains(result)}


def quality_of_finished(settings: Settings) -> list[dict] | None:
    """Quality against misclassified for the experiment the Experiment page shows for these
    settings (``report.quality_points``; None when it has not run yet); measures what is
    missing (cached)."""
    measured = _measured(settings)
    return None if measured is None else measured["points"]


def class_gains_of_finished(settings: Settings) -> list[dict] | None:
    """Each generator preset's quality and test recall gain over its twin, class by class
    (``report.class_gains``), for the experiment the Experiment page shows (None when it
    has not run yet); measures what is missing (cached)."""
    measured = _measured(settings)
    return None if measured is None else measured["gains"]
