"""A recipe search on the validation split (issue #22): which parts, with which parameters,
does a task want?

Optuna's TPE sampler (Bergstra et al. 2011; a seeded sampler, so one search gives the same
trials again) proposes a recipe from ``SPACE`` and the parameters in ``RANGES``. Each trial
trains its recipe on the training draw less its stratified validation split (the split a
``tuned`` decision carves), for a few seeds the evaluation does not use (default 100, 101),
and is scored by the validation balanced accuracy (mean per-class recall: ACSA) of its final
model after its decision. The test set is never read: the runner's validation predictions
read the training draw alone. The first trial is the incumbent (``augment-posthoc`` by
default), so the search starts from the best known recipe and can only replace it by one
that did better on validation.

The winner is the best mean validation score among the trials that trained in at most
``time_factor`` times the incumbent's time; it is saved as a named preset with the search's
record beside it (``recipes.save_searched``), and evaluated on the test set like every other
preset, over the paired seeds, afterwards.

Where a library does the work: Optuna (TPE, the trial bookkeeping, conditional parameters).
Generators are not searched: the search answers what generator-free training reaches,
against which the generators are measured.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ..declarations.config import ExperimentConfig
from ..declarations.errors import ConfigError
from ..parts.data import load_for
from ..parts.metrics import multiclass_metrics
from ..parts.training import set_threads
from ..running.executor import InProcess, execute
from ..running.recipes import (
    PRESETS,
    Approach,
    build_approach,
    part_class,
    searched_entry,
)
from ..running.runner import Runner, check_seeds, plan


@dataclass(frozen=True)
class Choice:
    """A recipe key and the part names a trial may give it."""

    key: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Range:
    """A parameter of one part, searched (uniformly, or log-uniformly) when that part is chosen."""

    key: str
    part: str
    param: str
    low: float
    high: float
    log: bool = False

    @property
    def label(self) -> str:
        """Its name in Optuna and in the record: ``part.param`` (e.g. ``mixup.alpha``)."""
        return f"{self.part}.{self.param}"


#: The parts a trial chooses from, declared once (generator-free: see the module's docstring).
SPACE = (
    Choice("batches", ("random", "balanced", "deferred")),
    Choice("aug", ("none", "affine", "elastic")),
    Choice("mix", ("none", "mixup", "remix")),
    Choice("loss", ("ce", "la", "weighted")),
    Choice("decision", ("argmax", "posthoc")),
)
#: The parameters searched when their part is chosen (inside each ``Param``'s declared range).
RANGES = (
    Range("batches", "deferred", "switch", 0.5, 0.9),
    Range("aug", "elastic", "alpha", 4.0, 34.0),
    Range("mix", "mixup", "alpha", 0.1, 1.0, log=True),
    Range("mix", "remix", "alpha", 0.1, 1.0, log=True),
    Range("loss", "la", "tau", 0.25, 2.0),
    Range("loss", "weighted", "power", 0.25, 1.0),
    Range("loss", "weighted", "switch", 0.5, 0.9),
    Range("decision", "posthoc", "tau", 0.0, 1.5),
)
#: Seeds whose training draws the search reads: not the evaluation's 0..4.
SEARCH_SEEDS = (100, 101)
DEFAULT_TRIALS = 30
#: The winner trains in at most this many times the incumbent's time (issue #22's target).
TIME_FACTOR = 1.5


@dataclass
class Trial:
    """One trial: the recipe proposed, its validation score per seed, its training time."""

    number: int
    recipe: str
    params: dict[str, Any]
    scores: dict[int, float] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)
    error: str = ""

    @property
    def score(self) -> float:
        """Mean validation balanced accuracy over the seeds (nan if any seed failed)."""
        return float(np.mean(list(self.scores.values()))) if self.scores and not self.error else float("nan")

    @property
    def train_seconds(self) -> float:
        return float(np.mean(list(self.seconds.values()))) if self.seconds else float("nan")

    def record(self) -> dict:
        return {"number": self.number, "recipe": self.recipe, "params": self.params, "score": _num(self.score),
                "scores": {str(s): v for s, v in self.scores.items()}, "train_seconds": _num(self.train_seconds),
                "error": self.error}


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def check_trials(n: Any) -> int:
    """A trial budget of 1 or more (0 would search nothing: say so)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"the search needs a budget of 1 or more trials, got {n!r}.")
    return int(n)


def check_space() -> None:
    """Every name in ``SPACE`` is a registered part and every range lies inside its
    parameter's declared range (a ConfigError names the first that does not)."""
    keys = {c.key: c for c in SPACE}
    for c in SPACE:
        for name in c.names:
            part_class(c.key, name)
    for r in RANGES:
        if r.key not in keys or r.part not in keys[r.key].names:
            raise ConfigError(f"search range {r.label}: {r.key}={r.part} is not in the search space.")
        p = part_class(r.key, r.part).param(r.param)
        if (p.low is not None and r.low < p.low) or (p.high is not None and r.high > p.high) or r.low >= r.high:
            raise ConfigError(f"search range {r.label} [{r.low}, {r.high}] is not inside {p.describe()}.")


def recipe_of(choices: Mapping[str, str]) -> str:
    """The recipe text of a trial's choices (keys in ``SPACE``'s order)."""
    return ",".join(f"{c.key}={choices[c.key]}" for c in SPACE)


def approach_of(params: Mapping[str, Any], protocol) -> Approach:
    """The trial's approach (held-out validation split) from its Optuna parameters."""
    choices = {c.key: params[c.key] for c in SPACE}
    overrides = {f"{r.key}.{r.param}": params[r.label] for r in RANGES
                 if choices[r.key] == r.part and r.label in params}
    text = recipe_of(choices)
    return replace(build_approach(text, protocol, overrides), hold_out=True)


def incumbent_params(name: str, protocol) -> dict[str, Any]:
    """The Optuna parameters that propose the preset ``name`` (its parts and its values of
    the searched parameters); a preset outside the space is refused."""
    a = build_approach(name, protocol)
    if a.recipe.gen or a.recipe.data != "real":
        raise ConfigError(f"the incumbent must be a generator-free recipe on the real data, not {name!r}.")
    params: dict[str, Any] = {}
    for c in SPACE:
        part = getattr(a.recipe, c.key)
        if part not in c.names:
            raise ConfigError(f"the incumbent {name!r} uses {c.key}={part}, outside the search space "
                              f"({', '.join(c.names)}).")
        params[c.key] = part
    for r in RANGES:
        if params[r.key] == r.part:
            v = a.values[r.key][r.param]
            params[r.label] = min(max(float(v), r.low), r.high)
    return params


def suggest(trial) -> dict[str, Any]:
    """A trial's parameters from ``SPACE`` and ``RANGES`` (conditional on the parts chosen)."""
    params: dict[str, Any] = {c.key: trial.suggest_categorical(c.key, list(c.names)) for c in SPACE}
    for r in RANGES:
        if params[r.key] == r.part:
            params[r.label] = trial.suggest_float(r.label, r.low, r.high, log=r.log)
    return params


def validation_score(runner: Runner, approach: Approach, seed: int) -> float:
    """The approach's validation balanced accuracy (ACSA) for ``seed``."""
    y, pred = runner.validation_predictions(approach, seed)
    return multiclass_metrics(y, pred, runner.config.n_classes)["balanced_accuracy"]


@dataclass
class SearchResult:
    name: str
    config: ExperimentConfig
    trials: list[Trial]
    winner: Trial
    incumbent: str
    seeds: tuple[int, ...]
    time_limit: float
    minutes: float
    sampler: str
    environment: dict = field(default_factory=dict)

    def record(self) -> dict:
        return {
            "sampler": self.sampler, "objective": "validation balanced accuracy (ACSA), mean over the seeds",
            "seeds": list(self.seeds), "validation_fraction": self.config.validation_fraction,
            "incumbent": self.incumbent, "time_factor": TIME_FACTOR,
            "time_limit_seconds": _num(self.time_limit), "winner": self.winner.number,
            "n_trials": len(self.trials), "minutes": round(self.minutes, 2),
            "trials": [t.record() for t in self.trials],
        }


def pick_winner(trials: list[Trial], time_limit: float) -> Trial:
    """The best mean validation score among the trials that trained within ``time_limit``
    seconds; ties go to the earlier trial (the incumbent first)."""
    ok = [t for t in trials if math.isfinite(t.score) and not t.train_seconds > time_limit]
    if not ok:
        raise ConfigError("no trial of the search finished within the time limit: nothing to save.")
    return max(ok, key=lambda t: (t.score, -t.number))


def search(config: ExperimentConfig, *, name: str, trials: int = DEFAULT_TRIALS,
           seeds: Iterable[int] = SEARCH_SEEDS, incumbent: str = "augment-posthoc", sampler_seed: int = 0,
           cache, executor=None, data_dir=None, progress: Callable | None = None,
           on_trial: Callable[[Trial], None] | None = None) -> SearchResult:
    """Search recipes for ``config`` on its validation split (see the module's docstring).

    Bad input (no trials, a name taken by a built-in preset, an incumbent outside the
    space, an invalid config) raises ``ConfigError`` before anything trains.
    """
    import optuna  # the search's own dependency: loaded by the command that needs it

    trials = check_trials(trials)
    seeds = check_seeds(seeds)
    check_space()
    if name in PRESETS and not searched_entry(name):
        raise ConfigError(f"--name {name!r} is a built-in preset; choose another name for the searched one.")
    config.validate()
    first = incumbent_params(incumbent, config.protocol_record)
    plan(config, [approach_of(first, config.protocol_record).recipe.text()])  # the task accepts the parts
    images = load_for([config], data_dir)
    executor = executor if executor is not None else InProcess()
    set_threads(executor.identity.threads)
    runner = Runner(config, cache, executor.identity, data_dir=data_dir, images=images)
    cache.check_writable()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=sampler_seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial(first)
    done: list[Trial] = []
    t0 = time.perf_counter()
    for n in range(trials):
        ot = study.ask()
        params = suggest(ot)
        approach = replace(approach_of(params, config.protocol_record), name=f"trial {n}")
        trial = Trial(n, approach.recipe.short(), {k: v for k, v in params.items()})
        failed = execute(runner.jobs([approach], seeds), executor, cache=cache, images=images, progress=progress).failed
        runner.failed = failed
        for seed in seeds:
            try:
                trial.scores[seed] = validation_score(runner, approach, seed)
                meta, _, _ = runner.classifier(approach, seed)
                trial.seconds[seed] = float(meta["info"]["seconds"])
            except Exception as err:  # a failed trial is recorded, the search goes on
                trial.error = str(err)
        if trial.error:
            study.tell(ot, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(ot, trial.score)
        done.append(trial)
        if on_trial is not None:
            on_trial(trial)
    limit = TIME_FACTOR * done[0].train_seconds if math.isfinite(done[0].train_seconds) else float("inf")
    winner = pick_winner(done, limit)
    return SearchResult(name, config, done, winner, incumbent, seeds, limit, (time.perf_counter() - t0) / 60,
                        f"optuna {optuna.__version__} TPESampler(seed={sampler_seed})", runner.environment)


def save(result: SearchResult, folder: str | os.PathLike, command: str) -> Path:
    """The winner as a searched preset ``folder/NAME.json`` (written whole, then renamed:
    a reader never sees half a file), the search's record beside it."""
    approach = approach_of(result.winner.params, result.config.protocol_record)
    env = result.environment
    entry = {
        "name": result.name, "recipe": approach.recipe.text(),
        "values": {k: dict(v) for k, v in approach.values.items()},
        "for": result.config.label(), "settings": result.config.to_dict(),
        "made_on": f"{env.get('cpu', '?')}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "command": command, "environment": env, "record": result.record(),
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(entry, indent=1, default=_json_default) + "\n")
    os.replace(tmp, path)
    return path


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON: {type(o).__name__}")
