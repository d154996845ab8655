"""The Atlas page's view: which (A, B, ratio, metric) it shows, and the sidebar settings
that open one atlas cell on the Experiment page. Pure functions (no Streamlit), so links
and tests use them without a running app."""

from __future__ import annotations

import math
from typing import Iterable

from vaeimb.declarations import schema
from vaeimb.declarations.config import RATIO_CHOICES_PCT, n_minority_from_ratio
from vaeimb.declarations.errors import ConfigError
from vaeimb.declarations.labels import ratio_label
from vaeimb.running.recipes import PRESETS
from vaeimb.studies.atlas import ALL_PAIRS, GAP_CLOSED, Atlas

#: The metrics the Atlas page offers (the gap closed where the atlas holds its two ends).
ATLAS_METRICS = ("misclassified", "balanced_accuracy", GAP_CLOSED)
#: The view the page opens on when the atlas holds it: the question the project asks.
DEFAULT_VIEW = ("vae", "oversample", 0.02, "misclassified")
#: The two questions the page answers: any A against any B, or a generator against its
#: generator-free twin.
QUESTIONS = {"remedy": "Which remedy wins? (any A against any B)",
             "generator": "Does the generator itself help? (a generator against its generator-free twin)"}
#: The corrections a page offers (``vaeimb.statistics.stats``); Holm by default.
CORRECTION_LABELS = {"holm": "Holm (family-wise)", "bh": "Benjamini-Hochberg (false discoveries)",
                     "none": "none (each cell at 95 %)"}


def metrics_of(atlas: Atlas) -> list[str]:
    """The page's metrics this atlas can show."""
    return [m for m in ATLAS_METRICS if m in atlas.metrics()]


def generator_view(atlas: Atlas, generator: str | None) -> tuple[str, str] | None:
    """(generator preset, its twin) the "does the generator help?" question shows: the one
    asked for when the atlas holds it with its twin, else the first such preset; None when
    the atlas holds no generator beside its twin."""
    twins = atlas.twins
    if not twins:
        return None
    name = generator if generator in twins else next(iter(twins))
    return name, twins[name]


def resolve_view(atlas: Atlas, a=None, b=None, ratio=None, metric=None) -> tuple[tuple[str, str, float, str], list[str]]:
    """The page's (A, B, ratio, metric) checked against this atlas. None means "not chosen"
    and takes the default quietly; a value the atlas lacks (a stale or edited link) takes
    the default (the nearest ratio) with a warning."""
    if not atlas.rows:
        raise ConfigError("The atlas has no rows.")
    names, ratios = atlas.approaches, atlas.ratios
    d_a, d_b, d_ratio, d_metric = DEFAULT_VIEW
    if not (d_a in names and d_b in names):
        d_a, d_b = names[-1], names[0]
    warnings = []
    chosen = []
    for label, value, default in (("A", a, d_a), ("B", b, d_b)):
        if value is not None and value not in names:
            warnings.append(f"The atlas has no approach {value!r} (it holds {', '.join(names)}); showing {default} as {label}.")
            value = None
        chosen.append(default if value is None else value)
    try:
        wanted = d_ratio if ratio is None else float(ratio)
    except (TypeError, ValueError):
        wanted = float("nan")
    near = min(ratios, key=lambda r: abs(r - wanted) if wanted == wanted else 0)
    if ratio is not None and not math.isclose(near, wanted):
        warnings.append(f"The atlas has no ratio {ratio!r} (it holds {', '.join(map(ratio_label, ratios))}); "
                        f"showing {ratio_label(near)}.")
    if metric is not None and metric not in metrics_of(atlas):
        warnings.append(f"The atlas cannot show metric {metric!r} (it can: {', '.join(metrics_of(atlas))}); "
                        f"showing {d_metric}.")
        metric = None
    return (chosen[0], chosen[1], near, metric or d_metric), warnings



def cell_state(atlas: Atlas, majority: int, minority: int, ratio: float, approaches: Iterable[str]) -> dict:
    """App settings (state key -> value) that open this atlas cell on the Experiment page,
    with the atlas's own budget (``vaeimb_app.links.to_query`` turns them into a URL): every
    setting of the schema, from the atlas's budget (the protocol's default where it lacks one).

    Presets go to the approach list and recipes to the recipe box; the ratio is given as a
    ratio where the sidebar's slider offers it, else as the minority count it stands for,
    so the page reruns (or loads from the cache) exactly the atlas's runs."""
    budget = schema.current_names(atlas.meta.get("budget", {}))
    cell = {"majority": majority, "minority": minority}
    base = schema.defaults(budget.get("protocol", schema.get("protocol").default))
    state = {s.state_key: s.check(cell.get(s.name, budget.get(s.name, base[s.name])), "the atlas's budget")
             for s in schema.SETTINGS if s.name != "n_minority"}
    n_majority = state[schema.get("n_majority").state_key]
    names = list(dict.fromkeys(approaches))
    params = budget.get("approach_params") or {}
    state.update({
        "cfg_approaches": [n for n in PRESETS if n in names],  # the sidebar's order
        "cfg_recipes": "\n".join(n for n in names if n not in PRESETS),
        "cfg_params": "\n".join(f"{spec}.{k}={v}" for spec, kv in params.items() if spec in names
                                 for k, v in kv.items()),
        "cfg_n_seeds": max(1, len(atlas.seeds)),
    })
    pct = round(100 * ratio, 6)
    if pct in RATIO_CHOICES_PCT:
        state.update(cfg_minority_mode="ratio", cfg_ratio_pct=pct)
    else:
        state.update(cfg_minority_mode="count", cfg_n_minority=n_minority_from_ratio(n_majority, ratio))
    return state


def class_pairs(n_classes: int) -> list[tuple[int, int]]:
    """The (majority, minority) pairs of a dataset's classes (an own file may have fewer than ten)."""
    return [p for p in ALL_PAIRS if max(p) < n_classes]


def class_pair(ds, pair: tuple[int, int]) -> str:
    """A pair in the dataset's names: MNIST's "0 vs 6", Fashion-MNIST's "0 (T-shirt/top) vs 6 (Shirt)"."""
    return f"{ds.class_label(pair[0])} vs {ds.class_label(pair[1])}"


def start_note(ds, theirs, n_seeds: int, folder, data_sentence: str) -> str:
    """What the Atlas page says when the shipped atlas is another dataset's (``theirs``) and
    nothing of ``ds`` is computed yet: what it may compute, where the cells go, where the data
    comes from."""
    return (f"The shipped atlas is {theirs.title}'s: its cells are {theirs.title} {theirs.noun} pairs, and nothing "
            f"is shipped for {ds.title} yet. Compute {ds.title}'s {ds.noun} pairs here: each pair runs approaches "
            f"A and B at the shipped atlas's budget and its {n_seeds} seeds; the cells are saved in {folder} and "
            f"this page then maps them. {data_sentence}")
