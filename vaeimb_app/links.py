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
from typing import Any, Iterable, Mapping

from vaeimb.declarations import schema
from vaeimb.declarations.config import (
    DEFAULT_SWEEP_RATIOS,
    RATIO_CHOICES_PCT,
)
from vaeimb.declarations.datasets import DATASETS, DEFAULT_DATASET
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
    return Field(url, s.state_key, s.kind, s.default, s.low, s.high, tuple(s.choices), tuple(aliases), s.name)


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


def _make_consistent(values: dict[str, Any]) -> list[str]:
    """Cross-field rules a single value cannot break: two different digits, counts MNIST
    train holds, no more minority than majority images."""
    out = []
    ref = schema.defaults()
    maj = values.get("cfg_majority", ref["majority"])
    mnr = values.get("cfg_minority", ref["minority"])
    ds = DATASETS.get(values.get("cfg_dataset", DEFAULT_DATASET), DATASETS[DEFAULT_DATASET])
    if maj == mnr:
        mnr = next(d for d in (ref["minority"], *range(10)) if d != maj)
        values["cfg_minority"] = mnr
        out.append(f"link has the same {ds.noun} twice ({maj}); using minority {mnr}.")
    n_maj = values.get("cfg_n_majority", ref["n_majority"])
    if n_maj > ds.train_counts[maj]:
        values["cfg_n_majority"] = n_maj = ds.train_counts[maj]
        out.append(f"link asks for more images {ds.holds(maj)} than {ds.title} train holds; using {n_maj}.")
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
