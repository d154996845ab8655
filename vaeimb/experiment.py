"""Experiment runs: every (approach, seed) trained once, cached, and summarised over seeds.

The VAE is trained once per (data, seed) and shared by every approach that needs it; an
approach that only moves the threshold reuses the baseline's trained classifier.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

import numpy as np
import torch

from .approaches import APPROACHES, check_approaches, get_approach
from .cache import ResultCache
from .config import ExperimentConfig, stable_hash
from .data import ExperimentData, load_mnist, make_experiment_data
from .errors import ConfigError
from .metrics import METRICS, Spread, classification_metrics, confusion_matrix, sigmoid, spread
from .models import ConvVAE
from .training import generate_images, pick_device, train_classifier, train_vae


#: Task name of the VAE's own training in progress events (the ``vae`` approach's
#: classifier reports as ``"vae"``, like every approach under its name).
VAE_TASK = "vae-model"


@dataclass(frozen=True)
class ProgressEvent:
    """What the runner is doing: ``task`` is an approach name or ``VAE_TASK``."""

    task: str
    seed: int
    done: int
    total: int
    status: str  # "running" | "cached" | "done" | "failed"
    message: str = ""


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
    info: dict = field(default_factory=dict)  # counts, balanced, seconds, leaky, ...

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

    def to_record(self) -> tuple[dict, dict[str, np.ndarray]]:
        meta = {
            "approach": self.approach,
            "seed": self.seed,
            "threshold": self.threshold,
            "metrics": self.metrics,
            "info": self.info,
        }
        arrays = {
            "checkpoint_steps": self.checkpoint_steps.astype(np.int64),
            "checkpoint_logits": self.checkpoint_logits.astype(np.float32),
            "test_y": self.test_y.astype(np.int8),
            "test_index": self.test_index.astype(np.int32),
        }
        return meta, arrays

    @classmethod
    def from_record(cls, rec: dict) -> "RunResult":
        m, a = rec["meta"], rec["arrays"]
        return cls(
            approach=m["approach"],
            seed=int(m["seed"]),
            threshold=float(m["threshold"]),
            checkpoint_steps=a["checkpoint_steps"],
            checkpoint_logits=a["checkpoint_logits"],
            test_y=a["test_y"].astype(np.int64),
            test_index=a["test_index"].astype(np.int64),
            metrics={k: float(v) for k, v in m["metrics"].items()},
            info=dict(m["info"]),
        )


@dataclass
class ExperimentResult:
    """All runs of one config; ``failures`` keeps what broke without losing the rest."""

    config: ExperimentConfig
    approaches: tuple[str, ...]
    seeds: tuple[int, ...]
    runs: dict[str, dict[int, RunResult]]
    failures: dict[str, dict[int, str]] = field(default_factory=dict)
    cached: int = 0  # how many (approach, seed) entries came from the cache

    def summary(self) -> dict[str, dict[str, Spread]]:
        """Per approach that produced results: each metric's spread over seeds."""
        return {
            name: {m: spread([r.metrics[m] for r in by_seed.values()]) for m in METRICS}
            for name, by_seed in self.runs.items()
            if by_seed
        }

    def run(self, approach: str, seed: int) -> RunResult:
        return self.runs[approach][seed]

    @property
    def n_test(self) -> int | None:
        """Size of the test set (None when no run finished)."""
        return next((len(r.test_y) for by_seed in self.runs.values() for r in by_seed.values()), None)


@dataclass
class VaeArtifact:
    """A trained VAE with what the latent-space page needs, loadable without retraining."""

    latent_dim: int
    state: dict[str, np.ndarray]
    generated: np.ndarray  # (n, 28, 28) uint8
    latent_mu: np.ndarray  # (n_minority, latent) means of the VAE's training images
    latent_logvar: np.ndarray
    kl_per_dim: np.ndarray  # (latent,)
    losses: np.ndarray
    info: dict = field(default_factory=dict)

    def model(self) -> ConvVAE:
        m = ConvVAE(self.latent_dim)
        m.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in self.state.items()})
        return m.eval()

    def to_record(self) -> tuple[dict, dict[str, np.ndarray]]:
        arrays = {f"state/{k}": v for k, v in self.state.items()}
        arrays.update(
            generated=self.generated,
            latent_mu=self.latent_mu,
            latent_logvar=self.latent_logvar,
            kl_per_dim=self.kl_per_dim,
            losses=self.losses,
        )
        return {"latent_dim": self.latent_dim, "info": self.info}, arrays

    @classmethod
    def from_record(cls, rec: dict) -> "VaeArtifact":
        a = rec["arrays"]
        return cls(
            latent_dim=int(rec["meta"]["latent_dim"]),
            state={k[len("state/") :]: v for k, v in a.items() if k.startswith("state/")},
            generated=a["generated"],
            latent_mu=a["latent_mu"],
            latent_logvar=a["latent_logvar"],
            kl_per_dim=a["kl_per_dim"],
            losses=a["losses"],
            info=dict(rec["meta"]["info"]),
        )


# --------------------------------------------------------------------------------------
# Cache keys
# --------------------------------------------------------------------------------------
def vae_key(config: ExperimentConfig, seed: int) -> str:
    return stable_hash("vae", config.vae_data_dict(), config.vae_dict(), seed)


def run_key(config: ExperimentConfig, approach: str, seed: int) -> str:
    a = get_approach(approach)
    parts = ["run", approach, a.params(config), config.data_dict(), config.classifier_dict(), seed]
    if a.needs_vae:
        parts += [config.vae_data_dict(), config.vae_dict()]
    return stable_hash(*parts)


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------
class _Runner:
    """Runs one config: data per seed, the shared VAE, then each approach (all cached)."""

    def __init__(self, config: ExperimentConfig, cache: ResultCache, data_dir, progress: ProgressCallback):
        self.config = config
        self.cache = cache
        self.data_dir = data_dir
        self.progress = progress
        self._data: dict[int, ExperimentData] = {}

    def emit(self, task: str, seed: int, done: int, total: int, status: str, message: str = "") -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(task, seed, done, total, status, message))

    def data(self, seed: int) -> ExperimentData:
        if seed not in self._data:
            self._data[seed] = make_experiment_data(self.config, seed, load_mnist(self.data_dir))
        return self._data[seed]

    def vae(self, seed: int) -> VaeArtifact:
        cfg = self.config

        def compute():
            data = self.data(seed)
            t0 = time.perf_counter()
            run = train_vae(
                data.vae_x,
                latent_dim=cfg.latent_dim,
                steps=cfg.vae_steps,
                batch_size=cfg.vae_batch_size,
                lr=cfg.vae_lr,
                seed=seed,
                progress=lambda d, t: self.emit(VAE_TASK, seed, d, t, "running"),
            )
            n_gen = cfg.n_majority - cfg.n_minority
            art = VaeArtifact(
                latent_dim=cfg.latent_dim,
                state={k: v.detach().cpu().numpy() for k, v in run.model.state_dict().items()},
                generated=generate_images(run.model, n_gen, seed),
                latent_mu=run.latent_mu,
                latent_logvar=run.latent_logvar,
                kl_per_dim=run.kl_per_dim,
                losses=run.losses,
                info={
                    "seconds": time.perf_counter() - t0,
                    "n_train": int(len(data.vae_x)),
                    "trained_on": "test split (LEAK)" if cfg.leaky else "train split",
                    "leaky": cfg.leaky,
                },
            )
            return art.to_record()

        rec, cached = self.cache.get_or_compute("vae", vae_key(cfg, seed), compute)
        self.emit(VAE_TASK, seed, cfg.vae_steps, cfg.vae_steps, "cached" if cached else "done")
        return VaeArtifact.from_record(rec)

    def _generated(self, approach_name: str, seed: int) -> np.ndarray:
        a = get_approach(approach_name)
        art = self.vae(seed)
        n = a.n_generated(self.config)
        if n == len(art.generated):
            return art.generated
        return generate_images(art.model(), n, seed)

    def run(self, approach_name: str, seed: int) -> tuple[RunResult, bool]:
        cfg = self.config
        a = get_approach(approach_name)

        def compute():
            if a.reuses_model_of is not None:
                base, _ = self.run(a.reuses_model_of, seed)
                result = _evaluate(a.name, seed, cfg, base.checkpoint_steps, base.checkpoint_logits,
                                   base.test_y, base.test_index, dict(base.info, reused_model_of=base.approach))
                return result.to_record()
            data = self.data(seed)
            generated = self._generated(a.name, seed) if a.needs_vae else None
            x, y = a.training_set(data, cfg, generated)
            t0 = time.perf_counter()
            trained = train_classifier(
                cfg.classifier,
                cfg.output_logits,
                x,
                y,
                data.test_x,
                balanced=a.balanced_batches(cfg),
                steps=cfg.steps,
                batch_size=cfg.batch_size,
                lr=cfg.lr,
                seed=seed,
                n_checkpoints=cfg.n_checkpoints,
                progress=lambda d, t: self.emit(a.name, seed, d, t, "running"),
            )
            info = {
                "n_train_majority": int((y == 0).sum()),
                "n_train_minority_real": int(len(data.oracle_minority_x) if a.name == "oracle" else (data.train_y == 1).sum()),
                "n_generated": int(len(generated)) if generated is not None else 0,
                "balanced_batches": a.balanced_batches(cfg),
                "seconds": time.perf_counter() - t0,
                "leaky": cfg.leaky and a.needs_vae,
                "device": str(pick_device()),
            }
            result = _evaluate(a.name, seed, cfg, trained.steps, trained.test_logits, data.test_y, data.test_index, info)
            return result.to_record()

        rec, cached = self.cache.get_or_compute("run", run_key(cfg, a.name, seed), compute)
        return RunResult.from_record(rec), cached


def _evaluate(name, seed, cfg, steps, logits, test_y, test_index, info) -> RunResult:
    a = get_approach(name)
    thr = a.threshold(cfg)
    info = dict(info, threshold_probability=a.threshold_probability(cfg))
    return RunResult(
        approach=name,
        seed=seed,
        threshold=thr,
        checkpoint_steps=np.asarray(steps),
        checkpoint_logits=np.asarray(logits, np.float32),
        test_y=np.asarray(test_y),
        test_index=np.asarray(test_index),
        metrics=classification_metrics(test_y, logits[-1], thr),
        info=info,
    )


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


def run_experiment(
    config: ExperimentConfig,
    approaches: Iterable[str] = tuple(APPROACHES),
    seeds: Iterable[int] = (0,),
    *,
    cache: ResultCache | None = None,
    data_dir=None,
    progress: ProgressCallback = None,
) -> ExperimentResult:
    """Train (or load) every requested (approach, seed) and gather the results.

    Bad input raises ``ConfigError`` before anything trains. A failure inside one
    (approach, seed) is recorded in ``failures`` and the others carry on. Anything raised
    from ``progress`` (e.g. a closed browser tab) stops the run; finished entries stay cached.
    """
    config.validate()
    names = check_approaches(approaches)
    seeds = check_seeds(seeds)
    for n in names:
        get_approach(n).params(config)  # unknown hyper-parameters fail here, not mid-run
    cache = cache if cache is not None else ResultCache()
    load_mnist(data_dir)  # a missing dataset is one clear error up front
    runner = _Runner(config, cache, data_dir, progress)
    result = ExperimentResult(config, names, seeds, runs={n: {} for n in names})
    for seed in seeds:
        for name in names:
            reason = get_approach(name).unavailable_reason(config)
            if reason:
                result.failures.setdefault(name, {})[seed] = f"not available: {reason}"
                runner.emit(name, seed, 0, 0, "failed", reason)
                continue
            try:
                run, cached = runner.run(name, seed)
            except Exception as err:  # one approach failing must not lose the others
                msg = f"{type(err).__name__}: {err}"
                warnings.warn(f"{name} (seed {seed}) failed: {msg}", RuntimeWarning, stacklevel=2)
                result.failures.setdefault(name, {})[seed] = msg
                runner.emit(name, seed, 0, 0, "failed", msg)
                continue
            result.runs[name][seed] = run
            result.cached += int(cached)
            runner.emit(name, seed, config.steps, config.steps, "cached" if cached else "done")
    return result


def load_vae(
    config: ExperimentConfig, seed: int, *, cache: ResultCache | None = None, data_dir=None,
    progress: ProgressCallback = None,
) -> VaeArtifact:
    """The VAE of (config, seed): from the cache, or trained now and cached."""
    config.validate()
    (seed,) = check_seeds([seed])
    runner = _Runner(config, cache if cache is not None else ResultCache(), data_dir, progress)
    return runner.vae(seed)
