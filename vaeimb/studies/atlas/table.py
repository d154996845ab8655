"""The digit-pair atlas as a table: one experiment per (majority digit, minority digit,
ratio), kept compactly (one row per pair, ratio, approach and seed) and saved as CSV + JSON.

``merge_atlases`` joins the shipped atlas with the cells a user ran from the page;
``missing_pairs``, ``base_config`` and ``cell_command`` say what is left to run and how.
``grid`` turns a table into the Atlas page's heatmap; ``runs`` runs one.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ...declarations import schema
from ...declarations.config import ExperimentConfig, n_minority_from_ratio
from ...declarations.errors import ConfigError, VaeimbError
from ...declarations.locations import ATLAS_DIR
from ...declarations.task_kinds import TASK_KINDS
from ...statistics.stats import GAP_CLOSED, GAP_FROM, GAP_TO
from ...statistics.verdict import gap_closed

FORMAT = 1
TABLE_FILE = "atlas.csv"
META_FILE = "atlas.json"
#: The atlas shipped with the package (made by ``python -m vaeimb atlas``; see the README).
SHIPPED_DIR = ATLAS_DIR
#: Metrics kept per row (the table stays small enough to ship).
ROW_METRICS = ("misclassified", "balanced_accuracy", "minority_recall", "minority_f1", "g_mean", "roc_auc")
COLUMNS = ("majority", "minority", "ratio", "n_majority", "n_minority", "approach", "seed", "n_test",
           *ROW_METRICS, "threshold_logit")
ALL_PAIRS = tuple((a, b) for a in range(10) for b in range(10) if a != b)
#: A derived metric: how much of the gap between oversampling and the oracle an approach
#: closes (``stats.gap_closed``): comparable across pairs, unlike a count of errors.
GAP_ENDS_ORDER = (GAP_FROM, GAP_TO)
GAP_ENDS = set(GAP_ENDS_ORDER)
METRIC_LABELS = {"misclassified": "errors", "balanced_accuracy": "balanced accuracy", GAP_CLOSED: "gap closed"}


def parse_pairs(items: Iterable[str]) -> list[tuple[int, int]]:
    """``["all"]`` -> the 90 ordered pairs; ``["0:6", "3:8"]`` -> [(0, 6), (3, 8)]
    (MAJORITY:MINORITY; commas also separate). Bad input raises one ConfigError."""
    texts = [t.strip() for item in items for t in str(item).split(",") if t.strip()]
    if not texts:
        raise ConfigError("--pairs: give 'all' or pairs such as 0:6 3:8 (majority:minority).")
    if any(t.lower() == "all" for t in texts):
        if len(texts) > 1:
            raise ConfigError("--pairs: 'all' already holds every pair; give it alone.")
        return list(ALL_PAIRS)
    out: list[tuple[int, int]] = []
    for t in texts:
        a, sep, b = t.partition(":")
        if not sep or not a.strip().isdigit() or not b.strip().isdigit():
            raise ConfigError(f"--pairs: {t!r} is not MAJORITY:MINORITY (two digits, e.g. 0:6).")
        pair = (int(a), int(b))
        if not all(0 <= d <= 9 for d in pair):
            raise ConfigError(f"--pairs: {t!r} names a digit outside 0-9.")
        if pair[0] == pair[1]:
            raise ConfigError(f"--pairs: {t!r} uses digit {pair[0]} twice; a pair needs two different digits.")
        if pair not in out:
            out.append(pair)
    return out


@dataclass
class Atlas:
    """The table (one dict per pair, ratio, approach and seed) and its provenance."""

    rows: list[dict]
    meta: dict = field(default_factory=dict)

    @property
    def approaches(self) -> list[str]:
        return list(dict.fromkeys(r["approach"] for r in self.rows))

    @property
    def ratios(self) -> list[float]:
        return sorted({float(r["ratio"]) for r in self.rows})

    @property
    def pairs(self) -> list[tuple[int, int]]:
        return sorted({(int(r["majority"]), int(r["minority"])) for r in self.rows})

    @property
    def seeds(self) -> list[int]:
        return sorted({int(r["seed"]) for r in self.rows})

    @property
    def twins(self) -> dict[str, str]:
        """Each generator preset of the atlas -> its generator-free twin (when both ran)."""
        return {p: t for p, t in self.meta.get("twins", {}).items() if p in self.approaches and t in self.approaches}

    def metrics(self) -> tuple[str, ...]:
        """What a view can compare: the stored metrics, and the gap closed where the atlas
        holds the two approaches that define it."""
        have = set(self.approaches)
        return ROW_METRICS + ((GAP_CLOSED,) if GAP_ENDS <= have else ())

    def per_seed(self, approach: str, ratio: float, metric: str) -> dict[tuple[int, int], dict[int, float]]:
        """(majority, minority) -> {seed: value} of one approach at one ratio (``gap_closed``:
        each seed's share over the gap of the seed means, ``verdict.GapClosed.per_seed``; no
        seeds for a pair whose oversample and oracle are not separated)."""
        if metric == GAP_CLOSED:
            if not GAP_ENDS <= set(self.approaches):
                raise ConfigError(f"The gap closed needs {' and '.join(sorted(GAP_ENDS))} in the atlas.")
            errors, over, oracle = (self.per_seed(n, ratio, "misclassified") for n in (approach, *GAP_ENDS_ORDER))
            gaps = {pair: gap_closed(by_seed, over.get(pair, {}), oracle.get(pair, {}), interval=False)
                    for pair, by_seed in errors.items()}
            return {pair: g.per_seed for pair, g in gaps.items()}
        out: dict[tuple[int, int], dict[int, float]] = {}
        for r in self.rows:
            if r["approach"] == approach and math.isclose(float(r["ratio"]), ratio):
                out.setdefault((int(r["majority"]), int(r["minority"])), {})[int(r["seed"])] = float(r[metric])
        return out

    # ---- files ------------------------------------------------------------------------
    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
        w.writeheader()
        for r in sorted(self.rows, key=lambda r: (r["majority"], r["minority"], r["ratio"], r["approach"], r["seed"])):
            w.writerow({k: _fmt(r[k]) for k in COLUMNS})
        return buf.getvalue()

    def write(self, folder) -> Path:
        """``atlas.csv`` and ``atlas.json`` into ``folder`` (created), each written whole
        or not at all."""
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for name, text in ((TABLE_FILE, self.to_csv()), (META_FILE, json.dumps(self.meta, indent=1, sort_keys=True))):
                tmp = folder / f".{name}.tmp"
                tmp.write_text(text)
                tmp.replace(folder / name)
        except OSError as err:
            raise VaeimbError(f"cannot write the atlas to {folder}: {err.strerror or err}") from None
        return folder


def _fmt(v):
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return v


def load_atlas(folder=SHIPPED_DIR) -> Atlas:
    """An atlas written by ``Atlas.write``; a missing or malformed one raises VaeimbError."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / META_FILE).read_text())
        text = (folder / TABLE_FILE).read_text()
    except FileNotFoundError as err:
        raise VaeimbError(f"no atlas in {folder}: {Path(err.filename).name} is missing "
                          "(make one with: python -m vaeimb atlas --out DIR)") from None
    except (OSError, json.JSONDecodeError) as err:
        raise VaeimbError(f"the atlas in {folder} is unreadable ({err})") from None
    rows = []
    try:
        for r in csv.DictReader(io.StringIO(text)):
            row = {k: r[k] for k in COLUMNS}
            for k in ("majority", "minority", "n_majority", "n_minority", "seed", "n_test"):
                row[k] = int(row[k])
            for k in ("ratio", *ROW_METRICS, "threshold_logit"):
                row[k] = float(row[k]) if row[k] != "" else float("nan")
            rows.append(row)
    except (KeyError, ValueError, TypeError) as err:
        raise VaeimbError(f"the atlas table {folder / TABLE_FILE} is malformed ({type(err).__name__}: {err})") from None
    if meta.get("format") != FORMAT:
        raise VaeimbError(f"the atlas in {folder} has format {meta.get('format')!r}; this vaeimb reads {FORMAT}")
    if isinstance(meta.get("budget"), dict):
        meta["budget"] = schema.current_names(meta["budget"])  # an atlas saved with old setting names (vae_steps)
    return Atlas(rows, meta)


# --------------------------------------------------------------------------------------
# Merging and provenance
# --------------------------------------------------------------------------------------
def _row_key(r: dict) -> tuple:
    return (int(r["majority"]), int(r["minority"]), round(float(r["ratio"]), 6), r["approach"], int(r["seed"]),
            int(r["n_majority"]))


def _full_budget(atlas: Atlas) -> dict:
    """An atlas's budget with the settings it predates at their defaults (an atlas made
    before a setting existed ran with that setting's default)."""
    return {**schema.defaults(), **schema.current_names(atlas.meta.get("budget", {}))}


def merge_atlases(*atlases: Atlas) -> Atlas:
    """One atlas from several (the shipped one, then the user's own cells): a row of a later
    atlas replaces the same (pair, ratio, approach, seed, majority count) of an earlier one.
    The budgets must agree: a cell mixing budgets would compare unlike runs."""
    if not atlases:
        raise ConfigError("Nothing to merge: give at least one atlas.")
    budget, first = atlases[0].meta.get("budget", {}), _full_budget(atlases[0])
    for other in atlases[1:]:
        theirs = _full_budget(other)
        differ = sorted(k for k in {*first, *theirs} if first.get(k) != theirs.get(k))
        if differ:
            raise ConfigError("These atlases ran different budgets (" + ", ".join(
                f"{k}: {first.get(k)!r} vs {theirs.get(k)!r}" for k in differ) + "); merged, a cell would mix unlike runs.")
    rows: dict[tuple, dict] = {}
    for a in atlases:
        for r in a.rows:
            rows[_row_key(r)] = r
    merged = Atlas(list(rows.values()))
    sources = [s for a in atlases for s in a.meta.get("sources", [a.meta])]
    merged.meta = {
        "format": FORMAT, "budget": budget, "created": max(str(s.get("created", "")) for s in sources),
        "pairs": [list(p) for p in merged.pairs], "ratios": merged.ratios, "approaches": merged.approaches,
        "seeds": merged.seeds, "sources": sources,
    }
    return merged


def provenance(atlas: Atlas) -> list[str]:
    """Where the atlas's numbers come from, for the page's caption: the budget, then one line
    per run that made its rows (date, machine, executor, vaeimb code)."""
    b = atlas.meta.get("budget", {})
    ref = ExperimentConfig()
    get = lambda k: b.get(k, getattr(ref, k))
    lines = [f"Budget: {get('classifier').upper()} classifier, {get('steps')} steps (batch {get('batch_size')}), "
             f"generators {get('generator_steps')} steps (batch {get('generator_batch_size')}), {get('n_majority')} majority images, "
             f"{get('protocol')} protocol; seeds {', '.join(map(str, atlas.seeds))}."]
    for s in atlas.meta.get("sources", [atlas.meta]):
        env = s.get("environment", {})
        detail = "; ".join(x for x in (env.get("cpu"), env.get("device")) if x)
        where = f"{env.get('machine', 'an unknown machine')}" + (f" ({detail})" if detail else "")
        code = f"vaeimb {env.get('vaeimb', '?')} (code {env.get('code', '?')})"
        n_pairs, n_ratios = len(s.get("pairs", [])), len(s.get("ratios", []))
        lines.append(f"Made {s.get('created', 'at an unknown date')}: {n_pairs} pair(s) x {n_ratios} ratio(s) on "
                     f"{where}, {s.get('executor', 'unknown executor')}, {code}.")
    return lines


def missing_pairs(atlas: Atlas, ratio: float, approaches: Iterable[str], seeds: Iterable[int] | None = None) -> list[tuple[int, int]]:
    """The ordered pairs lacking any (approach, seed) at ``ratio``: what extending would run."""
    seeds = set(atlas.seeds if seeds is None else seeds)
    have = {name: atlas.per_seed(name, ratio, "misclassified") for name in dict.fromkeys(approaches)}
    return [p for p in ALL_PAIRS if any(not seeds <= set(h.get(p, {})) for h in have.values())]


def base_config(atlas: Atlas) -> ExperimentConfig:
    """The config every cell of this atlas ran (digits and minority count aside): extending
    an atlas must use its budget, or the new cells would not compare with the old."""
    budget = atlas.meta.get("budget")
    if not isinstance(budget, dict) or not budget:
        raise ConfigError("The atlas does not say which budget it ran (atlas.json has no 'budget'), "
                          "so it cannot be extended; make a new one with python -m vaeimb atlas.")
    return ExperimentConfig.from_dict({k: v for k, v in budget.items() if k not in ("majority", "minority", "n_minority")})


#: Settings a cell's command does not repeat: the pair's own, and the task's (an atlas holds pairs).
PAIR_SETTINGS = ("majority", "minority", "n_majority", "n_minority", "task", *TASK_KINDS["longtail"].settings)


def cell_command(atlas: Atlas, majority: int, minority: int, ratio: float, approaches: Iterable[str]) -> str:
    """The ``run`` command that recomputes one cell of the atlas: its pair, minority count,
    approaches, seeds and every budget setting, with the torch thread count it was made
    with. On a machine of the CPU family in the atlas's provenance it gives the atlas's
    counts exactly (tested); on another family any count may move as another seed would,
    generator-free approaches' included (training is not bit-reproducible across CPU
    families: an oracle cell made 15 on an Intel Xeon gave 13 on an AMD EPYC)."""
    budget = {**schema.defaults(atlas.meta.get("budget", {}).get("protocol")), **atlas.meta.get("budget", {})}
    n_majority = int(budget["n_majority"])
    args = ["--majority", majority, "--minority", minority, "--n-majority", n_majority,
            "--n-minority", n_minority_from_ratio(n_majority, ratio)]
    for s in schema.SETTINGS:
        if s.name not in PAIR_SETTINGS and s.name in budget:
            args += [s.cli_flags[0], budget[s.name]]
    names = list(dict.fromkeys(approaches))
    args += ["--approaches", *names, "--seeds", *atlas.seeds]
    for spec, values in (budget.get("approach_params") or {}).items():
        if spec in names:
            args += [a for k, v in values.items() for a in ("--param", f"{spec}.{k}={v}")]
    threads = next((s.get("environment", {}).get("threads") for s in atlas.meta.get("sources", [atlas.meta])), None)
    prefix = f"VAEIMB_THREADS={threads} " if threads else ""
    return prefix + "python -m vaeimb run " + " ".join(f"{a:g}" if isinstance(a, float) else str(a) for a in args)
