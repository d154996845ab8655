"""Imbalance sweeps: the same experiment at several minority ratios ("when does the VAE help?")."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from ..declarations.config import (
    DEFAULT_SWEEP_RATIOS,
    ExperimentConfig,
    n_minority_from_ratio,
)
from ..declarations.errors import ConfigError
from ..declarations.jobs import ProgressEvent
from ..parts.metrics import METRICS
from ..running.cache import ResultCache
from ..running.recipes import COMPARISON
from ..running.results import ExperimentResult
from ..statistics.stats import GAP_CLOSED
from .experiment import Experiment, run_many

DEFAULT_RATIOS = DEFAULT_SWEEP_RATIOS

#: ``progress(point_index, n_points, ratio, event)``
SweepProgress = Optional[Callable[[int, int, float, ProgressEvent], None]]


def sweep_configs(config: ExperimentConfig, ratios: Iterable[float]) -> list[tuple[float, ExperimentConfig]]:
    """One config per ratio (``n_minority = round(ratio * n_majority)``), validated up front.
    A sweep varies the digit pair's minority count: the long tail is refused (its imbalance
    is its profile's: run it at several rho instead)."""
    if config.task != "pair":
        raise ConfigError("A sweep varies the digit pair's minority ratio; the long tail's imbalance is its "
                          "profile's (run --task longtail --profile exponential at several --rho instead).")
    ratios = sorted(set(float(r) for r in ratios))
    if not ratios:
        raise ConfigError("Choose at least one minority ratio.")
    out = []
    for r in ratios:
        cfg = config.replace(n_minority=n_minority_from_ratio(config.n_majority, r))
        try:
            cfg.validate()
        except ConfigError as err:
            raise ConfigError(f"Ratio {r:g}: {err}") from None
        out.append((r, cfg))
    return out


@dataclass
class SweepResult:
    points: list[tuple[float, ExperimentResult]]

    def rows(self, metric: str = "misclassified") -> list[dict]:
        """One row per (ratio, approach): the metric's mean, sd and 95 % CI over seeds."""
        if metric not in METRICS and metric != GAP_CLOSED:
            raise ConfigError(f"Unknown metric {metric!r}; choose from {', '.join([*METRICS, GAP_CLOSED])}.")
        rows = []
        for ratio, res in self.points:
            summary = res.gap_closed() if metric == GAP_CLOSED else {n: s[metric] for n, s in res.summary().items()}
            for name, s in summary.items():
                rows.append({
                    "ratio": ratio, "n_minority": res.config.n_minority, "approach": name,
                    "metric": metric, "mean": s.mean, "std": s.std, "ci_low": s.ci_low,
                    "ci_high": s.ci_high, "n_seeds": s.n,
                })
        return rows

    def format_table(self, metric: str = "misclassified") -> str:
        """The CLI's table: one line per (ratio, approach), mean ± sd and the seed count."""
        rows = self.rows(metric)
        cfg = self.points[0][1].config if self.points else None
        ds = None if cfg is None else cfg.dataset_record
        out = [] if cfg is None else [f"Sweep: {cfg.dataset_prefix}{ds.class_label(cfg.majority)} vs "
                                      f"{ds.class_label(cfg.minority)}, n_majority {cfg.n_majority}, "
                                      f"{cfg.classifier}, {cfg.steps} steps, protocol {cfg.protocol}"]
        out.append(f"{'ratio':>7}  {'n_min':>5}  {'approach':<16} {metric} (mean ± sd)  seeds")
        for r in rows:
            sd = f" ± {r['std']:.1f}" if r["n_seeds"] > 1 else ""
            out.append(f"{r['ratio']:>7.3g}  {r['n_minority']:>5}  {r['approach']:<16} {r['mean']:.1f}{sd}  {r['n_seeds']}")
        for f in self.failures():
            out.append(f"FAILED: {f}")
        return "\n".join(out)

    def environment(self) -> dict:
        """Where the runs were computed (the provenance every run carries)."""
        return next((r.info.get("environment", {}) for _, res in self.points for by_seed in res.runs.values()
                     for r in by_seed.values()), {})

    def to_json_dict(self) -> dict:
        return {"rows": self.rows("misclassified"),
                "balanced_accuracy": self.rows("balanced_accuracy"),
                "failures": self.failures(), "environment": self.environment(),
                "config": self.points[0][1].config.to_dict() if self.points else None}

    def to_csv(self) -> str:
        rows = self.rows("misclassified")
        buf = io.StringIO()
        if rows:
            w = csv.DictWriter(buf, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        return buf.getvalue()

    def failures(self) -> list[str]:
        return [
            f"ratio {ratio:g}, {name}, seed {seed}: {msg}"
            for ratio, res in self.points
            for name, by_seed in res.failures.items()
            for seed, msg in by_seed.items()
        ]


def run_sweep(
    config: ExperimentConfig,
    ratios: Iterable[float] = DEFAULT_RATIOS,
    approaches: Iterable[str] = COMPARISON,
    seeds: Iterable[int] = (0,),
    *,
    cache: ResultCache | None = None,
    data_dir=None,
    progress: SweepProgress = None,
    executor=None,
) -> SweepResult:
    """Run (or load from the cache) the experiment at every ratio, all ratios' jobs in one
    pool on ``executor`` (``vaeimb.running.executor``; default in-process)."""
    points = sweep_configs(config, ratios)
    experiments = [Experiment(cfg, tuple(approaches), tuple(seeds), where=f"ratio {r:g}") for r, cfg in points]
    index = {experiment.where: i for i, experiment in enumerate(experiments)}

    def on_event(e: ProgressEvent) -> None:
        i = index.get(e.where)
        if progress is not None and i is not None:
            progress(i, len(points), points[i][0], e)

    results = run_many(experiments, cache=cache, data_dir=data_dir, progress=on_event, executor=executor)
    return SweepResult([(r, res) for (r, _), res in zip(points, results)])
