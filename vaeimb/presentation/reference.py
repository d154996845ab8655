"""The shipped reference results: every preset over paired seeds on the reference setup.

``bench/targets.py`` measures them (long: minutes per classifier) and ``compact`` keeps what
the About page needs — per-seed misclassified counts, the bounds, the twins, the quality
figures and where they were computed — so the page states the findings without training
anything (Streamlit Community Cloud trains nobody's 160 models).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..declarations.errors import VaeimbError
from ..declarations.locations import GENERATOR_STUDY_FILE, REFERENCE_PAIR_FILE
from ..parts.generators import LEARNED
from ..parts.metrics import spread
from ..statistics.stats import DEFAULT_CORRECTION, family
from ..statistics.verdict import paired_difference, verdict

REFERENCE_FILE = REFERENCE_PAIR_FILE


def compact(export: dict) -> dict:
    """From ``report.to_json_dict`` of one result: what the findings need, JSON-able."""
    per_seed: dict[str, dict[str, float]] = {}
    per_seed_metrics: dict[str, dict[str, dict[str, float]]] = {}
    quality: dict[str, dict[str, dict]] = {}
    env = {}
    for run in export["runs"]:
        per_seed.setdefault(run["approach"], {})[str(run["seed"])] = run["metrics"]["misclassified"]
        if len(run["confusion_matrix"]) > 2:  # a K-class result: every metric on every test set
            per_seed_metrics.setdefault(run["approach"], {})[str(run["seed"])] = {
                k: v for k, v in run["metrics"].items() if isinstance(v, (int, float))}
        env = env or run["info"].get("environment", {})
        if run.get("generator_quality"):
            quality.setdefault(run["approach"], {})[str(run["seed"])] = run["generator_quality"]
    recipes = export.get("recipes", {})
    return {
        "label": export["label"],
        "config": export["config"],
        "n_test": sum(map(sum, export["runs"][0]["confusion_matrix"])) if export["runs"] else None,
        "per_seed": per_seed,
        "recipes": recipes,
        "bounds": [n for n, r in recipes.items() if r.startswith("data=oracle")],
        "leaky": [s["approach"] for s in export.get("summary", []) if s.get("leaky")],
        "twins": export.get("twins", {}),
        "quality": quality,
        "environment": env,
        **({"per_seed_metrics": per_seed_metrics, "test_sets": export.get("test_sets"),
            "test_seed": export.get("test_seed")} if per_seed_metrics else {}),
    }


def load_reference(path: str | Path = REFERENCE_FILE) -> dict:
    """``{"measured": ..., "classifiers": {name: compact entry}}``; a clear error if absent."""
    try:
        data = json.loads(Path(path).read_text())
        data["classifiers"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise VaeimbError(f"reference results {path} are missing or unreadable ({err}); "
                          "regenerate them with python bench/targets.py --reference-out.") from None
    return data


def per_seed_of(entry: dict) -> dict[str, dict[int, float]]:
    return {a: {int(s): float(v) for s, v in by.items()} for a, by in entry["per_seed"].items()}


def reference_verdict(entry: dict):
    """The paired verdict of one classifier's shipped results."""
    per = per_seed_of(entry)
    pairs = {p: t for p, t in entry.get("twins", {}).items() if p in per and t in per}
    return verdict(per, bounds=entry.get("bounds", ["oracle"]), leaky=entry.get("leaky", []), pairs=pairs or None)


def reference_rows(entry: dict) -> list[dict]:
    """One row per approach: misclassified mean, sd, clipped 95 % interval, seeds; best first."""
    n_test = entry.get("n_test")
    rows = []
    for name, by in per_seed_of(entry).items():
        s = spread(list(by.values()), bounds=(0.0, float(n_test)) if n_test else None)
        rows.append({"approach": name, "recipe": entry.get("recipes", {}).get(name, ""),
                     "misclassified": s.mean, "sd": s.std, "ci_low": s.ci_low, "ci_high": s.ci_high,
                     "seeds": s.n, "per_seed": [by[k] for k in sorted(by)]})
    return sorted(rows, key=lambda r: r["misclassified"])


def metric_per_seed(entry: dict, metric: str = "misclassified") -> dict[str, dict[int, float]]:
    """approach -> {seed: value} of one metric of a compact entry. Misclassified counts come
    from ``per_seed``; any other metric (ACSA, ``balanced_accuracy@imbalanced``, ...) from
    ``per_seed_metrics`` (approach -> seed -> {metric: value}), which a K-class entry needs."""
    if metric == "misclassified" and "per_seed" in entry:
        return per_seed_of(entry)
    runs = entry.get("per_seed_metrics")
    if runs is None:
        raise VaeimbError(f"this reference entry ({entry.get('label', '?')}) keeps no per-seed {metric!r}: "
                          "compact() must keep each run's metrics as per_seed_metrics.")
    out = {a: {int(s): float(m[metric]) for s, m in by.items() if m.get(metric) is not None}
           for a, by in runs.items()}
    out = {a: by for a, by in out.items() if by}
    if not out:
        raise VaeimbError(f"no approach of this reference entry ({entry.get('label', '?')}) has {metric!r}.")
    return out


def other_test_sets(entry: dict) -> list[str]:
    """The test sets besides the main one that a K-class entry scored (``imbalanced``, ...),
    from its per-seed metric names (``balanced_accuracy@imbalanced``), in their order."""
    names: dict[str, None] = {}
    for by in entry.get("per_seed_metrics", {}).values():
        for metrics in by.values():
            for key in metrics:
                base, _, subset = key.partition("@")
                if subset and base == "balanced_accuracy":
                    names.setdefault(subset)
    return list(names)


def generator_of(entry: dict, preset: str) -> str | None:
    """The learned generator a preset's recipe uses (``gen=vae`` -> ``vae``), else None."""
    recipe = entry.get("recipes", {}).get(preset, "")
    return next((g for g in LEARNED if f"gen={g}," in recipe + ","), None)


def twin_differences(entry: dict, metric: str = "misclassified", higher_is_better: bool = False,
                     correction: str = DEFAULT_CORRECTION):
    """Each learned-generator preset against its generator-free twin, decided together:
    ``({preset: (twin, PairedDiff, separated after the correction)}, the family)``; the
    difference is preset - twin on ``metric``. ``({}, None)`` when no learned generator ran."""
    per = metric_per_seed(entry, metric)
    diffs = {}
    for preset, twin in entry.get("twins", {}).items():
        if generator_of(entry, preset) is not None and preset in per and twin in per:
            diffs[preset] = (twin, paired_difference(per[preset], per[twin], higher_is_better=higher_is_better))
    if not diffs:
        return {}, None
    fam = family({p: d.p_value for p, (_, d) in diffs.items()}, correction)
    return {p: (t, d, fam.of(p)[2]) for p, (t, d) in diffs.items()}, fam


def generator_findings(entry: dict, correction: str = DEFAULT_CORRECTION) -> tuple[str, list[str]]:
    """Does a learned generator earn its keep? A headline and one line per learned-generator
    preset: its paired difference to its generator-free twin and the seeds it wins.

    The issue's bar is "better than its twin in at least 4 of 5 paired seeds"; the headline
    also says whether the paired interval separates them after the correction over the
    generators compared (one family), so a run of wins is never sold as a distinguishable gain.
    """
    decided, fam = twin_differences(entry, correction=correction)
    diffs = {p: (t, d) for p, (t, d, _) in decided.items()}
    if not diffs:
        return "No learned generator was measured.", []
    lines, winners = [], []
    for preset, (twin, d) in diffs.items():
        separated = decided[preset][2]
        lines.append(f"{preset} vs its twin {twin}: {d.mean:+.1f} misclassified "
                     f"[{d.ci_low:+.1f}, {d.ci_high:+.1f}], the generator better in {d.wins} of {d.n_seeds} seeds"
                     + (" — distinguishable." if separated else " — not distinguishable."))
        if d.n_seeds and d.wins >= 0.8 * d.n_seeds:
            winners.append((preset, twin, d, separated))
    lines.append(f"Decided together, after {fam.sentence()}.")
    if not winners:
        return ("No learned generator beats its own generator-free twin in at least 4 of 5 paired seeds: what "
                "helps is the batches, the augmentation or the threshold around the generator, not the "
                "generator."), lines
    parts = [f"{p} beats its twin {t} in {d.wins} of {d.n_seeds} paired seeds ({d.mean:+.1f} misclassified "
             f"[{d.ci_low:+.1f}, {d.ci_high:+.1f}], {'distinguishable' if sep else 'not yet distinguishable'})"
             for p, t, d, sep in winners]
    return "; ".join(parts) + ". Every other learned generator does not.", lines


def markdown_table(entry: dict) -> str:
    """The README's reference table: every approach, best first, with spread, interval,
    seeds and the per-seed counts, plus the generators' quality means where measured."""
    quality = entry.get("quality", {})
    lines = ["| approach | misclassified (mean ± sd) | 95 % CI | per seed | precision | recall | Fréchet |",
             "|---|---|---|---|---|---|---|"]
    for r in reference_rows(entry):
        q = list(quality.get(r["approach"], {}).values())
        qm = {k: sum(x[k] for x in q) / len(q) for k in ("precision", "recall", "frechet")} if q else None
        ci = "n/a" if r["seeds"] < 2 else f"[{r['ci_low']:.1f}, {r['ci_high']:.1f}]"
        lines.append(
            f"| {r['approach']} | {r['misclassified']:.1f} ± {r['sd']:.1f} | {ci} | "
            f"{', '.join(f'{v:g}' for v in r['per_seed'])} | "
            + (" | ".join(f"{qm[k]:.2f}" if k != "frechet" else f"{qm[k]:.1f}" for k in ("precision", "recall", "frechet"))
               if qm else " |  | ") + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Issue #23: the generators given their best shot (``bench/generators_bench.py --ship``)
# --------------------------------------------------------------------------------------
#: What each study key is, in words.
STUDY_TASKS = {"longtail-cnn": "the ten-digit long tail (DeepSMOTE's counts), small CNN",
               "pair-cnn": "the digit pair 0 vs 6 (5000 / 100), small CNN"}


def load_generator_study(path: str | Path | None = None) -> dict:
    """``{task key: study entry}`` (default: the shipped ``GENERATOR_STUDY_FILE``); empty when
    nothing is shipped, a clear error if unreadable."""
    path = Path(path if path is not None else GENERATOR_STUDY_FILE)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        for entry in data.values():
            entry["twins"], entry["rarest"], entry["classes"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise VaeimbError(f"the generator study {path} is unreadable ({err}); rerun bench/generators_bench.py "
                          "--ship.") from None
    return data


def _metric_words(metric: str) -> tuple[str, float, int]:
    """(name, scale, digits) to state a difference of ``metric``."""
    return ("ACSA points", 100.0, 2) if metric == "balanced_accuracy" else ("misclassified", 1.0, 1)


def study_findings(entry: dict) -> tuple[str, list[str]]:
    """Does a learned generator, given its best shot, beat its generator-free twin? A headline
    (the answer, after the correction over the generators compared) and one line per preset,
    then the rarest class's image quality against the issue's bar."""
    unit, scale, digits = _metric_words(entry["metric"])
    correction = str(entry["correction"]).capitalize()
    lines, winners = [], []
    for t in entry["twins"]:
        d = f"{scale * t['mean']:+.{digits}f} [{scale * t['ci_low']:+.{digits}f}, {scale * t['ci_high']:+.{digits}f}]"
        p = "n/a" if t["p_adjusted"] is None else f"{t['p_adjusted']:.3f}"
        verdict_words = ("better, separated" if t["separated"] and t["helps"] else
                         "worse, separated" if t["separated"] else "not separated")
        lines.append(f"{t['preset']} vs its twin {t['twin']}: {d} {unit}, the generator better in {t['wins']} of "
                     f"{t['n_seeds']} seeds, {correction}-adjusted p {p}: {verdict_words}.")
        if t["separated"] and t["helps"]:
            winners.append(t["preset"])
    r = entry["rarest"]
    rare = [c for c in entry["classes"] if c["label"] == r["label"] and c["precision"] is not None]
    met = [c["approach"] for c in rare if c["precision"] >= r["precision_target"] and c["recall"] >= r["recall_target"]]
    for c in rare:
        lines.append(f"{c['approach']}: its digit-{r['digit']} images ({r['n_train']} real ones to learn from) judged "
                     f"precision {c['precision']:.2f}, recall {c['recall']:.2f}, Fréchet {c['frechet']:.0f}; that "
                     f"class's test recall {100 * c['gain']:+.2f} points over the twin.")
    quality = (f"The rarest class's images reach the bar (precision >= {r['precision_target']} with recall >= "
               f"{r['recall_target']}) with {', '.join(met)}" if met else
               f"No generator's rarest-class images reach precision >= {r['precision_target']} with recall >= "
               f"{r['recall_target']}")
    if winners:
        head = (f"{', '.join(winners)} beat{'s' if len(winners) == 1 else ''} the strongest generator-free twin after "
                f"{correction}'s correction. {quality}.")
    else:
        head = (f"No learned generator beats its generator-free twin after {correction}'s correction, "
                f"even given its best shot. {quality}"
                + (": better images did not make a better classifier." if met else "."))
    return head, lines


def study_classes(entry: dict) -> list[dict]:
    """Quality against gain, class by class: one display row per (preset, filled class); the
    gain in points of that class's test recall over the twin, with its paired 95 % interval."""
    def num(x, fmt: str, scale: float = 1.0) -> str:
        return "n/a" if x is None else format(scale * x, fmt)

    return [{"preset": c["approach"], "digit": c["digit"], "real training images": c["n_train"],
             "precision": num(c["precision"], ".2f"), "recall": num(c["recall"], ".2f"),
             "Fréchet": num(c["frechet"], ".0f"),
             "test recall gain (points)": f"{num(c['gain'], '+.2f', 100)} [{num(c['gain_ci_low'], '+.2f', 100)}, "
                                          f"{num(c['gain_ci_high'], '+.2f', 100)}]",
             "seeds": c["seeds"]} for c in entry["classes"]]
