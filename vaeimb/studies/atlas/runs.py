"""Running an atlas: every (pair, ratio) as one experiment of one pool of jobs.

The table and what is read from it live in ``vaeimb.studies.atlas`` (``table``, ``grid``) (no torch: the Atlas page
reads the shipped atlas without loading it); this module trains.
"""

from __future__ import annotations

import time
from typing import Iterable

from ...declarations.config import ExperimentConfig, n_minority_from_ratio
from ...declarations.errors import ConfigError
from ...declarations.labels import cell_label
from ...declarations.provenance import environment, utc_now
from ...parts.training import current_identity
from ..experiment import Experiment, plan, run_many
from .table import FORMAT, PAIR_SETTINGS, ROW_METRICS, Atlas


def atlas_experiments(base: ExperimentConfig, pairs, ratios, approaches, seeds):
    """One ``experiment.Experiment`` per (pair, ratio), each config validated before anything trains."""
    if base.task != "pair":
        raise ConfigError("An atlas maps digit pairs; the long tail is one task of its own: use run or reproduce "
                          "--protocol deepsmote.")
    ratios = sorted({float(r) for r in ratios})
    if not ratios:
        raise ConfigError("Give at least one ratio.")
    experiments = []
    for maj, mnr in pairs:
        for r in ratios:
            cfg = base.replace(majority=maj, minority=mnr, n_minority=n_minority_from_ratio(base.n_majority, r))
            try:
                cfg.validate()
            except ConfigError as err:
                raise ConfigError(f"pair {maj}:{mnr} at ratio {r:g}: {err}") from None
            experiments.append(Experiment(cfg, tuple(approaches), tuple(seeds), where=cell_label(maj, mnr, r)))
    return experiments, ratios


def rows_of(result) -> list[dict]:
    """The atlas rows of one ExperimentResult (every approach and seed that finished)."""
    cfg = result.config
    out = []
    for name, by_seed in result.runs.items():
        for seed, run in by_seed.items():
            row = {"majority": cfg.majority, "minority": cfg.minority, "ratio": round(cfg.ratio, 6),
                   "n_majority": cfg.n_majority, "n_minority": cfg.n_minority, "approach": name, "seed": seed,
                   "n_test": int(len(run.test_y)), "threshold_logit": float(run.threshold)}
            row.update({m: float(run.metrics[m]) for m in ROW_METRICS})
            out.append(row)
    return out


def run_atlas(base: ExperimentConfig, pairs, ratios, approaches, seeds, *, cache=None, data_dir=None,
              executor=None, progress=None, command: str = "") -> tuple[Atlas, list[str]]:
    """Run every (pair, ratio) through the executor; returns the atlas and the failures."""
    experiments, ratios = atlas_experiments(base, pairs, ratios, approaches, seeds)
    t0 = time.perf_counter()
    results = run_many(experiments, cache=cache, data_dir=data_dir, progress=progress, executor=executor, twins=False)
    rows, failures = [], []
    for experiment, res in zip(experiments, results):
        rows += rows_of(res)
        failures += [f"{experiment.where}, {n} seed {s}: {m}" for n, d in res.failures.items() for s, m in d.items()]
    budget = {k: v for k, v in base.to_dict().items() if k == "n_majority" or k not in PAIR_SETTINGS}
    _, pairs_of = plan(base, approaches)  # each generator preset's generator-free twin
    twins = {preset: twin for preset, twin in pairs_of.items() if twin in approaches}
    meta = {
        "format": FORMAT, "created": utc_now(), "command": command, "seconds": round(time.perf_counter() - t0, 1),
        "pairs": [list(p) for p in pairs], "ratios": ratios, "approaches": list(approaches), "seeds": list(seeds),
        "twins": twins, "budget": budget, "executor": executor.describe() if executor is not None else "in-process",
        "environment": environment(executor.identity if executor is not None else current_identity()), "failures": failures,
        "trained": sum(len(v) for r in results for v in r.runs.values()) - sum(r.cached for r in results),
    }
    return Atlas(rows, meta), failures


def jobs_per_cell(base: ExperimentConfig, approaches: Iterable[str], seeds: Iterable[int]) -> int:
    """Jobs one (pair, ratio) runs: every approach and every generator, per seed (for a
    progress bar's total)."""
    chosen, _ = plan(base, approaches, twins=False)
    gens = {a.recipe.gen for a in chosen if a.recipe.gen}
    return (len(chosen) + len(gens)) * len(list(seeds))
