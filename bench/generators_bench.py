"""Issue #23: the generators given their best shot, against the strongest generator-free recipe.

    python bench/generators_bench.py longtail [--seeds 0 1 2 3 4] [--workers 2] [--cache-dir DIR]
    python bench/generators_bench.py pair     [--classifier cnn] ...

Runs the issue's generator presets (``GENERATOR_PRESETS``: the conditional VAE as it was and
given its best shot, its images used in three ways, DeepSMOTE's own autoencoder) beside
their generator-free twins on paired seeds, measures every filled class's generator quality
(judge precision, recall, Fréchet distance against held-out MNIST train images) next to the
recall that class gained over the twin, times each generator per run and per class, and
writes the "generators-TASK-CLASSIFIER" section of BENCHMARKS.md with the targets met or
missed: the rarest class's images at judge precision >= 0.8 with recall >= 0.3 for at least
one learned generator; at least one learned-generator recipe better than its twin after
Holm's correction.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import check_writable, markdown_table, publish  # noqa: E402
from vaeimb.declarations.config import ExperimentConfig  # noqa: E402
from vaeimb.declarations.provenance import environment  # noqa: E402
from vaeimb.parts.training import current_identity  # noqa: E402
from vaeimb.presentation import report  # noqa: E402
from vaeimb.running.cache import ResultCache  # noqa: E402

#: The issue's generator presets; their twins run beside them.
GENERATOR_PRESETS = ("augment-remix", "cvae-remix", "cvae-plus-remix", "cvae-plus-artefact", "cvae-plus-crt",
                     "deepsmote-remix")
PRECISION_TARGET, RECALL_TARGET = 0.8, 0.3


def config_for(task: str, classifier: str) -> ExperimentConfig:
    if task == "longtail":
        return ExperimentConfig.for_protocol("deepsmote", task="longtail", classifier=classifier)
    return ExperimentConfig(classifier=classifier)


def quality_target_lines(result) -> list[str]:
    """The rarest class's judge precision and recall per learned generator preset (mean over seeds)."""
    rarest = result.config.n_classes - 1
    digit = result.config.classes[rarest]
    rows, met = [], []
    for g in report.class_gains(result):
        if g["label"] != rarest:
            continue
        ok = g["precision"] >= PRECISION_TARGET and g["recall"] >= RECALL_TARGET
        per_seed = []
        for seed in sorted(result.runs.get(g["approach"], {})):
            q = result.quality_of(g["approach"], seed)
            f = report.class_figures(q, rarest, result.config.n_classes) if q else None
            if f:
                per_seed.append(f"{f['precision']:.2f}/{f['recall']:.2f}")
        rows.append(f"  - {g['approach']} ({g['generator']}): precision {g['precision']:.3f}, recall {g['recall']:.3f}, "
                    f"Fréchet {g['frechet']:.1f} over {g['quality_seeds']} seeds (per seed precision/recall: "
                    f"{', '.join(per_seed)}){' — meets it' if ok else ''}")
        if ok:
            met.append(g["approach"])
    head = (f"- the rarest class (digit {digit}, {result.config.class_counts[rarest]} training images): judge precision "
            f">= {PRECISION_TARGET} with recall >= {RECALL_TARGET} for at least one learned generator: "
            f"**{'MET by ' + ', '.join(met) if met else 'MISSED'}**")
    return [head, *rows]


def twin_target_lines(result) -> list[str]:
    """Each generator preset against its generator-free twin after Holm's correction, on the
    headline metric (ACSA for K classes, misclassified for a pair)."""
    metric = "balanced_accuracy" if result.config.n_classes > 2 else "misclassified"
    v = result.verdict(metric)
    better = []
    lines = []
    for preset, d in (v.generator_contribution or {}).items():
        sep = v.contribution_separated(preset)
        helps = (d.mean > 0) == v.higher_is_better
        p = v.contribution_family.of(preset)[1] if v.contribution_family and preset in v.contribution_family.names else float("nan")
        word = ("better (separated)" if sep and helps else "worse (separated)" if sep else "not separated")
        scale, unit, digits = (100.0, "ACSA points", 2) if metric == "balanced_accuracy" else (1.0, "misclassified", 1)
        lines.append(f"  - {preset} vs {v.twins[preset]}: {scale * d.mean:+.{digits}f} [{scale * d.ci_low:+.{digits}f}, "
                     f"{scale * d.ci_high:+.{digits}f}] {unit}, the generator better in {d.wins} of {d.n_seeds} seeds, "
                     f"Holm-adjusted p {p:.3f}: {word}")
        if sep and helps:
            better.append(preset)
    head = (f"- a learned-generator recipe better than its generator-free twin after Holm's correction ({metric}): "
            f"**{'MET by ' + ', '.join(better) if better else 'MISSED'}**")
    return [head, *lines]


def costs(result, cache: ResultCache) -> list[dict]:
    """Each generator's fit time per run (seed) and per class it fills, from its cached record,
    beside the classifier's training time (means over the seeds)."""
    from vaeimb.running.runner import Runner

    runner = Runner(result.config, cache)
    n_fill = len(result.config.fill)
    seen, rows = set(), []
    for name, a in result.recipes.items():
        if not a.recipe.gen or not result.runs.get(name):
            continue
        key = runner.generator_key(a, next(iter(result.runs[name])))
        if key in seen:
            continue
        seen.add(key)
        secs, filt = [], []
        for seed in result.runs[name]:
            info = runner.generator(a, seed).info
            secs.append(info["seconds"])
            filt.append(info.get("filter_seconds", 0.0))
        clf = float(np.mean([r.info["seconds"] for r in result.runs[name].values()]))
        rows.append({"preset": name, "generator": a.recipe.gen, "fit_s": float(np.mean(secs)),
                     "fit_s_per_class": float(np.mean(secs)) / n_fill, "filter_s": float(np.mean(filt)),
                     "classifier_s": clf, "seeds": len(secs)})
    return rows


def cost_lines(rows: list[dict]) -> list[str]:
    return markdown_table(("preset", "generator", "fit s / run", "fit s / class", "of it the filter s",
                           "classifier s / run", "seeds"),
                          [(r["preset"], r["generator"], f"{r['fit_s']:.1f}", f"{r['fit_s_per_class']:.1f}",
                            f"{r['filter_s']:.1f}", f"{r['classifier_s']:.1f}", r["seeds"]) for r in rows], "llrrrrr")


def finite(obj):
    """``obj`` with every NaN or infinite float as None (strict JSON), numpy scalars as Python's."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def study_entry(result, cost_rows: list[dict], made: dict, env: dict) -> dict:
    """What ships (``vaeimb/shipped/generator_study.json``) for one task: every generator preset against
    its twin after Holm's correction, the rarest class's quality, quality against gain class by
    class, and the generators' cost; the app's About page and the README read it."""
    metric = "balanced_accuracy" if result.config.n_classes > 2 else "misclassified"
    v = result.verdict(metric)
    twins = []
    for preset, d in (v.generator_contribution or {}).items():
        fam = v.contribution_family
        p_adj = fam.of(preset)[1] if fam is not None and preset in fam.names else None
        twins.append({"preset": preset, "twin": v.twins[preset], "generator": result.recipes[preset].recipe.gen,
                      "mean": d.mean, "ci_low": d.ci_low, "ci_high": d.ci_high, "n_seeds": d.n_seeds, "wins": d.wins,
                      "p_adjusted": p_adj, "separated": v.contribution_separated(preset),
                      "helps": bool((d.mean > 0) == v.higher_is_better)})
    rarest = result.config.n_classes - 1
    keep = ("approach", "generator", "twin", "label", "digit", "n_train", "precision", "recall", "frechet",
            "class_recall", "twin_class_recall", "gain", "gain_ci_low", "gain_ci_high", "seeds", "quality_seeds")
    classes = [{k: g[k] for k in keep} for g in report.class_gains(result)]
    return {
        "measured": made.get("made", ""), "command": made.get("command", ""), "environment": env,
        "label": result.config.label(), "seeds": list(result.seeds), "metric": metric, "correction": v.correction,
        "twins": twins, "rarest": {"label": rarest, "digit": result.config.classes[rarest],
                                   "n_train": result.config.class_counts[rarest],
                                   "precision_target": PRECISION_TARGET, "recall_target": RECALL_TARGET},
        "classes": classes, "costs": cost_rows,
    }


def gain_table(result) -> list[str]:
    rows = []
    for g in report.class_gains(result):
        rows.append((g["approach"], g["digit"], g["n_train"], f"{g['precision']:.2f}", f"{g['recall']:.2f}",
                     f"{g['frechet']:.1f}", f"{100 * g['class_recall']:.2f}", f"{100 * g['twin_class_recall']:.2f}",
                     f"{100 * g['gain']:+.2f} [{100 * g['gain_ci_low']:+.2f}, {100 * g['gain_ci_high']:+.2f}]",
                     g["seeds"]))
    return markdown_table(("preset", "digit", "train images", "precision", "recall", "Fréchet", "test recall %",
                           "twin's %", "gain (points) [95% CI]", "seeds"), rows, "lrrrrrrrrr")


def run(a) -> int:
    from vaeimb.running import result_files
    from vaeimb.studies.quality import measure_quality

    check_writable(a.out) if a.out != "-" else None
    cache = ResultCache(a.cache_dir)
    if a.load:
        res = result_files.load_result(a.load)
        made = result_files.load_provenance(a.load)
        secs = made.get("seconds", float("nan"))
    else:
        from vaeimb.running.executor import make_backend
        from vaeimb.studies.experiment import run_experiment

        cfg = config_for(a.task, a.classifier)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = run_experiment(cfg, a.approaches or list(GENERATOR_PRESETS), a.seeds, cache=cache,
                                 data_dir=a.data_dir, executor=make_backend(a.workers or None, None,
                                                                            in_process=a.workers == 0))
            measure_quality(res, cache=cache, data_dir=a.data_dir)
        secs = time.perf_counter() - t
        command = " ".join(["python bench/generators_bench.py", *sys.argv[1:]])
        made = {**result_files.made_here(command), "seconds": secs}
        if a.save:
            result_files.save_result(res, a.save, made)
    env = next(r for by in res.runs.values() for r in by.values()).info["environment"]
    env = env or environment(current_identity())
    cfg = res.config
    cost_rows = costs(res, cache)
    if a.ship:  # merged into the shipped study under this task's key
        path = Path(a.ship)
        study = json.loads(path.read_text()) if path.exists() else {}
        study[f"{a.task}-{cfg.classifier}"] = finite(study_entry(res, cost_rows, made, env))
        path.write_text(json.dumps(study, indent=1, sort_keys=True, allow_nan=False, default=float) + "\n")
    text = "\n".join([
        f"## Generators given their best shot (issue #23): {a.task}, {cfg.classifier}, {len(res.seeds)} paired seeds", "",
        f"Measured {made.get('made', '?')} by `{made.get('command', 'python bench/generators_bench.py')}` on "
        f"{env['cpu']} ({env.get('cpu_family', '?')}), {env['threads']} torch thread(s) per job, device "
        f"{env['device']}, torch {env['torch']}, vaeimb code {env['code']}; {secs / 60:.1f} min with its cache. "
        f"{cfg.label()}.", "",
        "```", report.format_table(res), "```", "",
        "Targets:", *quality_target_lines(res), *twin_target_lines(res), "",
        "Quality against gain, class by class (quality: judge features of the generator's images against 1000 "
        "held-out MNIST train images of the class, mean over seeds; gain: that class's test recall minus the "
        "twin's, paired over seeds):", "",
        *gain_table(res), "",
        "Cost of each generator (fit, incl. its confidence filter, mean over seeds; the classifier's training beside):", "",
        *cost_lines(cost_rows),
    ])
    publish(a.out, f"generators-{a.task}-{cfg.classifier}", text)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("task", choices=("longtail", "pair"))
    p.add_argument("--classifier", default="cnn")
    p.add_argument("--approaches", nargs="*")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cache-dir")
    p.add_argument("--data-dir")
    p.add_argument("--save", help="save the whole result here (a folder) to render it again with --load")
    p.add_argument("--load", help="render a result saved with --save (no training)")
    p.add_argument("--ship", help="merge this task's findings into a study JSON (vaeimb/shipped/generator_study.json)")
    p.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"), help="markdown file to refresh, '-' to print only")
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
