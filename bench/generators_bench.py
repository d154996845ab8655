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
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import check_writable, markdown_table, publish  # noqa: E402
from vaeimb import report  # noqa: E402
from vaeimb.cache import ResultCache  # noqa: E402
from vaeimb.config import ExperimentConfig  # noqa: E402
from vaeimb.provenance import environment  # noqa: E402
from vaeimb.training import current_identity  # noqa: E402

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
            q = result.quality.get((g["generator"], seed))
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
        lines.append(f"  - {preset} vs {v.twins[preset]}: {d.mean:+.4f} [{d.ci_low:+.4f}, {d.ci_high:+.4f}] on {metric}, "
                     f"{d.n_seeds} seeds, Holm-adjusted p {p:.3f}: {word}")
        if sep and helps:
            better.append(preset)
    head = (f"- a learned-generator recipe better than its generator-free twin after Holm's correction ({metric}): "
            f"**{'MET by ' + ', '.join(better) if better else 'MISSED'}**")
    return [head, *lines]


def cost_lines(result, cache: ResultCache) -> list[str]:
    """Each generator's fit time per run (seed) and per class it fills, from its cached record."""
    from vaeimb.runner import Runner

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
        clf = np.mean([r.info["seconds"] for r in result.runs[name].values()])
        rows.append((name, a.recipe.gen, f"{np.mean(secs):.1f}", f"{np.mean(secs) / n_fill:.1f}",
                     f"{np.mean(filt):.1f}", f"{clf:.1f}", len(secs)))
    return markdown_table(("preset", "generator", "fit s / run", "fit s / class", "of it the filter s",
                           "classifier s / run", "seeds"), rows, "llrrrrr")


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
    from vaeimb import shipped
    from vaeimb.quality import measure_quality

    check_writable(a.out) if a.out != "-" else None
    cache = ResultCache(a.cache_dir)
    if a.load:
        res = shipped.load_result(a.load)
        made = shipped.load_provenance(a.load)
        secs = made.get("seconds", float("nan"))
    else:
        from vaeimb.executor import make_backend
        from vaeimb.experiment import run_experiment

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
        made = {**shipped.made_here(command), "seconds": secs}
        if a.save:
            shipped.save_result(res, a.save, made)
    env = next(r for by in res.runs.values() for r in by.values()).info["environment"]
    env = env or environment(current_identity())
    cfg = res.config
    text = "\n".join([
        f"## Generators given their best shot (issue #23): {a.task}, {cfg.classifier}, {len(res.seeds)} paired seeds", "",
        f"Measured {made.get('made', '?')} by `{made.get('command', 'python bench/generators_bench.py')}` on "
        f"{env['cpu']} ({env.get('cpu_family', '?')}), {env['threads']} torch thread(s) per task, device "
        f"{env['device']}, torch {env['torch']}, vaeimb code {env['code']}; {secs / 60:.1f} min with its cache. "
        f"{cfg.label()}.", "",
        "```", report.format_table(res), "```", "",
        "Targets:", *quality_target_lines(res), *twin_target_lines(res), "",
        "Quality against gain, class by class (quality: judge features of the generator's images against 1000 "
        "held-out MNIST train images of the class, mean over seeds; gain: that class's test recall minus the "
        "twin's, paired over seeds):", "",
        *gain_table(res), "",
        "Cost of each generator (fit, incl. its confidence filter, mean over seeds; the classifier's training beside):", "",
        *cost_lines(res, cache),
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
    p.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"), help="markdown file to refresh, '-' to print only")
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
