"""The runner: computes one job (a generator fit or a classifier training) for one config.

The runner knows recipes, never a particular generator, loss or rule: it fits the
recipe's generator (once per data, settings and seed, shared by every recipe that uses
it), trains the classifier the recipe describes (approaches that differ only in their
decision share one trained model), then applies the decision. Seeds are paired: one
training draw per seed, shared by every approach. Cache keys come from the config, the
recipe, the seed and the job's ``Identity`` (threads, precision, device), never from the
state of the process running it.
"""

from __future__ import annotations

import functools
import time
from dataclasses import replace
from typing import Iterable

import numpy as np

from ..declarations.config import ExperimentConfig, stable_hash
from ..declarations.errors import ConfigError, VaeimbError
from ..declarations.jobs import (
    Identity,
    ProgressCallback,
    ProgressEvent,
    Job,
    generator_job,
)
from ..declarations.provenance import environment
from ..parts import training
from ..parts.data import (
    ExperimentData,
    label_counts,
    load_images,
    make_experiment_data,
    validation_split,
)
from ..parts.decisions.base import DecisionContext, predict
from ..parts.generators.base import FitBudget, FitData
from ..parts.metrics import classification_metrics, multiclass_metrics, sigmoid
from ..parts.sources import TrainingSet
from ..parts.training import current_identity, use_identity
from .recipes import RECIPE_KEYS, Approach, build_approaches, twin_of
from .results import RunResult


def _budget(cfg: ExperimentConfig) -> FitBudget:
    return FitBudget(steps=cfg.generator_steps, batch_size=cfg.generator_batch_size, lr=cfg.generator_lr,
                     latent_dim=cfg.latent_dim, batching=cfg.protocol_record.generator_batching)


def _subset(data: ExperimentData, rows: np.ndarray, leaky: bool) -> ExperimentData:
    """The training draw restricted to ``rows`` (a validation split's fitting part)."""
    train_x, train_y = data.train_x[rows], data.train_y[rows]
    by_class = tuple(data.generator_by_class[k] if leaky and k > 0 else train_x[train_y == k]
                     for k in range(data.n_classes))
    return replace(data, train_x=train_x, train_y=train_y, generator_by_class=by_class,
                   train_index=None if data.train_index is None else data.train_index[rows])


class Runner:
    """Runs one config: data per seed, generators, then each approach (all cached).

    ``cache`` is the disk cache, or a worker's ``MemoryCache``; ``identity`` the threads,
    precision and device every entry is computed with and keyed by (default: this
    process's, ``training.current_identity``); ``failed`` holds the entries an executor
    could not compute (key -> message), ``computed`` those it did; ``images`` the loaded
    datasets (name -> ``Images``; ``parts.data.load_for``), else the config's is loaded from
    ``data_dir``.
    """

    def __init__(self, config: ExperimentConfig, cache, identity: Identity | None = None, *, data_dir=None,
                 progress: ProgressCallback = None, images=None, failed: dict[str, str] | None = None,
                 computed: Iterable[str] = (), where: str = ""):
        self.config = config
        self.cache = cache
        self.data_dir = data_dir
        self.progress = progress
        self.identity = identity if identity is not None else current_identity()
        self.images = images or {}
        self.failed = failed or {}
        self.computed = set(computed)
        self.where = where
        self._data: dict[int, ExperimentData] = {}

    @functools.cached_property
    def environment(self) -> dict:
        return environment(self.identity)

    def emit(self, job: str, seed: int, done: int, total: int, status: str, message: str = "") -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(job, seed, done, total, status, message, where=self.where))

    def data(self, seed: int) -> ExperimentData:
        if seed not in self._data:
            name = self.config.dataset
            images = self.images[name] if name in self.images else load_images(self.data_dir, dataset=name)
            self._data[seed] = make_experiment_data(self.config, seed, images)
        return self._data[seed]

    def fit_data(self, approach: Approach, seed: int) -> tuple[ExperimentData, np.ndarray | None]:
        """The rows the classifier (and its generator) learn from, and the validation rows."""
        data = self.data(seed)
        if not approach.validates:
            return data, None
        fit, val = validation_split(data.train_y, self.config.validation_fraction, seed)
        return _subset(data, fit, self.config.leaky), val

    # ---- generators ----------------------------------------------------------------
    def generator_key(self, approach: Approach, seed: int) -> str:
        gen = approach.part("gen")
        cfg = self.config
        parts = ["generator", gen.key(), cfg.generator_data_dict(), seed]
        if approach.validates:
            parts.append({"validation_fraction": cfg.validation_fraction})
        if gen.uses_budget:
            parts += [cfg.generator_budget_dict(), self.identity.key()]
        return stable_hash(*parts)

    def generator(self, approach: Approach, seed: int):
        """The approach's fitted generator (from the cache, or fitted now and cached)."""
        return self._generator_entry(approach, seed)[0]

    def _generator_entry(self, approach: Approach, seed: int):
        """(fitted generator, its cache record, whether it came from the cache)."""
        key = self.generator_key(approach, seed)
        if key in self.failed:
            raise VaeimbError(self.failed[key])
        gen = approach.part("gen")
        job = generator_job(gen.name)
        cfg = self.config

        def compute():
            use_identity(self.identity)
            data, _ = self.fit_data(approach, seed)
            fit = FitData(by_class=data.generator_by_class, fill=cfg.fill, names=tuple(f"digit {d}" for d in cfg.classes))
            gen.fit(fit, _budget(cfg), seed=seed, progress=lambda d, t: self.emit(job, seed, d, t, "running"))
            gen.info.update(trained_on="TEST split (LEAK)" if cfg.leaky else "train split", leaky=cfg.leaky,
                            environment=self.environment)
            return gen.state()

        # A cached entry is loaded once, by its validation; a new one is the generator just fitted.
        rec, cached = self.cache.get_or_compute("generator", key, compute,
                                                validate=lambda r: gen.load_state(r["meta"], r["arrays"]))
        cached = cached and key not in self.computed
        self.emit(job, seed, 1, 1, "cached" if cached else "done")
        return gen, rec, cached

    def n_generate(self, approach: Approach, data: ExperimentData) -> dict[int, int]:
        """How many images of each minority label the approach's data source asks its generator for."""
        return approach.part("data").n_generate(label_counts(data.train_y, data.n_classes))

    # ---- classifiers ---------------------------------------------------------------
    def classifier_key(self, approach: Approach, seed: int) -> str:
        cfg = self.config
        parts = ["classifier", approach.key(training=True), cfg.data_dict(), cfg.classifier_dict(), seed, self.identity.key()]
        if approach.recipe.gen:
            parts.append(self.generator_key(approach, seed))
        if approach.validates:
            parts.append({"validation_fraction": cfg.validation_fraction})
        return stable_hash(*parts)

    def training_set(self, approach: Approach, seed: int, data: ExperimentData) -> TrainingSet:
        """What the classifier trains on: the approach's data source built from the draw
        (with the fitted generator's images, and its reconstructions, when the source uses
        one). Refuses a source the config or the recipe's batch policy cannot serve."""
        source = approach.part("data")
        reason = source.unavailable(self.config) or source.batches_conflict(approach.part("batches"))
        if reason:
            raise ConfigError(reason)
        if not source.uses_generator:
            return source.training_set(data)
        loaded = []  # the fitted generator, loaded once, on first use

        def generator():
            if not loaded:
                loaded.append(self.generator(approach, seed))
            return loaded[0]

        sample = lambda n, label: generator().sample(n, seed=seed, label=label)  # noqa: E731
        reconstruct = lambda images, label: generator().reconstruct(images, label)  # noqa: E731
        ts = source.training_set(data, sample, reconstruct=reconstruct, seed=seed)
        stats = getattr(loaded[0], "filter_stats", {}) if loaded else {}
        return replace(ts, filtered={str(c): dict(v) for c, v in stats.items()}) if stats else ts

    def classifier(self, approach: Approach, seed: int) -> tuple[dict, dict, bool]:
        cfg = self.config
        key = self.classifier_key(approach, seed)
        if key in self.failed:
            raise VaeimbError(self.failed[key])

        def compute():
            use_identity(self.identity)
            data, val_rows = self.fit_data(approach, seed)
            ts = self.training_set(approach, seed, data)
            evals = {"test": self.data(seed).test_x}
            if val_rows is not None:
                evals["val"] = self.data(seed).train_x[val_rows]
            t0 = time.perf_counter()
            run = training.train_classifier(
                cfg.classifier, cfg.output_logits, ts.x, ts.y, evals,
                batches=approach.part("batches"), loss=approach.part("loss"),
                augmentation=approach.part("aug"), mixing=approach.part("mix"),
                counts_real=ts.counts_real, n_classes=cfg.n_classes,
                steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                seed=seed, n_checkpoints=cfg.n_checkpoints,
                progress=lambda d, t: self.emit(approach.name, seed, d, t, "running"),
                n_real=ts.n_real, generated_weight=ts.weight, generated_stage=ts.stage,
            )
            y_val = None if val_rows is None else self.data(seed).train_y[val_rows]
            meta = {"info": {
                "n_train_majority": ts.counts_real[0],
                "n_train_minority_real": int(sum(ts.counts_real[1:])),
                "n_generated": ts.n_generated,
                "train_counts_real": list(ts.counts_real),
                "generated": list(ts.generated) or [0] * cfg.n_classes,
                # How the generated images were used: their loss weight, the batches' stage
                # they enter, and the real images per class replaced by their reconstruction.
                "generated_use": {"weight": ts.weight, "stage": ts.stage,
                                  "replaced": list(ts.replaced) or [0] * cfg.n_classes},
                # A confidence filter's draws of this training set, by label (rejection rate and all).
                "filter": dict(ts.filtered),
                "n_validation": 0 if val_rows is None else int(len(val_rows)),
                "n_validation_minority": 0 if y_val is None else int((y_val > 0).sum()),
                "seconds": time.perf_counter() - t0,
                "environment": self.environment,
            }}
            # K > 2: logits of every class at every checkpoint, kept in half precision (a
            # ten-class history is 20 x 8920 x 10 numbers); two classes: the float32 log-odds.
            store = np.float32 if cfg.n_classes == 2 else np.float16
            arrays = {"steps": run.steps.astype(np.int64), "test_logits": run.logits["test"].astype(store)}
            if val_rows is not None:
                arrays["val_logits"] = run.logits["val"].astype(store)
                arrays["val_rows"] = val_rows.astype(np.int64)
            return meta, arrays

        def check(rec):
            rec["meta"]["info"]["environment"], rec["arrays"]["steps"], rec["arrays"]["test_logits"]

        rec, cached = self.cache.get_or_compute("classifier", key, compute, validate=check)
        fresh = key in self.computed
        self.computed.discard(key)  # a second approach sharing this model reuses it: a cache hit
        return rec["meta"], rec["arrays"], cached and not fresh

    # ---- jobs for an executor -------------------------------------------------------
    def jobs(self, chosen: Iterable[Approach], seeds: Iterable[int]) -> list[Job]:
        """The entries ``chosen`` x ``seeds`` still lack, as executor jobs (a classifier
        after the generator it learns from; approaches sharing a model share one job)."""
        cfg = self.config
        out: dict[str, Job] = {}
        for seed in seeds:
            for a in chosen:
                if unavailable(a, cfg):
                    continue
                deps: tuple[str, ...] = ()
                if a.recipe.gen:
                    gkey = self.generator_key(a, seed)
                    deps = (gkey,)
                    if gkey not in out and not self.cache.exists("generator", gkey):
                        out[gkey] = Job("generator", gkey, cfg, a, seed, self.identity, label=generator_job(a.recipe.gen),
                                         where=self.where, total=cfg.generator_steps)
                ckey = self.classifier_key(a, seed)
                if ckey not in out and not self.cache.exists("classifier", ckey):
                    out[ckey] = Job("classifier", ckey, cfg, a, seed, self.identity, deps, label=a.name,
                                     where=self.where, total=cfg.steps)
        return list(out.values())

    def _decide(self, approach: Approach, seed: int, meta: dict, arrays: dict):
        """The decision's (offsets, threshold) for a trained classifier, and the validation
        split's labels (None without one). Reads no test label."""
        info = meta["info"]
        counts_real, generated = tuple(info["train_counts_real"]), tuple(info["generated"])
        val_logits = arrays.get("val_logits")
        val_y = self.data(seed).train_y[arrays["val_rows"]] if "val_rows" in arrays else None
        decision = approach.part("decision")
        ctx = DecisionContext(
            counts_real=counts_real, counts=tuple(r + g for r, g in zip(counts_real, generated)),
            balanced_batches=approach.part("batches").balances,
            val_logits=None if val_logits is None else np.asarray(val_logits[-1], np.float32), val_y=val_y,
        )
        threshold = decision.threshold(ctx) if self.config.n_classes == 2 else float("nan")
        return decision.offsets(ctx), threshold, val_y

    def validation_predictions(self, approach: Approach, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The validation split's labels and the approach's predictions of them (its final
        model, its decision): what a recipe search scores. Nothing of the test set is read."""
        if not approach.validates:
            raise ConfigError(f"approach '{approach.name}' holds out no validation split (hold_out=False).")
        meta, arrays, _ = self.classifier(approach, seed)
        offsets, _, val_y = self._decide(approach, seed, meta, arrays)
        return val_y, predict(np.asarray(arrays["val_logits"][-1], np.float32), offsets)

    def run(self, approach: Approach, seed: int) -> tuple[RunResult, bool]:
        """Train (or load) the approach's classifier, then apply its decision."""
        cfg = self.config
        meta, arrays, cached = self.classifier(approach, seed)
        info = dict(meta["info"])
        data = self.data(seed)
        n_classes = cfg.n_classes
        val_logits = arrays.get("val_logits")
        offsets, threshold, val_y = self._decide(approach, seed, meta, arrays)
        # The test labels are read here, after every choice has been made, and only here.
        test_y, test_logits = data.test_y, np.asarray(arrays["test_logits"], np.float32)
        info.update(
            recipe=approach.recipe.text(), values={k: dict(v) for k, v in approach.values.items()},
            leaky=approach.leaky(cfg.protocol_record), is_bound=approach.is_bound,
        )
        if n_classes == 2:
            info.update(threshold_logit=threshold, threshold_probability=float(sigmoid(threshold)))
            metrics = classification_metrics(test_y, test_logits[-1], threshold)
        else:
            info.update(offsets=[float(o) for o in offsets])
            pred = predict(test_logits[-1], offsets)
            metrics = multiclass_metrics(test_y, pred, n_classes)
            for name, rows in data.test_subsets.items():
                metrics.update({f"{m}@{name}": v for m, v in multiclass_metrics(test_y[rows], pred[rows], n_classes).items()})
        val_curve = None
        if val_logits is not None:
            val_curve = np.asarray([(predict(np.asarray(v, np.float32), offsets) != val_y).sum() for v in val_logits])
        result = RunResult(
            approach=approach.name, seed=seed, threshold=threshold,
            checkpoint_steps=np.asarray(arrays["steps"]), checkpoint_logits=test_logits,
            test_y=np.asarray(test_y), test_index=np.asarray(data.test_index),
            metrics=metrics, info=info, val_curve=val_curve,
            offsets=None if n_classes == 2 else np.asarray(offsets, np.float64),
            test_subsets={n: np.asarray(r) for n, r in data.test_subsets.items()},
        )
        return result, cached


def unavailable(approach: Approach, config: ExperimentConfig) -> str | None:
    """Why ``approach`` cannot run ``config`` (its data source says; None when it can)."""
    return approach.part("data").unavailable(config)


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
    for a in chosen:
        for kind in RECIPE_KEYS:
            if kind == "gen" and not a.recipe.gen:
                continue
            reason = type(a.part(kind)).unsupported(config.n_classes)
            if reason:
                raise ConfigError(f"approach '{a.name}' cannot run a task of {config.n_classes} classes: {reason}")
        source = a.part("data")
        reason = source.batches_conflict(a.part("batches")) or (a.recipe.gen and source.generator_conflict(a.part("gen")))
        if reason:
            raise ConfigError(f"approach '{a.name}': {reason}")
    if any(a.validates for a in chosen):
        validation_split(np.concatenate([np.full(n, k, np.int64) for k, n in enumerate(config.class_counts)]),
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


def compute_job(job: Job, cache, *, data_dir=None, images=None, progress: ProgressCallback = None) -> tuple[dict, bool]:
    """Compute one executor job with the entries of ``cache`` (a worker's ``MemoryCache``
    holding its dependencies, or the disk cache in-process), with the job's own identity.
    Returns (record, was_cached)."""
    runner = Runner(job.config, cache, job.identity, data_dir=data_dir, progress=progress, images=images,
                    where=job.where)
    if job.kind == "generator":
        key = runner.generator_key(job.approach, job.seed)
        _, rec, cached = runner._generator_entry(job.approach, job.seed)
    else:
        key = runner.classifier_key(job.approach, job.seed)
        meta, arrays, cached = runner.classifier(job.approach, job.seed)
        rec = {"meta": meta, "arrays": arrays}
    if key != job.key:  # the worker's code, versions or device differ from the driver's
        raise VaeimbError("the worker computes a different cache key than the driver (different code, "
                          "versions or device); install the same vaeimb and torch on every node")
    return rec, cached
