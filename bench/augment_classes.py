"""Augmenting every class against augmenting the minority alone, on the digit pair (issue #22).

    python bench/augment_classes.py [--classifiers mlp cnn] [--seeds 0 1 2 3 4] [--workers 2]

Runs the augmenting presets twice on the clean reference setup (0 vs 6, 5000 / 100, the
reference budget) over the same paired seeds: with the default ``classes=all`` and with
``classes=minority`` (the recipes before issue #22), beside the oracle, the oracle trained as
``augment`` is and oversampling. Writes the "augment-classes" section of BENCHMARKS.md: each
preset's misclassified counts seed by seed, the paired difference (all − minority) with its
95 % interval, and the issue's pair targets (the best realistic recipe's errors at most 1.3x
the oracle's for the MLP, 1.5x for the CNN), met or missed. The long tail's comparison is
"reference-before-after-augment-longtail" (``bench/compare_reference.py``).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import check_writable, markdown_table, publish  # noqa: E402
from vaeimb.declarations.config import ExperimentConfig, from_settings  # noqa: E402
from vaeimb.declarations.provenance import environment, utc_now  # noqa: E402
from vaeimb.parts.training import current_identity  # noqa: E402
from vaeimb.running.cache import ResultCache  # noqa: E402
from vaeimb.statistics.verdict import paired_difference  # noqa: E402

AUGMENTING = ("augment", "augment-posthoc", "la-augment")
BESIDE = ("oracle", "oracle-augment", "oversample")
#: Issue #22's targets on the pair: the best realistic recipe's errors over the oracle's.
TARGETS = {"mlp": 1.3, "cnn": 1.5}


def _counts(by_seed: dict[int, float]) -> str:
    return " ".join(f"{by_seed[s]:g}" for s in sorted(by_seed))


def _mean(by_seed: dict[int, float]) -> float:
    return sum(by_seed.values()) / len(by_seed)


def section(per_all: dict, per_minority: dict, classifier: str) -> list[str]:
    """One classifier's lines: the table of both variants and the target."""
    rows = []
    for name in AUGMENTING:
        d = paired_difference(per_all[name], per_minority[name])
        rows.append((name, _counts(per_minority[name]), f"{_mean(per_minority[name]):.1f}", _counts(per_all[name]),
                     f"{_mean(per_all[name]):.1f}", f"{d.mean:+.1f} [{d.ci_low:+.1f}, {d.ci_high:+.1f}]",
                     f"{d.wins} of {d.n_seeds}"))
    for name in BESIDE:
        rows.append((name, "", "", _counts(per_all[name]), f"{_mean(per_all[name]):.1f}", "", ""))
    realistic = {n: _mean(v) for n, v in per_all.items() if n not in ("oracle", "oracle-augment")}
    best = min(realistic, key=realistic.get)
    ratio = realistic[best] / _mean(per_all["oracle"])
    target = TARGETS.get(classifier)
    lines = [f"### {classifier.upper()}", "",
             *markdown_table(("approach", "minority only (seeds 0..4)", "mean", "every class (default)", "mean",
                              "all − minority [95 % paired]", "all better in"), rows, "lllllll"), "",
             f"- best realistic recipe: **{best}** {realistic[best]:.1f} misclassified, {ratio:.2f}× the oracle's "
             f"{_mean(per_all['oracle']):.1f} and {realistic[best] / _mean(per_all['oracle-augment']):.2f}× the "
             f"oracle-augment's {_mean(per_all['oracle-augment']):.1f}"
             + (f"; target ≤ {target:.1f}×: **{'MET' if ratio <= target else 'MISSED'}**" if target else "")]
    return lines


def main(argv=None) -> int:
    from vaeimb.running.executor import make_backend
    from vaeimb.studies.experiment import run_experiment

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classifiers", nargs="+", default=["mlp", "cnn"], choices=("mlp", "cnn"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--workers", type=int, default=2, help="local worker processes (0: in this process)")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"), help="markdown file ('-': print only)")
    a = p.parse_args(argv)
    check_writable(a.out) if a.out != "-" else None
    env = environment(current_identity())
    cache = ResultCache(a.cache_dir)
    executor = make_backend(a.workers or None, None, in_process=a.workers == 0)
    t = time.perf_counter()
    lines = []
    for clf in a.classifiers:
        base = ExperimentConfig(classifier=clf)
        minority = from_settings({**base.to_dict(), "approach_params": {
            n: {"aug.classes": "minority"} for n in AUGMENTING}}).validate()
        per = {}
        for cfg, approaches in ((base, AUGMENTING + BESIDE), (minority, AUGMENTING)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res = run_experiment(cfg, list(approaches), a.seeds, cache=cache, data_dir=a.data_dir,
                                     executor=executor)
            per[cfg is base] = res.per_seed("misclassified")
        lines += section(per[True], per[False], clf) + [""]
    secs = time.perf_counter() - t
    text = "\n".join([
        "## Augmenting every class against the minority alone (issue #22), digit pair", "",
        f"Measured {utc_now()} by `python bench/augment_classes.py` on {env['cpu']} ({env.get('cpu_family', '?')}), "
        f"{env['threads']} torch thread(s) per job, device {env['device']}, torch {env['torch']}, vaeimb code "
        f"{env['code']}; {secs / 60:.1f} min with its cache. {ExperimentConfig().label()} (the reference setup), "
        f"seeds {', '.join(map(str, a.seeds))} paired. Misclassified test images of 1938.", "", *lines,
    ]).rstrip() + "\n"
    publish(a.out, "augment-classes", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
