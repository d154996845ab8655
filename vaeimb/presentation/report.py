"""Tables and exports of experiment results (shared by the CLI and the dashboard)."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np

from ..declarations.datasets import DEFAULT_DATASET
from ..parts.metrics import metric_info, metrics_for
from ..running.result_files import json_default
from ..running.results import ExperimentResult
from ..statistics.stats import GAP_LABEL
from ..statistics.verdict import paired_difference

#: The original post's numbers: misclassified test images out of 1938, one seed.
REPORTED_MISCLASSIFIED = {"oversample": 70, "vae": 30}
REPORTED_TEST_SIZE = 1938

LEAK_WARNING = (
    "LEAKY PROTOCOL: generators were trained on minority images of the TEST split, as in the "
    "original code; their numbers overstate what a generator can do."
)


def reported_misclassified(result: ExperimentResult, approach: str) -> int | None:
    """The originally reported count, for the reference setup only."""
    if result.config.is_reference:
        return REPORTED_MISCLASSIFIED.get(approach)
    return None


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _finite(x: float) -> float | None:
    """JSON-ready: NaN and an unbounded interval end become None."""
    return float(x) if math.isfinite(x) else None


def _leaky(result: ExperimentResult, name: str) -> bool:
    return name in result.leaky_approaches()


def _threshold_text(result: ExperimentResult, name: str) -> str:
    """The decision threshold(s) an approach used, as a minority probability ("" for K > 2:
    the decision there is a vector of per-class offsets, in each run's info)."""
    if result.config.n_classes > 2:
        return ""
    probs = sorted({round(r.threshold_probability, 4) for r in result.runs.get(name, {}).values()})
    if not probs:
        return ""
    if len(probs) == 1:
        return f"{probs[0]:.4f}"
    return f"{probs[0]:.4f}-{probs[-1]:.4f}"


def summary_rows(result: ExperimentResult) -> list[dict]:
    """One row per approach with results: mean, sd and 95 % CI of every metric."""
    rows = []
    gap = result.gap_closed()
    for name, stats in result.summary().items():
        a = result.recipes.get(name)
        row = {
            "approach": name,
            "recipe": a.recipe.text() if a else "",
            "description": a.description if a else "",
            "seeds": stats["misclassified"].n,
            "threshold_probability": _threshold_text(result, name),
            "reported_misclassified": reported_misclassified(result, name),
            "leaky": _leaky(result, name),
        }
        for m, s in stats.items():
            row[f"{m}_mean"] = _num(s.mean)
            row[f"{m}_std"] = _num(s.std)
            row[f"{m}_ci_low"] = _num(s.ci_low)
            row[f"{m}_ci_high"] = _num(s.ci_high)
        if name in gap:
            g = gap[name]
            row.update(gap_closed_mean=_num(g.mean), gap_closed_std=_num(g.std), gap_closed_ci_low=_num(g.ci_low),
                       gap_closed_ci_high=_num(g.ci_high))
        rows.append(row)
    return rows


def metric_label(name: str, n_classes: int = 2) -> str:
    """A metric's column label for a task of ``n_classes``; one on another test set names it
    (``ACSA (balanced accuracy) (imbalanced test)``)."""
    base, _, subset = name.partition("@")
    label = (metrics_for(n_classes).get(base) or metric_info(base))[0]
    return f"{label} ({subset} test)" if subset else label


def display_rows(result: ExperimentResult) -> list[dict]:
    """Human-readable rows ("mean ± sd") for a table on screen."""
    rows = []
    gap = result.gap_closed()
    multiclass = result.config.n_classes > 2
    for name, stats in result.summary().items():
        row = {"approach": name + (" (LEAKY)" if _leaky(result, name) else "")}
        for m, s in stats.items():
            row[metric_label(m, result.config.n_classes)] = s.format(1 if m.startswith("misclassified") else 3)
        mis = stats["misclassified"]
        if multiclass:
            acsa = stats["balanced_accuracy"]
            row["95% CI (ACSA)"] = "n/a" if acsa.n < 2 else f"[{acsa.ci_low:.3f}, {acsa.ci_high:.3f}]"
        row["95% CI (misclassified)"] = "n/a" if mis.n < 2 else f"[{mis.ci_low:.1f}, {mis.ci_high:.1f}]"
        if gap:
            row[GAP_LABEL] = gap[name].format(2) if name in gap else ""
        if not multiclass:
            row["Threshold (minority prob.)"] = _threshold_text(result, name)
        rep = reported_misclassified(result, name)
        row["Reported (original)"] = "" if rep is None else str(rep)
        row["Seeds"] = mis.n
        rows.append(row)
    return rows


def run_rows(result: ExperimentResult) -> list[dict]:
    """One row per (approach, seed): every metric, the threshold and the training time."""
    rows = []
    for name, by_seed in result.runs.items():
        for seed, r in sorted(by_seed.items()):
            decision = ({"offsets": " ".join(f"{o:.4g}" for o in r.offsets)} if r.offsets is not None else
                        {"threshold_logit": r.threshold, "threshold_probability": r.threshold_probability})
            rows.append({
                "approach": name, "seed": seed, **r.metrics, **decision,
                "recipe": r.info.get("recipe", ""),
                "n_generated": r.info.get("n_generated", 0),
                "seconds": r.info.get("seconds"),
                "leaky": bool(r.info.get("leaky", False)),
                **{f"env_{k}": v for k, v in sorted(r.info.get("environment", {}).items())},
            })
    return rows


def verdict_lines(result: ExperimentResult) -> list[str]:
    """The verdict's sentences: on misclassified images; for K > 2 first on ACSA."""
    lines, metrics = [], verdict_metrics(result)
    for metric in metrics:
        v = result.verdict(metric)
        if v is not None:
            lines += ([f"On {metric_label(metric, result.config.n_classes)}:"] if len(metrics) > 1 else []) + v.sentences()
    return lines


def verdict_metrics(result: ExperimentResult) -> tuple[str, ...]:
    """The metrics a verdict is given on: errors; for K > 2 ACSA first (the long tail's measure)."""
    return ("balanced_accuracy", "misclassified") if result.config.n_classes > 2 else ("misclassified",)


def provenance_line(result: ExperimentResult) -> str:
    """Where the numbers were computed; flags a table that mixes environments."""
    envs = {tuple(sorted((k, str(v)) for k, v in r.info.get("environment", {}).items()
                         if k in ("threads", "device", "torch", "vaeimb", "code")))
            for by_seed in result.runs.values() for r in by_seed.values()}
    if not envs:
        return ""
    if len(envs) > 1:
        return "Provenance: MIXED - these runs come from different thread counts, devices or versions."
    env = dict(next(iter(envs)))
    return (f"Provenance: vaeimb {env.get('vaeimb')} (code {env.get('code')}), torch {env.get('torch')}, "
            f"{env.get('threads')} thread(s), device {env.get('device')}.")


def format_table(result: ExperimentResult) -> str:
    """The CLI's output: the verdict first, then per approach misclassified mean ± sd
    (95 % CI), balanced accuracy, minority recall, the threshold used and the original's
    reported number where it applies."""
    n_test = result.n_test or 0
    multiclass = result.config.n_classes > 2
    if multiclass:
        subsets = list(result.config.test_plan.subsets)
        header = ["approach", "ACSA", "95% CI", "macro GM", "macro F1", *(f"ACSA ({s})" for s in subsets),
                  f"misclassified /{n_test}", "seeds"]
    else:
        header = ["approach", f"misclassified /{n_test}", "95% CI", "balanced acc", "minority recall",
                  "threshold p", "seeds", "reported"]
    lines = []
    for name, stats in (result.summary().items() if multiclass else ()):
        acsa = stats["balanced_accuracy"]
        ci = "n/a" if acsa.n < 2 else f"[{100 * acsa.ci_low:.2f}, {100 * acsa.ci_high:.2f}]"
        pct = lambda m: "" if m not in stats else (f"{100 * stats[m].mean:.2f}" + (f" ± {100 * stats[m].std:.2f}" if stats[m].n > 1 else ""))  # noqa: E731
        lines.append([name + (" (LEAKY)" if _leaky(result, name) else ""), pct("balanced_accuracy"), ci,
                      pct("g_mean"), pct("macro_f1"), *(pct(f"balanced_accuracy@{s}") for s in subsets),
                      stats["misclassified"].format(1), str(acsa.n)])
    for name, stats in (() if multiclass else result.summary().items()):
        mis = stats["misclassified"]
        ci = "n/a" if mis.n < 2 else f"[{mis.ci_low:.1f}, {mis.ci_high:.1f}]"
        rep = reported_misclassified(result, name)
        leak = " (LEAKY)" if _leaky(result, name) else ""
        lines.append([
            name + leak, mis.format(1), ci, stats["balanced_accuracy"].format(3),
            stats["minority_recall"].format(3), _threshold_text(result, name), str(mis.n),
            "" if rep is None else str(rep),
        ])
    for name, by_seed in result.failures.items():
        for seed, msg in by_seed.items():
            lines.append([name, "FAILED", f"seed {seed}", msg[:70], *[""] * (len(header) - 4)])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    fmt = lambda row: "  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip()
    out = [f"Config: {result.config.label()}", f"Seeds (paired): {', '.join(map(str, result.seeds))}"]
    if result.config.dataset != DEFAULT_DATASET:  # which images, and what was done to an own file
        out.append(f"Dataset: {result.config.dataset_record.description}")
    if result.config.leaky:
        out.append(LEAK_WARNING)
    verdict = verdict_lines(result)
    if verdict:
        out += ["", "Verdict:", *(f"  {line}" for line in verdict)]
    out += ["", fmt(header), fmt(["-" * w for w in widths]), *map(fmt, lines)]
    if multiclass:
        out += ["", f"Test sets: {result.config.test_plan.description}. ACSA = mean per-class recall (%), "
                "macro GM and F1 in %, mean ± sd over the paired seeds."]
    else:
        out += ["", "threshold p: predict the minority when its probability exceeds this (argmax = 0.5; "
                "posthoc = n_min / (n_min + n_maj) with tau = 1; tuned = chosen on the validation split)."]
    if result.twins:
        out.append("Generator-free twins run beside: " + ", ".join(f"{p} -> {t}" for p, t in result.twins.items()) + ".")
    if result.quality:
        out += ["", *quality_lines(result)]
    prov = provenance_line(result)
    if prov:
        out += ["", prov]
    if result.config.is_reference:
        out.append("'reported': the original post's single-seed count (1000 steps, leaky VAE).")
    return "\n".join(out)


def to_json_dict(result: ExperimentResult) -> dict:
    """Everything needed to redraw the results elsewhere (no arrays larger than the test set)."""
    runs = []
    for name, by_seed in result.runs.items():
        for seed, r in sorted(by_seed.items()):
            mis = r.misclassified
            multiclass = r.offsets is not None
            digits = result.config.classes
            pred = r.predictions
            runs.append({
                "approach": name,
                "seed": seed,
                "metrics": r.metrics,
                **({"offsets": r.offsets.tolist(), "per_class": {k: v.tolist() for k, v in r.per_class().items()},
                    "digits": list(digits)} if multiclass else
                   {"threshold_logit": r.threshold, "threshold_probability": r.threshold_probability}),
                "confusion_matrix": r.confusion.tolist(),
                "learning_curve": {"steps": r.checkpoint_steps.tolist(), "misclassified": r.curve_errors.tolist(),
                                   "validation_misclassified": None if r.val_curve is None else r.val_curve.tolist()},
                "misclassified": [
                    {"test_position": int(i), "mnist_test_index": int(r.test_index[i]),
                     **({"true_digit": int(digits[r.test_y[i]]), "predicted_digit": int(digits[pred[i]])} if multiclass
                        else {"true": "minority" if r.test_y[i] else "majority",
                              "minority_probability": float(r.probabilities[i])})}
                    for i in mis
                ],
                "info": r.info,
                "generator_quality": _quality(result, name, seed),
            })
    verdict = result.verdict()
    extra = {}
    if result.config.n_classes > 2:
        acsa = result.verdict("balanced_accuracy")
        extra = {"verdict_acsa": None if acsa is None else acsa.to_dict(),
                 "verdict_acsa_text": [] if acsa is None else acsa.sentences(),
                 "test_sets": result.config.test_plan.description, "test_seed": result.config.test_plan.seed}
    return {
        "verdict": None if verdict is None else verdict.to_dict(),
        "verdict_text": [] if verdict is None else verdict.sentences(),
        **extra,
        "config": result.config.to_dict(),
        "protocol": result.config.protocol,
        "label": result.config.label(),
        "dataset": {"name": result.config.dataset, "label": result.config.dataset_record.label,
                    "description": result.config.dataset_record.description,
                    "class_names": list(result.config.dataset_record.class_names)},
        "leaky": result.config.leaky,
        "warning": LEAK_WARNING if result.config.leaky else None,
        "seeds": list(result.seeds),
        "approaches": list(result.approaches),
        "recipes": {n: a.recipe.text() for n, a in result.recipes.items()},
        "twins": dict(result.twins),
        "summary": summary_rows(result),
        "runs": runs,
        "failures": [{"approach": a, "seed": s, "error": m} for a, d in result.failures.items() for s, m in d.items()],
        "cached": result.cached,  # (approach, seed) results loaded from the cache rather than trained
        # each generator preset's quality and test recall gain over its twin, class by class
        "generator_class_gains": [{k: _finite(v) if isinstance(v, float) else v for k, v in row.items()}
                                  for row in class_gains(result)],
    }


def _quality(result: ExperimentResult, name: str, seed: int) -> dict | None:
    return result.quality_of(name, seed)


def to_json(result: ExperimentResult) -> str:
    return json.dumps(to_json_dict(result), indent=2, default=json_default)


def to_csv(result: ExperimentResult, which: str = "runs") -> str:
    """CSV of per-(approach, seed) rows (``which="runs"``) or per-approach summaries."""
    if which not in ("runs", "summary"):
        raise ValueError(f"which must be 'runs' or 'summary', got {which!r}")
    rows = run_rows(result) if which == "runs" else summary_rows(result)
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


#: Generator-quality figures: key -> (label, whether higher is better).
QUALITY_METRICS = {
    "precision": ("Precision (samples that look real)", True),
    "recall": ("Recall (real variety covered)", True),
    "frechet": ("Fréchet distance to held-out real images", False),
    "memorisation": ("Median distance to the nearest training image", True),
}


def quality_points(result: ExperimentResult) -> list[dict]:
    """One row per (generator preset, seed) with measured quality: the generator's
    figures beside the classifier's misclassified count ("does a better generator make a
    better classifier?")."""
    rows = []
    for name, a in result.recipes.items():
        if not a.recipe.gen:
            continue
        for seed, run in sorted(result.runs.get(name, {}).items()):
            q = _quality(result, name, seed)
            if q is None:
                continue
            rows.append({"approach": name, "generator": a.recipe.gen, "seed": seed,
                         "misclassified": run.metrics["misclassified"],
                         **{k: q[k] for k in (*QUALITY_METRICS, "memorisation_real")}})
    return rows


def quality_correlation(points: list[dict], metric: str) -> float | None:
    """Spearman rank correlation between a quality figure and misclassified over the
    points (None with fewer than 3 points or no variation)."""
    if len(points) < 3:
        return None
    from scipy.stats import spearmanr

    x = [p[metric] for p in points]
    y = [p["misclassified"] for p in points]
    if len(set(x)) < 2 or len(set(y)) < 2:
        return None
    rho = spearmanr(x, y).statistic
    return None if rho != rho else float(rho)


# --------------------------------------------------------------------------------------
# Generator quality class by class, next to each class's test recall gain
# --------------------------------------------------------------------------------------
#: The figures ``class_gains`` averages over seeds, of one class's quality.
CLASS_QUALITY_KEYS = ("precision", "recall", "frechet", "memorisation", "memorisation_real")


def class_figures(quality: dict | None, label: int, n_classes: int) -> dict | None:
    """One class's quality figures from a (generator, seed) entry of ``result.quality``.

    Its ``by_class`` entry (``vaeimb.studies.quality.quality_of``); an entry stored before figures
    were measured class by class holds the rarest class's (the last label) only: those for
    that label, None for any other (and None when ``quality`` is None).
    """
    if quality is None:
        return None
    if "by_class" in quality:
        return quality["by_class"].get(str(int(label)))
    return {k: v for k, v in quality.items() if k != "by_class"} if int(label) == n_classes - 1 else None


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def class_gains(result: ExperimentResult) -> list[dict]:
    """One row per (generator preset that ran, label its generator fills), presets in recipe
    order, labels in order: that class's test recall with the preset and with its
    generator-free twin, their paired difference over seeds (the gain), and the class's
    generator quality.

    Keys: ``approach``, ``generator``, ``twin`` (None when the result records none), ``label``,
    ``digit``, ``n_train`` (real training images of the class in the config);
    ``class_recall`` and ``twin_class_recall``: the class's recall on the test set (the final
    model's decisions), mean over the paired seeds (over all the preset's seeds when the
    twin did not run: ``twin_class_recall`` NaN); ``gain``, ``gain_sd``, ``gain_ci_low``,
    ``gain_ci_high``: ``verdict.paired_difference`` of preset − twin (its paired-t 95 %
    interval clipped to the possible [-1, 1]; NaN with one seed; [-1, 1] when the exact
    test cannot bound it), ``seeds``:
    how many seeds the recall means and the gain use; ``precision``, ``recall``, ``frechet``,
    ``memorisation``, ``memorisation_real``: the class's quality figures (``class_figures``),
    mean over the ``quality_seeds`` seeds that have them (NaN with none); ``n_asked``: the
    images the recipe asked of the class (None when unknown).

    Nothing here is chosen on the test set: recalls are read off runs that are finished.
    """
    cfg = result.config
    rows = []
    for name, a in result.recipes.items():
        runs = result.runs.get(name, {})
        if not a.recipe.gen or not runs:
            continue
        twin = result.twins.get(name)
        twin_runs = result.runs.get(twin, {}) if twin else {}
        recalls = {s: r.per_class()["recall"] for s, r in runs.items()}
        twin_recalls = {s: r.per_class()["recall"] for s, r in twin_runs.items()}
        paired = sorted(set(recalls) & set(twin_recalls))
        used = paired if twin_runs else sorted(recalls)
        for label in cfg.fill:
            mine = {s: float(v[label]) for s, v in recalls.items()}
            theirs = {s: float(v[label]) for s, v in twin_recalls.items()}
            diff = paired_difference(mine, theirs, higher_is_better=True)
            figures = [f for s in sorted(runs)
                       if (f := class_figures(result.quality_of(name, s), label, cfg.n_classes)) is not None]
            asked = [int(f["n_asked"]) for f in figures if f.get("n_asked") is not None]
            rows.append({
                "approach": name, "generator": a.recipe.gen, "twin": twin, "label": int(label),
                "digit": int(cfg.classes[label]), "n_train": int(cfg.class_counts[label]),
                "class": cfg.dataset_record.class_label(cfg.classes[label]), "noun": cfg.dataset_record.noun,
                "class_recall": _mean([mine[s] for s in used]),
                "twin_class_recall": _mean([theirs[s] for s in paired]),
                "gain": diff.mean, "gain_sd": diff.sd,
                # a difference of two recalls lies in [-1, 1]: the interval never claims more
                "gain_ci_low": float(np.clip(diff.ci_low, -1.0, 1.0)),
                "gain_ci_high": float(np.clip(diff.ci_high, -1.0, 1.0)),
                "seeds": len(used),
                **{k: _mean([float(f[k]) for f in figures if k in f]) for k in CLASS_QUALITY_KEYS},
                "quality_seeds": len(figures),
                "n_asked": min(asked) if asked else None,
            })
    return rows


def _interval(low: float, high: float, digits: int = 3) -> str:
    """"[low, high]" signed; "n/a" when undefined (one seed)."""
    if math.isnan(low) or math.isnan(high):
        return "n/a"
    return f"[{low:+.{digits}f}, {high:+.{digits}f}]"


def _fixed(x: float, digits: int, signed: bool = False) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:{'+' if signed else ''}.{digits}f}"


def class_gain_table(rows: list[dict], approach: str) -> list[dict]:
    """``class_gains`` rows of one preset as a table on screen: per class its digit, real
    training images, quality (precision, recall, Fréchet; mean over seeds), test recall with
    the preset, and the gain over the twin with its 95 % interval and the seed count."""
    out = []
    for r in (r for r in rows if r["approach"] == approach):
        twin = r["twin"] or "its twin"
        gain = "no twin ran" if math.isnan(r["twin_class_recall"]) else \
            f"{_fixed(r['gain'], 3, signed=True)} {_interval(r['gain_ci_low'], r['gain_ci_high'])}"
        out.append({
            "Class (digit)" if r.get("noun", "digit") == "digit" else "Class": r.get("class", str(r["digit"])),
            "Real training images": r["n_train"],
            "Precision": _fixed(r["precision"], 3),
            "Recall": _fixed(r["recall"], 3),
            "Fréchet": _fixed(r["frechet"], 2),
            f"Test recall ({approach})": _fixed(r["class_recall"], 3),
            f"Test recall gain over {twin} [95% CI]": gain,
            "Seeds": r["seeds"],
        })
    return out


def _class_line(r: dict, pair: bool) -> str:
    """One class of ``class_gains`` in words: its gain over the twin, then (K classes) its quality."""
    noun, which = r.get("noun", "digit"), r.get("class", str(r["digit"]))
    what = f"minority ({noun} {which})" if pair else f"{noun} {which} ({r['n_train']} real)"
    seeds = f"{r['seeds']} seed{'s' if r['seeds'] != 1 else ''}"
    if math.isnan(r["twin_class_recall"]):
        recall = f"test recall {_fixed(r['class_recall'], 3)} ({seeds}); no generator-free twin ran"
    else:
        recall = (f"test recall {_fixed(r['class_recall'], 3)} vs {_fixed(r['twin_class_recall'], 3)}, gain "
                  f"{_fixed(r['gain'], 3, signed=True)} (95% CI {_interval(r['gain_ci_low'], r['gain_ci_high'])}), "
                  f"{seeds}")
    if pair:
        return f"{what}: {recall}"
    if not r["quality_seeds"]:
        return f"{what}: quality not measured; {recall}"
    n = r["quality_seeds"]
    return (f"{what}: precision {r['precision']:.3f}, recall {r['recall']:.3f}, Frechet {r['frechet']:.2f}, "
            f"memorisation {r['memorisation']:.3f} (held-out real: {r['memorisation_real']:.3f}; {n} seed"
            f"{'s' if n != 1 else ''}); {recall}")


def quality_lines(result: ExperimentResult) -> list[str]:
    """The report's generator-quality section. The pair: each (generator, seed)'s figures,
    then each preset's minority recall gain over its twin. K classes: per preset, class by
    class, the quality figures (mean over seeds) beside the test recall gain over the twin."""
    pair = result.config.n_classes == 2
    ds = result.config.dataset_record
    gains = class_gains(result)
    out = []
    if pair:
        out.append(f"Generator quality (vs held-out real minority images from {ds.title} train; judge features):")
        for (gen, seed), q in sorted(result.quality.items()):
            out.append(f"  {gen} seed {seed}: precision {q['precision']:.3f}, recall {q['recall']:.3f}, "
                       f"Frechet {q['frechet']:.2f}, memorisation {q['memorisation']:.3f} "
                       f"(held-out real: {q['memorisation_real']:.3f})")
    else:
        out.append(f"Generator quality class by class (vs held-out real images of each {ds.noun} from {ds.title} "
                   "train; judge features; mean over seeds), beside each class's test recall gain over the twin:")
    for name in dict.fromkeys(r["approach"] for r in gains):
        rows = [r for r in gains if r["approach"] == name]
        twin = rows[0]["twin"]
        head = f"  {name} ({rows[0]['generator']}) vs its generator-free twin {twin}" if twin else \
            f"  {name} ({rows[0]['generator']}), no generator-free twin recorded"
        if pair:
            out.append(f"{head}, {_class_line(rows[0], pair=True)}")
        else:
            out += [f"{head}:", *(f"    {_class_line(r, pair=False)}" for r in rows)]
    return out
