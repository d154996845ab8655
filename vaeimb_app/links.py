"""Links that reproduce a view: the app's settings to and from URL query parameters.

Pure functions (no Streamlit): ``to_query`` writes the values that differ from the
defaults, ``from_query`` reads a link back into settings and, for anything malformed or out
of range, keeps the nearest valid value and says so — a shared link never ends in a
traceback. The app calls both on every page (``vaeimb_app.settings``).

The experiment settings' fields come from ``vaeimb.declarations.schema`` (URL key, old keys still read,
range or choices, default); the sidebar's own choices and each page's are declared here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from vaeimb.declarations import own, schema
from vaeimb.declarations.config import (
    DEFAULT_SWEEP_RATIOS,
    RATIO_CHOICES_PCT,
)
from vaeimb.declarations.datasets import DATASETS, DEFAULT_DATASET, Dataset, dataset
from vaeimb.declarations.errors import ConfigError
from vaeimb.declarations.protocols import PROTOCOLS
from vaeimb.running.recipes import CLASSIC, COMPARISON, PRESETS
from vaeimb.statistics.stats import CORRECTIONS, DEFAULT_CORRECTION, GAP_CLOSED

from .atlas_view import ATLAS_METRICS, DEFAULT_VIEW, QUESTIONS

#: The ratios the Sweep page offers: the slider's and the default sweep's.
SWEEP_RATIO_OPTIONS = tuple(sorted({*(p / 100 for p in RATIO_CHOICES_PCT), *DEFAULT_SWEEP_RATIOS}))


@dataclass(frozen=True)
class Field:
    """One setting in a link: its URL key, the app's state key, kind and allowed values."""

    url: str
    state: str
    kind: str  # "int", "float", "choice", "choices" (a comma list), "text"
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    #: Old URL keys still read (links shared before a rename).
    aliases: tuple = ()
    #: The experiment setting (``vaeimb.declarations.schema``) it is, or gives another way (the sidebar's
    #: minority ratio gives n_minority): a link carries it only where that setting applies.
    setting: str = ""
    #: A choice's values besides its choices (the dataset's ``file:<hash>``: ``Setting.also``).
    also: Callable[[Any], bool] | None = None

    def encode(self, value: Any) -> str:
        if self.kind == "choices":
            return ",".join(_text(v) for v in value)
        return _text(value)

    def decode(self, text: str) -> tuple[Any, str | None]:
        """(value, warning or None): a bad value becomes the nearest valid one."""
        bad = lambda why, v: (v, f"link setting {self.url}={text!r} {why}; using {self.encode(v)!s}.")
        if self.kind in ("int", "float"):
            try:
                v = int(text) if self.kind == "int" else float(text)
            except ValueError:
                return bad("is not a number", self.default)
            if v != v:
                return bad("is not a number", self.default)
            clipped = min(max(v, self.low), self.high)
            return (clipped, None) if clipped == v else bad(f"is outside [{self.low:g}, {self.high:g}]", clipped)
        if self.kind == "choice":
            match = _match(self.choices, text)
            if match is None and self.also is not None and self.also(text):
                return text, None
            if match is None:
                return bad(f"is not one of {', '.join(map(_text, self.choices))}", _nearest(self.choices, text, self.default))
            return match, None
        if self.kind == "choices":
            items = [t for t in (s.strip() for s in text.split(",")) if t]
            matched = [_match(self.choices, t) for t in items]
            known = [c for c in self.choices if c in matched]
            unknown = [t for t, m in zip(items, matched) if m is None]
            value = known or list(self.default)
            return (value, None) if not unknown and known else bad(
                f"has unknown item(s) {', '.join(unknown) or '(none given)'}", value)
        return text[:2000], None


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _match(choices: tuple, text: str):
    """The choice written as ``text`` (numbers compared as numbers), or None."""
    for c in choices:
        if isinstance(c, float):
            try:
                if float(text) == c:
                    return c
            except ValueError:
                continue
        elif str(c) == text:
            return c
    return None


def _nearest(choices: tuple, text: str, default: Any) -> Any:
    """For numeric choices, the one nearest a number; else the default."""
    try:
        x = float(text)
    except ValueError:
        return default
    numeric = [c for c in choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
    return min(numeric, key=lambda c: abs(c - x)) if numeric and x == x else default


def _f(url, state, kind, default, low=None, high=None, choices=(), setting=""):
    return Field(url, state, kind, default, low, high, tuple(choices), setting=setting)


def _setting_field(s: schema.Setting) -> Field:
    url, *aliases = s.url_keys
    return Field(url, s.state_key, s.kind, s.default, s.low, s.high, tuple(s.choices), tuple(aliases), s.name,
                 s.also)


#: The sidebar gives the pair's minority as a count or as a ratio (``minority_as``): the
#: state key each way uses, and the one it leaves unused.
MINORITY_AS = {"count": "cfg_n_minority", "ratio": "cfg_ratio_pct"}

#: The sidebar's own choices beside the experiment settings, then each page's.
PAGE_FIELDS: tuple[Field, ...] = (
    _f("minority_as", "cfg_minority_mode", "choice", "count", choices=("count", "ratio"), setting="n_minority"),
    _f("ratio_pct", "cfg_ratio_pct", "choice", 2.0, choices=RATIO_CHOICES_PCT, setting="n_minority"),
    _f("approaches", "cfg_approaches", "choices", list(CLASSIC), choices=PRESETS),
    _f("recipes", "cfg_recipes", "text", ""),
    _f("params", "cfg_params", "text", ""),
    _f("seeds", "cfg_n_seeds", "int", 3, 1, 10),
    _f("generator", "latent_generator", "choice", "vae", choices=("vae", "cvae", "latent-smote", "deepsmote")),
    _f("seed", "latent_seed", "int", 0, 0, 9),
    _f("projection", "latent_map_method", "choice", "pca", choices=("pca", "tsne")),
    _f("sweep_ratios", "sweep_ratios", "choices", list(DEFAULT_SWEEP_RATIOS), choices=SWEEP_RATIO_OPTIONS),
    _f("sweep_approaches", "sweep_approaches", "choices", list(COMPARISON), choices=PRESETS),
    _f("sweep_metric", "sweep_metric", "choice", "misclassified", choices=("misclassified", "balanced_error", GAP_CLOSED)),
    # the Atlas page checks approaches and ratio against the atlas it shows
    _f("atlas_a", "atlas_a", "text", DEFAULT_VIEW[0]),
    _f("atlas_b", "atlas_b", "text", DEFAULT_VIEW[1]),
    _f("atlas_ratio", "atlas_ratio", "float", DEFAULT_VIEW[2], 0.0001, 1.0),
    _f("atlas_metric", "atlas_metric", "choice", DEFAULT_VIEW[3], choices=ATLAS_METRICS),
    _f("atlas_question", "atlas_question", "choice", "remedy", choices=tuple(QUESTIONS)),
    _f("atlas_correction", "atlas_correction", "choice", DEFAULT_CORRECTION, choices=tuple(CORRECTIONS)),
)


def fields() -> tuple[Field, ...]:
    """Every setting a link carries: the experiment settings (read from the schema now, so
    a setting added there is linked), then the sidebar's and the pages' own."""
    return (*(_setting_field(s) for s in schema.SETTINGS), *PAGE_FIELDS)


def _by_url() -> dict[str, Field]:
    return {key: f for f in fields() for key in (f.url, *f.aliases)}


def _settings_of(state: Mapping[str, Any]) -> dict[str, Any]:
    """The experiment settings (name -> value) among state keys."""
    return {s.name: state[s.state_key] for s in schema.SETTINGS if s.state_key in state}


def _unused(state: Mapping[str, Any]) -> set[str]:
    """The state keys the sidebar does not use under ``state``'s task, profile and way of
    giving the minority (the sidebar hides their widgets)."""
    settings = _settings_of(state)
    out = {f.state for f in fields() if f.setting and not schema.applies(f.setting, settings)}
    mode = state.get("cfg_minority_mode", "count")
    return out | {key for way, key in MINORITY_AS.items() if way != mode}


def to_query(state: Mapping[str, Any]) -> dict[str, str]:
    """The URL parameters of the settings in ``state`` that differ from the defaults and
    that the chosen task, profile and minority way use (a hidden widget's value stays out)."""
    out = {}
    unused = _unused(state)
    for f in fields():
        if f.state in state and f.state not in unused and state[f.state] != f.default:
            value = state[f.state]
            if f.kind == "choices":
                value = [c for c in f.choices if c in value]  # a canonical order
            out[f.url] = f.encode(value)
    return out


def from_query(query: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Settings (state key -> value) from URL parameters, and one warning per value that
    was malformed, out of range, unknown or inconsistent (the nearest valid one is used)."""
    values, warnings = {}, []
    by_url = _by_url()
    for key, raw in query.items():
        text = raw[-1] if isinstance(raw, (list, tuple)) else str(raw)
        f = by_url.get(key)
        if f is None:
            warnings.append(f"link setting {key!r} is not known here; ignored.")
            continue
        value, warning = f.decode(text)
        values[f.state] = value
        if warning:
            warnings.append(warning)
    warnings += _own_file_here(values)
    warnings += _drop_unused(values)
    warnings += _make_consistent(values)
    return values, warnings


def _drop_unused(values: dict[str, Any]) -> list[str]:
    """The link's settings that its task, profile or protocol would not use are left out,
    each with a warning; where one choice would do, a setting implies it (``counts``: the
    counts profile) and says so. The rule is ``schema.applicability``'s, as in the CLI."""
    by_setting: dict[str, list[Field]] = {}
    for f in fields():
        if f.setting and f.state in values:
            by_setting.setdefault(f.setting, []).append(f)
    given = {name: values[fs[0].state] for name, fs in by_setting.items()}
    # named as the link gave it: the setting's own key, else the sidebar's other way (ratio_pct)
    named = {name: next((f for f in fs if f.state == schema.get(name).state_key), fs[-1]).url
             for name, fs in by_setting.items()}
    found = schema.applicability(given, "link", named)
    for name in found.refused:
        for f in by_setting[name]:
            values.pop(f.state, None)
    for name, value in found.implied.items():
        values[schema.get(name).state_key] = value
    out = [*found.refused.values(), *found.notes]
    protocol = values.get("cfg_protocol")
    task = schema.get("task").default
    if "cfg_task" not in values and protocol in PROTOCOLS and task not in PROTOCOLS[protocol].tasks:
        values["cfg_task"] = PROTOCOLS[protocol].tasks[0]  # a protocol implies its first task, as in the CLI
    # the minority as a count or as a ratio: a ratio alone implies the ratio way
    mode = values.get("cfg_minority_mode")
    if "cfg_ratio_pct" in values and mode != "ratio":
        if mode is None and "cfg_n_minority" not in values:
            values["cfg_minority_mode"] = "ratio"
            out.append("link setting ratio_pct implies minority_as=ratio; using it.")
        else:
            del values["cfg_ratio_pct"]
            has = "minority_as=count" if mode else "n_minority"
            out.append(f"link setting ratio_pct applies only to minority_as=ratio (the link has {has}); ignored.")
    if "cfg_n_minority" in values and values.get("cfg_minority_mode") == "ratio":
        del values["cfg_n_minority"]
        out.append("link setting n_minority applies only to minority_as=count (the link has minority_as=ratio); "
                   "ignored.")
    return out


def dataset_of(name: Any) -> Dataset:
    """The record of a dataset name (a declared one, or an own file stored on this server);
    MNIST's for anything else (a file gone from the store: the config says so)."""
    if isinstance(name, str) and name in DATASETS:
        return DATASETS[name]
    try:
        return dataset(name)
    except ConfigError:
        return DATASETS[DEFAULT_DATASET]


def _own_file_here(values: dict[str, Any]) -> list[str]:
    """A link to an own file (``dataset=file:<hash>``) opens on it where this server keeps
    the file; elsewhere (another server, a restart, a cleared cache) it says to upload it again."""
    name = values.get("cfg_dataset")
    content_hash = own.parse(name)
    if content_hash is None or own.stored(content_hash) is not None:
        return []
    values["cfg_dataset"] = DEFAULT_DATASET
    return [(f"link setting dataset={name!r} is an .npz file someone uploaded, and it is not on this server "
             "(an uploaded file stays only on the server it was uploaded to, until that server restarts): upload "
             f"the file again in the sidebar; using {DEFAULT_DATASET}.")]


def _digits(order: Any) -> list[int] | None:
    """The class numbers a long tail's order names (None: not an order at all; the config says why)."""
    chars = [c for c in str(order) if c not in ", "]
    return [int(c) for c in chars] if chars and all(c.isdigit() for c in chars) else None


def fit_to_dataset(values: Mapping[str, Any], ds: Dataset, counts: bool = True) -> tuple[dict[str, Any], list[str]]:
    """The settings in ``values`` (state keys; a missing one is its default) that name a
    class ``ds`` does not have, or (with ``counts``) more training images than it holds,
    moved to ones it has: a pair out of range becomes 0 and 1, a long tail's order naming
    other classes its first K, a majority count over what the train split holds that many
    (the minority count scaled alike, to keep the imbalance). Returns (state key -> new
    value, one sentence for each change the current task uses)."""
    ref = schema.defaults()

    def get(name: str) -> Any:
        return values.get(schema.get(name).state_key, ref[name])

    k = ds.n_classes
    pair = get("task") == "pair"
    out: dict[str, Any] = {}
    said: list[str] = []
    maj, mnr = get("majority"), get("minority")
    if not (0 <= maj < k and 0 <= mnr < k):
        maj, mnr = 0, 1
        out.update(cfg_majority=maj, cfg_minority=mnr)
        if pair:
            said.append(f"{ds.title} has {k} {ds.nouns}: the pair is now {ds.class_label(maj)} vs {ds.class_label(mnr)}.")
    digits = _digits(get("order"))
    if digits is not None and any(d >= k for d in digits):
        out["cfg_order"] = "".join(str(c) for c in range(k))
        if not pair:
            said.append(f"{ds.title} has {k} {ds.nouns}: the {ds.noun} order is now {out['cfg_order']} "
                        f"({', '.join(ds.class_names)}).")
    n_maj, n_min = get("n_majority"), get("n_minority")
    if not (counts and isinstance(n_maj, int) and isinstance(n_min, int)):
        return out, said
    counted = values.get("cfg_minority_mode", "count") == "count"
    if n_maj > ds.train_counts[maj]:
        old, n_maj = n_maj, ds.train_counts[maj]
        out["cfg_n_majority"] = n_maj
        if pair:
            said.append(f"Majority count lowered to {n_maj}: {ds.title} train holds {n_maj} images {ds.holds(maj)}.")
        kept = max(1, round(n_min * n_maj / old))  # the same imbalance
        if kept < n_min:
            out["cfg_n_minority"] = n_min = min(kept, ds.train_counts[mnr])
            if pair and counted:
                said.append(f"Minority count lowered to {n_min}, to keep the minority ratio.")
    if n_min > min(ds.train_counts[mnr], n_maj):
        out["cfg_n_minority"] = n_min = min(ds.train_counts[mnr], n_maj)
        if pair and counted:
            said.append(f"Minority count lowered to {n_min}: at most what {ds.title} train holds {ds.holds(mnr)} "
                        "and the majority count.")
    return out, said


def _make_consistent(values: dict[str, Any]) -> list[str]:
    """Cross-field rules a single value cannot break: classes the dataset has, two
    different ones, counts its train split holds, no more minority than majority images."""
    out = []
    ref = schema.defaults()
    ds = dataset_of(values.get("cfg_dataset", DEFAULT_DATASET))
    k = ds.n_classes
    maj = values.get("cfg_majority", ref["majority"])
    mnr = values.get("cfg_minority", ref["minority"])
    if not (0 <= maj < k and 0 <= mnr < k):
        values["cfg_majority"], values["cfg_minority"] = maj, mnr = 0, 1
        out.append(f"link's {ds.noun} pair is outside {ds.title}'s {k} {ds.nouns} (0-{k - 1}); using 0 and 1.")
    elif maj == mnr:
        mnr = next(d for d in (ref["minority"], *range(k)) if d != maj and d < k)
        values["cfg_minority"] = mnr
        out.append(f"link has the same {ds.noun} twice ({maj}); using minority {mnr}.")
    digits = _digits(values.get("cfg_order", ""))
    if "cfg_order" in values and digits is not None and any(d >= k for d in digits):
        values["cfg_order"] = "".join(str(c) for c in range(k))
        out.append(f"link setting order={''.join(map(str, digits))!r} names {ds.nouns} {ds.title} does not have "
                   f"(0-{k - 1}); using {values['cfg_order']}.")
    n_maj = asked = values.get("cfg_n_majority", ref["n_majority"])
    if n_maj > ds.train_counts[maj]:
        values["cfg_n_majority"] = n_maj = ds.train_counts[maj]
        out.append(f"link asks for more images {ds.holds(maj)} than {ds.title} train holds; using {n_maj}.")
        kept = max(1, round(ref["n_minority"] * n_maj / asked))
        if "cfg_n_minority" not in values and values.get("cfg_minority_mode") != "ratio" and kept < ref["n_minority"]:
            values["cfg_n_minority"] = kept  # the default minority count, at the same imbalance
            out.append(f"link gives no minority count: using {kept} ({ref['n_minority']} per {asked} majority "
                       f"images), to keep the minority ratio.")
    n_min = values.get("cfg_n_minority")
    if n_min is not None and n_min > min(ds.train_counts[mnr], n_maj):
        values["cfg_n_minority"] = min(ds.train_counts[mnr], n_maj)
        out.append(f"link's minority count {n_min} exceeds what this setup allows; using {values['cfg_n_minority']}.")
    return out


def as_linked(state: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``state`` as opening its link sets it: every value checked as a link's is (the
    nearest valid one, with a warning), those equal to the defaults included (a link leaves
    them out). Lets a page open another one in the same session as a link would."""
    values, warnings = from_query(to_query(state))
    defaults = {f.state: list(f.default) if isinstance(f.default, list) else f.default for f in fields() if f.state in state}
    return {**defaults, **values}, warnings


def link_keys() -> Iterable[str]:
    return (f.state for f in fields())
