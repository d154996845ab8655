"""The Latent space page's data: generators with a latent space, their quality, the
minority images of a draw, latent maps (heavy objects kept in ``st.cache_resource``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from vaeimb.declarations.config import ExperimentConfig, stable_hash
from vaeimb.declarations.jobs import ProgressEvent
from vaeimb.parts.data import load_mnist, make_experiment_data
from vaeimb.running import result_files as shipped
from vaeimb.running.cache import ResultCache
from vaeimb.running.results import ExperimentResult

from .runs import shipped_default, cache_root, data_dir, ensure_mnist, shown_experiment
from .settings import Settings, config_from_json, config_json

if TYPE_CHECKING:  # annotations only: it loads torch
    from vaeimb.presentation.latent import LatentMap


# --------------------------------------------------------------------------------------
# VAE, data and latent map (heavy objects, shared across reruns; the Latent page loads torch)
# --------------------------------------------------------------------------------------
def latent_generators() -> tuple[str, ...]:
    """Generators the Latent space page can explore (those with a latent space)."""
    from vaeimb.parts.generators import LEARNED  # torch: the Latent page's own

    return LEARNED


def generator_key_for(config: ExperimentConfig, name: str, seed: int, source: str = "cache") -> str:
    """A short, stable identity of (config, generator, seed) for widget keys and the cached
    decoder spec; the shipped generator has its own (the user's own replaces it)."""
    if source == "shipped":
        return stable_hash(config.to_dict(), name, seed, source)[:12]
    return stable_hash(config.to_dict(), name, seed)[:12]


@st.cache_data(max_entries=32, show_spinner=False)
def _quality(cfg_json: str, name: str, seed: int, root: str, ddir: str | None) -> dict:
    from vaeimb.studies.quality import generator_quality_of

    return generator_quality_of(config_from_json(cfg_json), name, seed, cache=ResultCache(root), data_dir=ddir)


def generator_quality(config: ExperimentConfig, name: str, seed: int, source: str = "cache") -> dict:
    """Quality figures of one generator (cached on disk and in memory); a shipped
    generator's are the ones shipped with it."""
    if source == "shipped":
        found = shipped_default()
        figures = None if found is None else found[0].quality.get((name, seed))
        if figures is not None:
            return figures
    return _quality(config_json(config), name, seed, cache_root(), data_dir())


def _finished_with_quality(settings: Settings) -> ExperimentResult | None:
    """The experiment the Experiment page shows for these settings (None when it has not
    run yet), its generators' quality measured where missing (cached on disk; a shipped
    result has it all)."""
    result, provenance = shown_experiment(settings)
    if result is None or not any(a.recipe.gen for a in result.recipes.values()):
        return result
    if provenance is None:  # the user's own: measure what is missing
        from vaeimb.studies.quality import measure_quality

        with st.spinner("Measuring generator quality (the judge network trains once, about 30 s)…"):
            measure_quality(result, cache=ResultCache(cache_root()), data_dir=data_dir())
    return result


def quality_of_finished(settings: Settings) -> list[dict] | None:
    """Quality against misclassified for the experiment the Experiment page shows for these
    settings (``report.quality_points``; None when it has not run yet); measures what is
    missing (cached)."""
    from vaeimb.presentation.report import quality_points

    result = _finished_with_quality(settings)
    return None if result is None else quality_points(result)


def class_gains_of_finished(settings: Settings) -> list[dict] | None:
    """Each generator preset's quality and test recall gain over its twin, class by class
    (``report.class_gains``), for the experiment the Experiment page shows (None when it
    has not run yet); measures what is missing (cached)."""
    from vaeimb.presentation.report import class_gains

    result = _finished_with_quality(settings)
    return None if result is None else class_gains(result)


def generator_cached(config: ExperimentConfig, name: str, seed: int) -> bool:
    from vaeimb.studies.experiment import (
        generator_is_cached,  # torch: see latent_generators
    )

    return generator_is_cached(config, name, seed, ResultCache(cache_root()))


def shipped_generator_for(config: ExperimentConfig, name: str, seed: int) -> dict | None:
    """The provenance of the shipped fitted generator ``name`` of ``seed`` when ``config``
    is the one it was fitted for (the app's defaults), else None."""
    found = shipped_default()
    if found is None or found[0].config != config or not shipped.has_generator(shipped.DEFAULT_DIR, name, seed):
        return None
    return found[1]


def generator_source(config: ExperimentConfig, name: str, seed: int) -> str | None:
    """Where the Latent page gets the generator: "cache" (the user's own), "shipped" (the
    app's defaults, nothing trained yet) or None (it must be trained first)."""
    if generator_cached(config, name, seed):
        return "cache"
    if shipped_generator_for(config, name, seed) is not None:
        return "shipped"
    return None


@st.cache_resource(max_entries=4, show_spinner=False)
def _generator(cfg_json: str, name: str, seed: int, root: str, ddir: str | None, source: str = "cache"):
    if source == "shipped":
        return shipped.load_generator(shipped.DEFAULT_DIR, name, seed)
    from vaeimb.studies.experiment import load_generator  # torch: see latent_generators

    return load_generator(config_from_json(cfg_json), name, seed, cache=ResultCache(root), data_dir=ddir)


def fitted_generator(config: ExperimentConfig, name: str, seed: int, source: str = "cache"):
    """The fitted generator ``name`` of (config, seed): the user's from the cache (fitted
    only if absent), or the shipped one (``source="shipped"``)."""
    return _generator(config_json(config), name, seed, cache_root(), data_dir(), source)


def train_generator_with_progress(config: ExperimentConfig, name: str, seed: int):
    from vaeimb.studies.experiment import load_generator  # torch: see latent_generators

    ensure_mnist()
    with st.status(f"Training the {name} generator for seed {seed}…", expanded=True) as status:
        bar = st.progress(0.0, text=f"{name}: starting")

        def on_progress(e: ProgressEvent) -> None:
            if e.total:
                bar.progress(min(1.0, e.done / e.total), text=f"{name}: step {e.done}/{e.total}")

        gen = load_generator(config, name, seed, cache=ResultCache(cache_root()), data_dir=data_dir(), progress=on_progress)
        status.update(label=f"{name} trained", state="complete", expanded=False)
    return gen


@st.cache_resource(max_entries=2, show_spinner=False)
def _experiment_images(cfg_json: str, seed: int, ddir: str | None, label: int = 1):
    data = make_experiment_data(config_from_json(cfg_json), seed, load_mnist(ddir))
    return data.generator_by_class[label], data.train_x[data.train_y == 0]


def experiment_images(config: ExperimentConfig, seed: int, label: int = 1):
    """(the images generators learn ``label`` from, the head's training images) of (config,
    seed); the pair: (its minority images, its majority images)."""
    ensure_mnist()
    return _experiment_images(config_json(config), seed, data_dir(), label)


@st.cache_resource(max_entries=4, show_spinner="Encoding images…")
def _latent_map(cfg_json: str, name: str, seed: int, method: str, root: str, ddir: str | None,
                source: str = "cache", label: int = 1) -> LatentMap:
    from vaeimb.presentation.latent import (  # torch: see latent_generators
        for_label,
        latent_map,
    )

    gen = for_label(_generator(cfg_json, name, seed, root, ddir, source), label)
    real, majority = _experiment_images(cfg_json, seed, ddir, label)
    generated = gen.sample(min(len(majority), 1000), seed=seed)
    return latent_map(gen, real, generated, majority, method=method, seed=seed)


def latent_map_for(config: ExperimentConfig, name: str, seed: int, method: str, source: str = "cache",
                   label: int = 1) -> LatentMap:
    return _latent_map(config_json(config), name, seed, method, cache_root(), data_dir(), source, label)
