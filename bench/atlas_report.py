"""What an atlas says, and what it cost: BENCHMARKS.md's "atlas" section.

Reads an atlas written by ``python -m vaeimb atlas`` (default: the shipped one) and writes
its wall time and jobs per minute with the executor that made it, then, for the questions
the Atlas page asks (each generator against its twin; every approach against oversample),
how many pairs each side wins with no correction, after Holm's and after
Benjamini-Hochberg's, on errors and on the gap closed.

    python bench/atlas_report.py [--atlas DIR] [--output BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import markdown_table, publish  # noqa: E402
from vaeimb.declarations.provenance import utc_now  # noqa: E402
from vaeimb.running.recipes import build_approach  # noqa: E402
from vaeimb.statistics.stats import GAP_FROM  # noqa: E402
from vaeimb.studies.atlas import (  # noqa: E402
    GAP_CLOSED,
    SHIPPED_DIR,
    gain_grid,
    load_atlas,
    provenance,
)


def tasks_of(atlas) -> int:
    """Generator fits plus classifier trainings the atlas needed (approaches differing only
    in their decision share one training: ``threshold`` shares ``baseline``'s)."""
    approaches = [build_approach(n, atlas.meta.get("budget", {}).get("protocol", "clean")) for n in atlas.approaches]
    trainings = len({repr(a.key(training=True)) for a in approaches})
    generators = len({a.recipe.gen for a in approaches if a.recipe.gen})
    return len(atlas.pairs) * len(atlas.ratios) * len(atlas.seeds) * (trainings + generators)


def comparisons(atlas) -> list[tuple[str, str]]:
    out = list(atlas.twins.items())
    out += [(a, GAP_FROM) for a in atlas.approaches if a != GAP_FROM and (a, GAP_FROM) not in out]
    return out


def report(atlas) -> str:
    meta = atlas.meta
    n_tasks = tasks_of(atlas)
    minutes = float(meta.get("seconds", 0)) / 60
    env = meta.get("environment", {})
    lines = ["## Atlas at the reference budget", "",
             f"Written {utc_now()} by `python bench/atlas_report.py` from the shipped atlas (`{meta.get('command', '?')}`).",
             " ".join(provenance(atlas)), "",
             f"Wall time {minutes:.1f} min for {n_tasks} jobs ({len(atlas.pairs)} pairs × {len(atlas.seeds)} seeds × "
             f"the approaches' trainings and generator fits): **{n_tasks / minutes:.1f} jobs per minute** on "
             f"{meta.get('executor', '?')} ({env.get('cpu', '?')}, {env.get('pid_cores', '?')} cores)." if minutes else
             "Wall time not recorded.", ""]
    rows = []
    for ratio in atlas.ratios:
        for a, b in comparisons(atlas):
            for metric in ("misclassified", GAP_CLOSED):
                if metric not in atlas.metrics() or (metric == GAP_CLOSED and b == GAP_FROM and a == "oracle"):
                    continue
                counts = {c: gain_grid(atlas, a, b, ratio, metric, c).counts() for c in ("none", "holm", "bh")}
                rows.append((f"{a} vs {b}" + (" (twin)" if atlas.twins.get(a) == b else ""), f"{100 * ratio:g}%",
                             "errors" if metric == "misclassified" else "gap closed",
                             *(f"{counts[c]['a_better']} / {counts[c]['b_better']}" for c in ("none", "holm", "bh")),
                             counts["none"]["cells"]))
    lines += markdown_table(("A vs B", "ratio", "metric", "A better / B better: uncorrected", "Holm", "Benjamini-Hochberg",
                             "pairs"), rows, "lllrrrr")
    lines += ["", "Uncorrected, chance alone separates about 5 % of the pairs (4.5 of 90) where nothing differs; "
              "Holm keeps the chance of any false separation at 5 %, Benjamini-Hochberg the share of false ones."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atlas", default=str(SHIPPED_DIR))
    p.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"), help="markdown file ('-': print only)")
    a = p.parse_args(argv)
    publish(a.output, "atlas", report(load_atlas(a.atlas)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
