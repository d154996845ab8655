"""Orchestration: run many (config, approach, seed) trainings as one pool of jobs.

``run_many`` plans every experiment's jobs (``runner.Runner.jobs``), runs them on an executor
backend (``vaeimb.running.executor``; default in-process), then gathers each experiment's results from
the cache with the decisions applied. ``run_experiment`` is one experiment; sweeps and atlases
are many. Lookups the app needs (is it cached? the fitted generator) live here too.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterable

from ..declarations.config import ExperimentConfig
from ..declarations.jobs import (
    ProgressCallback,
    ProgressEvent,
    error_text,
    generator_job,
    is_stop,
)
from ..parts.data import load_for
from ..parts.training import set_threads
from ..running.cache import ResultCache
from ..running.executor import Backend, InProcess, execute
from ..running.recipes import CLASSIC, Approach, build_approach
from ..running.results import ExperimentResult, RunResult
from ..running.runner import Runner, check_seeds, plan, unavailable

__all__ = [
    "ExperimentResult", "Experiment", "ProgressEvent", "RunResult", "all_cached", "generator_is_cached", "generator_job",
    "load_generator", "plan", "run_experiment", "run_many",
]


def job_names(config: ExperimentConfig, approaches) -> list[str]:
    """What a Run trains, in run order: generators first, then every approach (twins too);
    the names progress events carry."""
    chosen, _ = plan(config, approaches)
    gens = [generator_job(a.recipe.gen) for a in chosen if a.recipe.gen]
    return list(dict.fromkeys(gens)) + [a.name for a in chosen]


@dataclass(frozen=True)
class Experiment:
    """One config's experiment within ``run_many`` (a sweep point, an atlas cell)."""

    config: ExperimentConfig
    approaches: tuple[str, ...] = CLASSIC
    seeds: tuple[int, ...] = (0,)
    where: str = ""  # its label in progress events


def run_many(
    experiments: Iterable[Experiment],
    *,
    cache: ResultCache | None = None,
    data_dir=None,
    progress: ProgressCallback = None,
    executor: Backend | None = None,
    twins: bool = True,
    quality: bool = False,
) -> list[ExperimentResult]:
    """Run several experiments as one pool of jobs on ``executor`` (``vaeimb.running.executor``;
    default: in-process), then gather each result from the cache.

    Every config, approach and seed is checked before anything trains (``ConfigError``).
    A failure inside one (approach, seed) is recorded in its result's ``failures`` and the
    others carry on. Anything raised from ``progress`` (e.g. a closed browser tab) stops
    the run; finished entries stay cached.
    """
    experiments = list(experiments)
    plans = []
    for experiment in experiments:
        chosen, pairs = plan(experiment.config, experiment.approaches, twins=twins)
        plans.append((experiment, chosen, pairs, check_seeds(experiment.seeds)))
    cache = cache if cache is not None else ResultCache()
    cache.check_writable()
    images = load_for([e.config for e in experiments], data_dir)  # a missing dataset is one clear error up front (downloaded here, once)
    executor = executor if executor is not None else InProcess()
    identity = executor.identity
    jobs: dict = {}
    for experiment, chosen, _, seeds in plans:
        runner = Runner(experiment.config, cache, identity, where=experiment.where)
        for t in runner.jobs(chosen, seeds):
            jobs.setdefault(t.key, t)
    outcome = execute(jobs.values(), executor, cache=cache, images=images, progress=progress)
    failed = outcome.failed
    computed = set(jobs) - set(failed) - outcome.elsewhere  # what another process trained counts as cached
    results = []
    for experiment, chosen, pairs, seeds in plans:
        runner = Runner(experiment.config, cache, identity, data_dir=data_dir, progress=progress, images=images,
                        failed=failed, computed=computed, where=experiment.where)
        results.append(_gather(runner, chosen, pairs, seeds))
        if quality and any(a.recipe.gen for a in chosen):  # only generators have a quality to measure
            from .quality import measure_quality  # torch: the judge network

            set_threads(identity.threads)  # what the driver itself computes runs as the jobs do
            measure_quality(results[-1], runner=runner)
    return results


def run_experiment(
    config: ExperimentConfig,
    approaches: Iterable[str] = CLASSIC,
    seeds: Iterable[int] = (0,),
    *,
    cache: ResultCache | None = None,
    data_dir=None,
    progress: ProgressCallback = None,
    twins: bool = True,
    quality: bool = False,
    executor=None,
) -> ExperimentResult:
    """Train (or load) every requested (approach, seed) and gather the results.

    Bad input raises ``ConfigError`` before anything trains. A failure inside one
    (approach, seed) is recorded in ``failures`` and the others carry on. Anything raised
    from ``progress`` (e.g. a closed browser tab) stops the run; finished entries stay cached.
    ``quality``: also measure every generator's samples (``vaeimb.studies.quality``).
    ``executor``: a ``vaeimb.running.executor`` backend (default: in-process).
    """
    experiment = Experiment(config, tuple(approaches), tuple(seeds))
    (result,) = run_many([experiment], cache=cache, data_dir=data_dir, progress=progress, executor=executor,
                         twins=twins, quality=quality)
    return result


def _gather(runner: Runner, chosen: list[Approach], pairs: dict[str, str], seeds: tuple[int, ...]) -> ExperimentResult:
    """Each (approach, seed)'s result from the cache (its decision applied here)."""
    config = runner.config
    names = tuple(a.name for a in chosen)
    result = ExperimentResult(config, names, seeds, runs={n: {} for n in names},
                              recipes={a.name: a for a in chosen}, twins=pairs)
    for seed in seeds:
        for a in chosen:
            reason = unavailable(a, config)
            if reason:
                result.failures.setdefault(a.name, {})[seed] = f"not available: {reason}"
                runner.emit(a.name, seed, 0, 0, "failed", reason)
                continue
            try:
                run, cached = runner.run(a, seed)
            except Exception as err:  # one approach failing must not lose the others
                if is_stop(err):
                    raise
                msg = error_text(err)
                warnings.warn(f"{a.name} (seed {seed}) failed: {msg}", RuntimeWarning, stacklevel=3)
                result.failures.setdefault(a.name, {})[seed] = msg
                runner.emit(a.name, seed, 0, 0, "failed", msg)
                continue
            result.runs[a.name][seed] = run
            result.cached += int(cached)
            runner.emit(a.name, seed, config.steps, config.steps, "cached" if cached else "done")
    return result


def load_generator(
    config: ExperimentConfig, name: str, seed: int, *, cache: ResultCache | None = None, data_dir=None,
    progress: ProgressCallback = None,
):
    """The fitted generator ``name`` of (config, seed): from the cache, or fitted now."""
    config.validate()
    (seed,) = check_seeds([seed])
    approach = build_approach(f"gen={name}", config.protocol_record)
    runner = Runner(config, cache if cache is not None else ResultCache(), data_dir=data_dir, progress=progress)
    return runner.generator(approach, seed)


def generator_is_cached(config: ExperimentConfig, name: str, seed: int, cache: ResultCache) -> bool:
    approach = build_approach(f"gen={name}", config.protocol_record)
    return cache.exists("generator", Runner(config, cache).generator_key(approach, seed))


def all_cached(config: ExperimentConfig, approaches: Iterable[str], seeds: Iterable[int], cache: ResultCache) -> bool:
    """Whether every runnable (approach, seed) classifier is already on disk."""
    chosen, _ = plan(config, approaches)
    runner = Runner(config, cache)
    for seed in seeds:
        for a in chosen:
            if unavailable(a, config):
                continue
            if not cache.exists("classifier", runner.classifier_key(a, seed)):
                return False
    return True
