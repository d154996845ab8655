"""Tables and exports of experiment results (shared by the CLI and the dashboard)."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np

from .approaches import get_approach
from .experiment import ExperimentResult
from .metrics import METRICS

#: The original post's numbers: misclassified test images out of 1938, one seed.
REPORTED_MISCLASSIFIED = {"oversample": 70, "vae": 30}
REPORTED_TEST_SIZE = 1938

LEAK_WARNING = (
    "LEAKY PROTOCOL: the VAE was trained on minority images of the TEST split, as in the "
    "original code; its numbers overstate what the VAE can do."
)


def reported_misclassified(result: ExperimentResult, approach: str) -> int | None:
    """The originally reported count, for the reference setup only."""
    if result.config.is_reference:
        return REPORTED_MISCLASSIFIED.get(approach)
    return None


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def summary_rows(result: ExperimentResult) -> list[dict]:
    """One row per approach with results: mean, sd and 95 % CI of every metric."""
    rows = []
    for name, stats in result.summary().items():
        row = {
            "approach": name,
            "description": get_approach(name).description,
            "seeds": stats["misclassified"].n,
            "reported_misclassified": reported_misclassified(result, name),
            "leaky": result.config.leaky and get_approach(name).needs_vae,
        }
        for m, s in stats.items():
            row[f"{m}_mean"] = _num(s.mean)
            row[f"{m}_std"] = _num(s.std)
            row[f"{m}_ci_low"] = _num(s.ci_low)
            row[f"{m}_ci_high"] = _num(s.ci_high)
        rows.append(row)
    return rows


def display_rows(result: ExperimentResult) -> list[dict]:
    """Human-readable rows ("mean ± sd") for a table on screen."""
    rows = []
    for name, stats in result.summary().items():
        row = {"approach": name + (" (LEAKY)" if result.config.leaky and get_approach(name).needs_vae else "")}
        for m, s in stats.items():
            row[METRICS[m][0]] = s.format(1 if m == "misclassified" else 3)
        rep = reported_misclassified(result, name)
        row["Reported (original)"] = "" if rep is None else str(rep)
        row["Seeds"] = stats["misclassified"].n
        rows.append(row)
    return rows


def run_rows(result: ExperimentResult) -> list[dict]:
    """One row per (approach, seed): every metric, the threshold and the training time."""
    rows = []
    for name, by_seed in result.runs.items():
        for seed, r in sorted(by_seed.items()):
            rows.append({
                "approach": name, "seed": seed, **{m: r.metrics[m] for m in METRICS},
                "threshold_logit": r.threshold,
                "threshold_probability": r.info.get("threshold_probability"),
                "seconds": r.info.get("seconds"),
                "leaky": bool(r.info.get("leaky", False)),
            })
    return rows


def format_table(result: ExperimentResult) -> str:
    """The CLI's table: approach, misclassified mean ± sd (95 % CI), balanced accuracy,
    minority recall, and the original's reported number where it applies."""
    n_test = result.n_test or 0
    header = ["approach", f"misclassified /{n_test}", "95% CI", "balanced acc", "minority recall", "reported"]
    lines = []
    for name, stats in result.summary().items():
        mis = stats["misclassified"]
        ci = "n/a" if mis.n < 2 else f"[{mis.ci_low:.1f}, {mis.ci_high:.1f}]"
        rep = reported_misclassified(result, name)
        leak = " (LEAKY)" if result.config.leaky and get_approach(name).needs_vae else ""
        lines.append([
            name + leak, mis.format(1), ci, stats["balanced_accuracy"].format(3),
            stats["minority_recall"].format(3), "" if rep is None else str(rep),
        ])
    for name, by_seed in result.failures.items():
        for seed, msg in by_seed.items():
            lines.append([name, "FAILED", f"seed {seed}", msg[:60], "", ""])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    fmt = lambda row: "  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip()
    out = [f"Config: {result.config.label()}", f"Seeds: {', '.join(map(str, result.seeds))}"]
    if result.config.leaky:
        out.append(LEAK_WARNING)
    out += ["", fmt(header), fmt(["-" * w for w in widths]), *map(fmt, lines)]
    thr = next(iter(result.runs.get("threshold", {}).values()), None)
    if thr is not None:
        out.append("")
        out.append(
            f"threshold: predicts the minority when its probability exceeds "
            f"{thr.info['threshold_probability']:.4f} (log-odds {thr.threshold:+.2f} = tau * "
            "log(n_minority / n_majority); post-hoc logit adjustment, nothing tuned on test)."
        )
    if result.config.is_reference:
        out.append("")
        out.append("'reported': the original post's single-seed count (1000 steps, leaky VAE).")
    return "\n".join(out)


def to_json_dict(result: ExperimentResult) -> dict:
    """Everything needed to redraw the results elsewhere (no arrays larger than the test set)."""
    runs = []
    for name, by_seed in result.runs.items():
        for seed, r in sorted(by_seed.items()):
            mis = r.misclassified
            runs.append({
                "approach": name,
                "seed": seed,
                "metrics": r.metrics,
                "threshold_logit": r.threshold,
                "confusion_matrix": r.confusion.tolist(),
                "learning_curve": {"steps": r.checkpoint_steps.tolist(), "misclassified": r.curve_errors.tolist()},
                "misclassified": [
                    {"test_position": int(i), "mnist_test_index": int(r.test_index[i]),
                     "true": "minority" if r.test_y[i] else "majority",
                     "minority_probability": float(r.probabilities[i])}
                    for i in mis
                ],
                "info": r.info,
            })
    return {
        "config": result.config.to_dict(),
        "label": result.config.label(),
        "leaky": result.config.leaky,
        "warning": LEAK_WARNING if result.config.leaky else None,
        "seeds": list(result.seeds),
        "approaches": list(result.approaches),
        "summary": summary_rows(result),
        "runs": runs,
        "failures": [{"approach": a, "seed": s, "error": m} for a, d in result.failures.items() for s, m in d.items()],
    }


def to_json(result: ExperimentResult) -> str:
    return json.dumps(to_json_dict(result), indent=2, default=_json_default)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def to_csv(result: ExperimentResult, which: str = "runs") -> str:
    """CSV of per-(approach, seed) rows (``which="runs"``) or per-approach summaries."""
    if which not in ("runs", "summary"):
        raise ValueError("which must be 'runs' or 'summary'")
    rows = run_rows(result) if which == "runs" else summary_rows(result)
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()
