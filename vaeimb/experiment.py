"""Experiment runs: every (approach, seed) trained once, cached, and summarised over seeds.

The runner knows recipes, never a particular generator, loss or rule: it fits the
recipe's generator (once per data, settings and seed, shared by every recipe that uses
it), trains the classifier the recipe describes (approaches that differ only in their
decision share one trained model), then applies the decision. Seeds are paired: one
training draw per seed, shared by every approach.
"""

from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Optional

import numpy as np

from .cache import ResultCache
from .config import ExperimentConfig, stable_hash
from .data import ExperimentData, load_mnist, make_experiment_data, validation_split
from .errors import ConfigError, VaeimbError
from .metrics import METRICS, Spread, classification_metrics, confusion_matrix, sigmoid, spread
from .recipes import CLASSIC, Approach, build_approaches, twin_of


def generator_task(name: str) -> str:
    """Task name of a generator's own training in progress events (an approach's
    classifier reports under the approach's name)."""
    return f"generator:{name}"


@dataclass(frozen=True)
class ProgressEvent:
    """What the runner is doing: ``task`` is an approach name or ``generator_task(name)``."""

    task: str
    seed: int
    done: int
    total: int
    status: str  # "running" | "cached" | "done" | "failed"
    message: str = ""
    where: str = ""  # which config (sweeps and atlases run several at once)


ProgressCallback = Optional[Callable[[ProgressEvent], None]]


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------
@dataclass
class RunResult:
    """One approach trained with one seed, evaluated on the whole test set."""

    approach: str
    seed: int
    threshold: float  # on the minority log-odds
    checkpoint_steps: np.ndarray  # (C,)
    checkpoint_logits: np.ndarray  # (C, n_test) minority log-odds; last row = final model
    test_y: np.ndarray  # (n_test,) 1 = minority
    test_index: np.ndarray  # (n_test,) positions in MNIST's test split
    metrics: dict[str, float]
    info: dict = field(default_factory=dict)  # counts, recipe, threshold, provenance, ...
    #: Validation errors at each checkpoint (recipes with a validation split), else None.
    val_curve: np.ndarray | None = None

    @property
    def logits(self) -> np.ndarray:
        return self.checkpoint_logits[-1]

    @property
    def probabilities(self) -> np.ndarray:
        """Predicted minority probability of each test image (final model)."""
        return sigmoid(self.logits)

    @property
    def predictions(self) -> np.ndarray:
        return (self.logits > self.threshold).astype(np.int64)

    @property
    def confusion(self) -> np.ndarray:
        return confusion_matrix(self.test_y, self.predictions)

    @property
    def curve_errors(self) -> np.ndarray:
        """Misclassified test images at each checkpoint (the learning curve)."""
        return ((self.checkpoint_logits > self.threshold) != self.test_y[None, :]).sum(1)

    @property
    def misclassified(self) -> np.ndarray:
        """Positions (in this run's test set) of the misclassified images."""
        return np.flatnonzero(self.predictions != self.test_y)

    @property
    def threshold_probability(self) -> float:
        return float(sigmoid(self.threshold))


@dataclass
class ExperimentResult:
    """All runs of one config; ``failures`` keeps what broke without losing the rest."""

    config: ExperimentConfig
    approaches: tuple[str, ...]
    seeds: tuple[int, ...]
    runs: dict[str, dict[int, RunResult]]
    failures: dict[str, dict[int, str]] = field(default_factory=dict)
    cached: int = 0  # how many (approach, seed) classifiers came from the cache
    #: The resolved recipes, by approach name (twins included).
    recipes: dict[str, Approach] = field(default_factory=dict)
    #: Generator preset -> its generator-free twin (run beside it).
    twins: dict[str, str] = field(default_factory=dict)
    #: (generator name, seed) -> quality figures (``vaeimb.quality``), when computed.
    quality: dict[tuple[str, int], dict] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, Spread]]:
        """Per approach that produced results: each metric's spread over seeds; counts'
        intervals are clipped to the possible range [0, n_test]."""
        n = self.n_test
        out = {}
        for name, by_seed in self.runs.items():
            if not by_seed:
                continue
            out[name] = {
                m: spread([r.metrics[m] for r in by_seed.values()],
                          bounds=(0.0, float(n)) if m == "misclassified" and n else (0.0, 1.0))
                for m in METRICS
            }
        return out

    def run(self, approach: str, seed: int) -> RunResult:
        return self.runs[approach][seed]

    @property
    def n_test(self) -> int | None:
        """Size of the test set (None when no run finished)."""
        return next((len(r.test_y) for by_seed in self.runs.values() for r in by_seed.values()), None)

    def per_seed(self, metric: str = "misclassified") -> dict[str, dict[int, float]]:
        return {name: {s: r.metrics[metric] for s, r in by_seed.items()} for name, by_seed in self.runs.items() if by_seed}

    def leaky_approaches(self) -> list[str]:
        proto = self.config.protocol_record
        return [n for n, a in self.recipes.items() if a.leaky(proto)]

    def verdict(self, metric: str = "misclassified"):
        """The paired verdict (``vaeimb.verdict``): the best realistic approach, every other
        one's paired difference to it, the oracle as the data limit, and each generator's
        own contribution against its generator-free twin."""
        from .verdict import verdict

        per_seed = self.per_seed(metric)
        if not per_seed:
            return None
        bounds = [n for n, a in self.recipes.items() if a.is_bound]
        higher = METRICS[metric][1]
        pairs = {p: t for p, t in self.twins.items() if p in per_seed}
        if not [n for n in per_seed if n not in bounds]:
            return None
        return verdict(per_seed, bounds=bounds, leaky=self.leaky_approaches(), higher_is_better=higher,
                       pairs=pairs or None, metric=metric if metric == "misclassified" else METRICS[metric][0])


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------
def _budget(cfg: ExperimentConfig):
    from .generators.base import FitBudget

    return FitBudget(steps=cfg.vae_steps, batch_size=cfg.vae_batch_size, lr=cfg.vae_lr,
                     latent_dim=cfg.latent_dim, batching=cfg.protocol_record.generator_batching)


def _subset(data: ExperimentData, rows: np.ndarray, leaky: bool) -> ExperimentData:
    """The training draw restricted to ``rows`` (a validation split's fitting part)."""
    train_y = data.train_y[rows]
    generator_x = data.generator_x if leaky else data.train_x[rows][train_y == 1]
    return replace(data, train_x=data.train_x[rows], train_y=train_y, generator_x=generator_x,
                   train_index=None if data.train_index is None else data.train_index[rows])


class _Runner:
    """Runs one config: data per seed, generators, then each approach (all cached).

    ``cache`` is the disk cache, or a worker's ``MemoryCache``; ``failed`` holds the
    entries an executor could not compute (key -> message), ``computed`` those it did.
    """

    def __init__(self, config: ExperimentConfig, cache, data_dir, progress: ProgressCallback, *,
                 mnist=None, failed: dict[str, str] | None = None, computed: Iterable[str] = (), where: str = ""):
        from .provenance import compute_identity

        self.config = config
        self.cache = cache
        self.data_dir = data_dir
        self.progress = progress
        self.identity = compute_identity()
        self.mnist = mnist
        self.failed = failed or {}
        self.computed = set(computed)
        self.where = where
        self._data: dict[int, ExperimentData] = {}

    @functools.cached_property
    def environment(self) -> dict:
        from .provenance import environment

        return environment()

    def emit(self, task: str, seed: int, done: int, total: int, status: str, message: str = "") -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(task, seed, done, total, status, message, where=self.where))

    def data(self, seed: int) -> ExperimentData:
        if seed not in self._data:
            mnist = self.mnist if self.mnist is not None else load_mnist(self.data_dir)
            self._data[seed] = make_experiment_data(self.config, seed, mnist)
        return self._data[seed]

    def fit_data(self, approach: Approach, seed: int) -> tuple[ExperimentData, np.ndarray | None]:
        """The rows the classifier (and its generator) learn from, and the validation rows."""
        data = self.data(seed)
        if not approach.part("decision").needs_validation:
            return data, None
        fit, val = validation_split(data.train_y, self.config.validation_fraction, seed)
        return _subset(data, fit, self.config.leaky), val

    # ---- generators ----------------------------------------------------------------
    def generator_key(self, approach: Approach, seed: int) -> str:
        gen = approach.part("gen")
        cfg = self.config
        parts = ["generator", gen.key(), cfg.generator_data_dict(), seed]
        if approach.part("decision").needs_validation:
            parts.append({"validation_fraction": cfg.validation_fraction})
        if gen.uses_budget:
            parts += [cfg.generator_budget_dict(), self.identity]
        return stable_hash(*parts)

    def generator(self, approach: Approach, seed: int):
        """The approach's fitted generator (from the cache, or fitted now and cached)."""
        return self._generator_entry(approach, seed)[0]

    def _generator_entry(self, approach: Approach, seed: int):
        """(fitted generator, its cache record, whether it came from the cache)."""
        from .generators.base import FitData

        key = self.generator_key(approach, seed)
        if key in self.failed:
            raise VaeimbError(self.failed[key])
        gen = approach.part("gen")
        task = generator_task(gen.name)
        cfg = self.config

        def compute():
            data, _ = self.fit_data(approach, seed)
            fit = FitData(minority=data.generator_x, majority=data.train_x[data.train_y == 0])
            gen.fit(fit, _budget(cfg), seed=seed, progress=lambda d, t: self.emit(task, seed, d, t, "running"))
            gen.info.update(trained_on="TEST split (LEAK)" if cfg.leaky else "train split", leaky=cfg.leaky,
                            environment=self.environment)
            return gen.state()

        # A cached entry is loaded once, by its validation; a new one is the generator just fitted.
        rec, cached = self.cache.get_or_compute("generator", key, compute,
                                                validate=lambda r: gen.load_state(r["meta"], r["arrays"]))
        cached = cached and key not in self.computed
        self.emit(task, seed, 1, 1, "cached" if cached else "done")
        return gen, rec, cached

    def n_generate(self, approach: Approach, data: ExperimentData) -> int:
        n = approach.values.get("data", {}).get("n_generate")
        if n is not None:
            return int(n)
        n_min = int((data.train_y == 1).sum())
        return max(0, int((data.train_y == 0).sum()) - n_min)

    # ---- classifiers ---------------------------------------------------------------
    def classifier_key(self, approach: Approach, seed: int) -> str:
        cfg = self.config
        parts = ["classifier", approach.key(training=True), cfg.data_dict(), cfg.classifier_dict(), seed, self.identity]
        if approach.recipe.gen:
            parts.append(self.generator_key(approach, seed))
        if approach.part("decision").needs_validation:
            parts.append({"validation_fraction": cfg.validation_fraction})
        return stable_hash(*parts)

    def training_set(self, approach: Approach, seed: int, data: ExperimentData):
        """(images, labels, real minority count, generated count) the classifier trains on."""
        n_min_real = int((data.train_y == 1).sum())
        if approach.recipe.data == "oracle":
            if data.oracle_minority_x is None:
                raise ConfigError(oracle_unavailable(self.config))
            majority = data.train_x[data.train_y == 0]
            x = np.concatenate([majority, data.oracle_minority_x])
            y = np.r_[np.zeros(len(majority), np.int64), np.ones(len(data.oracle_minority_x), np.int64)]
            return x, y, len(data.oracle_minority_x), 0
        if approach.recipe.gen:
            generated = self.generator(approach, seed).sample(self.n_generate(approach, data), seed=seed)
            x = np.concatenate([data.train_x, generated])
            y = np.r_[data.train_y, np.ones(len(generated), np.int64)]
            return x, y, n_min_real, len(generated)
        return data.train_x, data.train_y, n_min_real, 0

    def classifier(self, approach: Approach, seed: int) -> tuple[dict, dict, bool]:
        from .training import train_classifier

        cfg = self.config
        key = self.classifier_key(approach, seed)
        if key in self.failed:
            raise VaeimbError(self.failed[key])

        def compute():
            data, val_rows = self.fit_data(approach, seed)
            x, y, n_min_real, n_gen = self.training_set(approach, seed, data)
            evals = {"test": self.data(seed).test_x}
            if val_rows is not None:
                evals["val"] = self.data(seed).train_x[val_rows]
            t0 = time.perf_counter()
            run = train_classifier(
                cfg.classifier, cfg.output_logits, x, y, evals,
                batches=approach.part("batches"), loss=approach.part("loss"),
                augmentation=None if approach.recipe.aug == "none" else approach.part("aug"),
                n_minority_real=n_min_real, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                seed=seed, n_checkpoints=cfg.n_checkpoints,
                progress=lambda d, t: self.emit(approach.name, seed, d, t, "running"),
            )
            meta = {"info": {
                "n_train_majority": int((y == 0).sum()),
                "n_train_minority_real": int(n_min_real),
                "n_generated": int(n_gen),
                "n_validation": 0 if val_rows is None else int(len(val_rows)),
                "n_validation_minority": 0 if val_rows is None else int(self.data(seed).train_y[val_rows].sum()),
                "seconds": time.perf_counter() - t0,
                "environment": self.environment,
            }}
            arrays = {"steps": run.steps.astype(np.int64), "test_logits": run.logits["test"]}
            if val_rows is not None:
                arrays["val_logits"] = run.logits["val"]
                arrays["val_rows"] = val_rows.astype(np.int64)
            return meta, arrays

        def check(rec):
            rec["meta"]["info"]["environment"], rec["arrays"]["steps"], rec["arrays"]["test_logits"]

        rec, cached = self.cache.get_or_compute("classifier", key, compute, validate=check)
        fresh = key in self.computed
        self.computed.discard(key)  # a second approach sharing this model reuses it: a cache hit
        return rec["meta"], rec["arrays"], cached and not fresh

    # ---- tasks for an executor -------------------------------------------------------
    def tasks(self, chosen: Iterable[Approach], seeds: Iterable[int], threads: int) -> list:
        """The entries ``chosen`` x ``seeds`` still lack, as executor tasks (a classifier
        after the generator it learns from; approaches sharing a model share one task)."""
        from .executor import Task

        cfg = self.config
        precision = self.identity["precision"]
        out: dict[str, Task] = {}
        for seed in seeds:
            for a in chosen:
                if a.is_bound and oracle_unavailable(cfg):
                    continue
                deps: tuple[str, ...] = ()
                if a.recipe.gen:
                    gkey = self.generator_key(a, seed)
                    deps = (gkey,)
                    if gkey not in out and not self.cache.exists("generator", gkey):
                        out[gkey] = Task("generator", gkey, cfg, a, seed, threads, precision, label=generator_task(a.recipe.gen),
                                         where=self.where, total=cfg.vae_steps)
                ckey = self.classifier_key(a, seed)
                if ckey not in out and not self.cache.exists("classifier", ckey):
                    out[ckey] = Task("classifier", ckey, cfg, a, seed, threads, precision, deps, label=a.name,
                                     where=self.where, total=cfg.steps)
        return list(out.values())

    def run(self, approach: Approach, seed: int) -> tuple[RunResult, bool]:
        """Train (or load) the approach's classifier, then apply its decision."""
        from .decisions.base import DecisionContext

        meta, arrays, cached = self.classifier(approach, seed)
        info = dict(meta["info"])
        data = self.data(seed)
        val_logits = arrays.get("val_logits")
        val_y = data.train_y[arrays["val_rows"]] if "val_rows" in arrays else None
        decision = approach.part("decision")
        n_maj = info["n_train_majority"]
        ctx = DecisionContext(
            n_majority=n_maj, n_minority_real=info["n_train_minority_real"],
            n_minority=info["n_train_minority_real"] + info["n_generated"],
            balanced_batches=approach.recipe.batches == "balanced",
            val_logits=None if val_logits is None else val_logits[-1], val_y=val_y,
        )
        threshold = decision.threshold(ctx)
        # The test labels are read here, after every choice has been made, and only here.
        test_y, test_logits = data.test_y, arrays["test_logits"]
        info.update(
            recipe=approach.recipe.text(), values={k: dict(v) for k, v in approach.values.items()},
            threshold_logit=threshold, threshold_probability=float(sigmoid(threshold)),
            leaky=approach.leaky(self.config.protocol_record), is_bound=approach.is_bound,
        )
        val_curve = None if val_logits is None else ((val_logits > threshold) != val_y[None, :]).sum(1)
        result = RunResult(
            approach=approach.name, seed=seed, threshold=threshold,
            checkpoint_steps=np.asarray(arrays["steps"]), checkpoint_logits=np.asarray(test_logits, np.float32),
            test_y=np.asarray(test_y), test_index=np.asarray(data.test_index),
            metrics=classification_metrics(test_y, test_logits[-1], threshold), info=info, val_curve=val_curve,
        )
        return result, cached


def oracle_unavailable(config: ExperimentConfig) -> str | None:
    from .config import TRAIN_COUNTS

    have = TRAIN_COUNTS[config.minority]
    if have < config.n_majority:
        return (f"the oracle needs {config.n_majority} real images of digit {config.minority} "
                f"but MNIST train holds {have}")
    return None


def check_seeds(seeds: Iterable[int]) -> tuple[int, ...]:
    out = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 <= int(s) < 2**31:
            raise ConfigError(f"Seeds must be integers from 0 to {2**31 - 1}, got {s!r}.")
        if int(s) not in out:
            out.append(int(s))
    if not out:
        raise ConfigError("Give at least one seed.")
    return tuple(out)


def plan(config: ExperimentConfig, approaches: Iterable[str], *, twins: bool = True) -> tuple[list[Approach], dict[str, str]]:
    """The approaches to run (each generator preset's generator-free twin added) and the
    preset -> twin map. Raises ConfigError for any unknown part or parameter."""
    config.validate()
    chosen = build_approaches(approaches, config)
    if any(a.part("decision").needs_validation for a in chosen):
        import numpy as np

        validation_split(np.r_[np.zeros(config.n_majority, np.int64), np.ones(config.n_minority, np.int64)],
                         config.validation_fraction, 0)  # refuses a split that leaves a class empty
    by_name = {a.name: a for a in chosen}
    pairs: dict[str, str] = {}
    if twins:
        for a in chosen:
            if a.recipe.gen:
                t = twin_of(a, config.protocol_record)
                same = next((b for b in by_name.values() if b.key(training=False) == t.key(training=False)), None)
                if same is None:
                    by_name[t.name] = t
                    same = t
                pairs[a.name] = same.name
    return list(by_name.values()), pairs


def compute_task(task, cache, *, data_dir=None, mnist=None, progress: ProgressCallback = None) -> tuple[dict, bool]:
    """Compute one executor task with the entries of ``cache`` (a worker's ``MemoryCache``
    holding its dependencies, or the disk cache in-process). Returns (record, was_cached)."""
    runner = _Runner(task.config, cache, data_dir, progress, mnist=mnist, where=task.where)
    if task.kind == "generator":
        key = runner.generator_key(task.approach, task.seed)
        _, rec, cached = runner._generator_entry(task.approach, task.seed)
    else:
        key = runner.classifier_key(task.approach, task.seed)
        meta, arrays, cached = runner.classifier(task.approach, task.seed)
        rec = {"meta": meta, "arrays": arrays}
    if key != task.key:  # the worker's code, versions or device differ from the driver's
        raise VaeimbError("the worker computes a different cache key than the driver (different code, "
                          "versions or device); install the same vaeimb and torch on every node")
    return rec, cached


@dataclass(frozen=True)
class Job:
    """One config's experiment within ``run_many`` (a sweep point, an atlas cell)."""

    config: ExperimentConfig
    approaches: tuple[str, ...] = CLASSIC
    seeds: tuple[int, ...] = (0,)
    where: str = ""  # its label in progress events


def run_many(
    jobs: Iterable[Job],
    *,
    cache: ResultCache | None = None,
    data_dir=None,
    progress: ProgressCallback = None,
    executor=None,
    twins: bool = True,
    quality: bool = False,
) -> list[ExperimentResult]:
    """Run several experiments as one pool of tasks on ``executor`` (``vaeimb.executor``;
    default: in-process), then gather each result from the cache.

    Every config, approach and seed is checked before anything trains (``ConfigError``).
    A failure inside one (approach, seed) is recorded in its result's ``failures`` and the
    others carry on. Anything raised from ``progress`` (e.g. a closed browser tab) stops
    the run; finished entries stay cached.
    """
    from .executor import InProcess, execute

    jobs = list(jobs)
    plans = []
    for job in jobs:
        chosen, pairs = plan(job.config, job.approaches, twins=twins)
        plans.append((job, chosen, pairs, check_seeds(job.seeds)))
    cache = cache if cache is not None else ResultCache()
    cache.check_writable()
    mnist = load_mnist(data_dir)  # a missing dataset is one clear error up front
    executor = executor if executor is not None else InProcess()
    from .training import set_threads

    set_threads(executor.threads)  # keys planned here must be the keys the tasks compute
    tasks: dict = {}
    for job, chosen, _, seeds in plans:
        runner = _Runner(job.config, cache, data_dir, None, where=job.where)
        for t in runner.tasks(chosen, seeds, executor.threads):
            tasks.setdefault(t.key, t)
    failed = execute(tasks.values(), executor, cache=cache, data_dir=data_dir, mnist=mnist, progress=progress)
    computed = set(tasks) - set(failed)
    results = []
    for job, chosen, pairs, seeds in plans:
        runner = _Runner(job.config, cache, data_dir, progress, mnist=mnist, failed=failed, computed=computed,
                         where=job.where)
        results.append(_gather(runner, chosen, pairs, seeds))
        if quality:
            measure_quality(results[-1], cache=cache, data_dir=data_dir, runner=runner)
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
    ``quality``: also measure every generator's samples (``vaeimb.quality``).
    ``executor``: a ``vaeimb.executor`` backend (default: in-process).
    """
    job = Job(config, tuple(approaches), tuple(seeds))
    (result,) = run_many([job], cache=cache, data_dir=data_dir, progress=progress, executor=executor,
                         twins=twins, quality=quality)
    return result


def _gather(runner: _Runner, chosen: list[Approach], pairs: dict[str, str], seeds: tuple[int, ...]) -> ExperimentResult:
    """Each (approach, seed)'s result from the cache (its decision applied here)."""
    config = runner.config
    names = tuple(a.name for a in chosen)
    result = ExperimentResult(config, names, seeds, runs={n: {} for n in names},
                              recipes={a.name: a for a in chosen}, twins=pairs)
    for seed in seeds:
        for a in chosen:
            reason = oracle_unavailable(config) if a.is_bound else None
            if reason:
                result.failures.setdefault(a.name, {})[seed] = f"not available: {reason}"
                runner.emit(a.name, seed, 0, 0, "failed", reason)
                continue
            try:
                run, cached = runner.run(a, seed)
            except Exception as err:  # one approach failing must not lose the others
                if _is_stop(err):
                    raise
                msg = str(err) if isinstance(err, VaeimbError) else f"{type(err).__name__}: {err}"
                warnings.warn(f"{a.name} (seed {seed}) failed: {msg}", RuntimeWarning, stacklevel=3)
                result.failures.setdefault(a.name, {})[seed] = msg
                runner.emit(a.name, seed, 0, 0, "failed", msg)
                continue
            result.runs[a.name][seed] = run
            result.cached += int(cached)
            runner.emit(a.name, seed, config.steps, config.steps, "cached" if cached else "done")
    return result


def _is_stop(err: BaseException) -> bool:
    """Streamlit's rerun/stop exceptions must pass through (a closed tab, a changed setting)."""
    return type(err).__name__ in ("RerunException", "StopException", "ScriptControlException")


def measure_quality(result: ExperimentResult, *, cache: ResultCache, data_dir=None, runner: _Runner | None = None) -> None:
    """Fill ``result.quality`` for every (generator, seed) of the result (cached)."""
    runner = runner or _Runner(result.config, cache, data_dir, None)
    for name, a in result.recipes.items():
        if not a.recipe.gen:
            continue
        for seed in result.runs.get(name, {}):
            if (a.recipe.gen, seed) in result.quality:
                continue
            try:
                result.quality[(a.recipe.gen, seed)] = _quality(runner, a, seed)
            except Exception as err:  # a quality figure must never lose the finished results
                if _is_stop(err):
                    raise
                warnings.warn(f"quality of {a.recipe.gen} (seed {seed}) not measured: {err}", RuntimeWarning, stacklevel=2)


def _quality(runner: _Runner, a: Approach, seed: int) -> dict:
    """Precision, recall, Frechet distance and memorisation of the approach's generated
    images against real minority images this experiment did not draw (MNIST train)."""
    from .quality import generator_quality, heldout_minority, load_judge

    key = stable_hash("quality", quality_fingerprint(), runner.generator_key(a, seed), runner.identity)

    def compute():
        mnist = load_mnist(runner.data_dir)
        judge = load_judge(mnist, runner.cache)
        data, _ = runner.fit_data(a, seed)
        gen = runner.generator(a, seed)
        samples = gen.sample(runner.n_generate(a, data), seed=seed)
        exclude = data.train_index if data.train_index is not None else np.zeros(0, np.int64)
        held = heldout_minority(mnist, runner.config.minority, exclude, 1000, seed)
        return {"quality": generator_quality(judge, samples, data.generator_x, held, seed=seed)}, {}

    rec, _ = runner.cache.get_or_compute("quality", key, compute, validate=lambda r: r["meta"]["quality"]["precision"])
    return dict(rec["meta"]["quality"])


def generator_quality_of(config: ExperimentConfig, name: str, seed: int, *, cache: ResultCache | None = None,
                         data_dir=None) -> dict:
    """The quality figures of generator ``name`` for (config, seed) (fits it if needed)."""
    from .recipes import build_approach

    config.validate()
    approach = build_approach(f"gen={name}", config.protocol_record)
    return _quality(_Runner(config, cache if cache is not None else ResultCache(), data_dir, None), approach, seed)


@functools.lru_cache(maxsize=1)
def quality_fingerprint() -> str:
    """The quality measures' own code (outside the result fingerprint: changing them
    re-measures quality without retraining anything)."""
    import hashlib
    from pathlib import Path

    return hashlib.sha256((Path(__file__).parent / "quality.py").read_bytes()).hexdigest()[:12]


def load_generator(
    config: ExperimentConfig, name: str, seed: int, *, cache: ResultCache | None = None, data_dir=None,
    progress: ProgressCallback = None,
):
    """The fitted generator ``name`` of (config, seed): from the cache, or fitted now."""
    from .recipes import build_approach

    config.validate()
    (seed,) = check_seeds([seed])
    approach = build_approach(f"gen={name}", config.protocol_record)
    runner = _Runner(config, cache if cache is not None else ResultCache(), data_dir, progress)
    return runner.generator(approach, seed)


def generator_is_cached(config: ExperimentConfig, name: str, seed: int, cache: ResultCache) -> bool:
    from .recipes import build_approach

    approach = build_approach(f"gen={name}", config.protocol_record)
    return cache.exists("generator", _Runner(config, cache, None, None).generator_key(approach, seed))


def all_cached(config: ExperimentConfig, approaches: Iterable[str], seeds: Iterable[int], cache: ResultCache) -> bool:
    """Whether every runnable (approach, seed) classifier is already on disk."""
    chosen, _ = plan(config, approaches)
    runner = _Runner(config, cache, None, None)
    for seed in seeds:
        for a in chosen:
            if a.is_bound and oracle_unavailable(config):
                continue
            if not cache.exists("classifier", runner.classifier_key(a, seed)):
                return False
    return True
