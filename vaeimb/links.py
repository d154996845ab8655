"""Links that reproduce a view: the app's settings to and from URL query parameters.

Pure functions (no Streamlit): ``to_query`` writes the values that differ from the
defaults, ``from_query`` reads a link back into settings and, for anything malformed or out
of range, keeps the nearest valid value and says so — a shared link never ends in a
traceback. The app calls both on every page (``vaeimb_app.settings``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .atlas import ATLAS_METRICS, DEFAULT_VIEW
from .config import CLASSIFIERS, DEFAULT_SWEEP_RATIOS, TRAIN_COUNTS, ExperimentConfig
from .protocols import PROTOCOLS
from .recipes import CLASSIC, PRESETS

_REF = ExperimentConfig()
RATIO_CHOICES_PCT = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0)
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


def _f(url, state, kind, default, low=None, high=None, choices=()):
    return Field(url, state, kind, default, low, high, tuple(choices))


#: Every setting a link carries: the sidebar's, then each page's own choices.
FIELDS: tuple[Field, ...] = (
    _f("majority", "cfg_majority", "choice", _REF.majority, choices=range(10)),
    _f("minority", "cfg_minority", "choice", _REF.minority, choices=range(10)),
    _f("n_majority", "cfg_n_majority", "int", _REF.n_majority, 1, max(TRAIN_COUNTS)),
    _f("minority_as", "cfg_minority_mode", "choice", "count", choices=("count", "ratio")),
    _f("n_minority", "cfg_n_minority", "int", _REF.n_minority, 1, max(TRAIN_COUNTS)),
    _f("ratio_pct", "cfg_ratio_pct", "choice", 2.0, choices=RATIO_CHOICES_PCT),
    _f("approaches", "cfg_approaches", "choices", list(CLASSIC), choices=PRESETS),
    _f("recipes", "cfg_recipes", "text", ""),
    _f("params", "cfg_params", "text", ""),
    _f("seeds", "cfg_n_seeds", "int", 3, 1, 10),
    _f("classifier", "cfg_classifier", "choice", _REF.classifier, choices=CLASSIFIERS),
    _f("steps", "cfg_steps", "int", _REF.steps, 1, 200_000),
    _f("latent_dim", "cfg_latent_dim", "int", _REF.latent_dim, 1, 256),
    _f("protocol", "cfg_protocol", "choice", _REF.protocol, choices=PROTOCOLS),
    _f("batch_size", "cfg_batch_size", "int", _REF.batch_size, 2, 4096),
    _f("vae_steps", "cfg_vae_steps", "int", _REF.vae_steps, 1, 200_000),
    _f("vae_batch_size", "cfg_vae_batch_size", "int", _REF.vae_batch_size, 1, 4096),
    _f("checkpoints", "cfg_n_checkpoints", "int", _REF.n_checkpoints, 1, 200),
    _f("validation", "cfg_validation_fraction", "float", _REF.validation_fraction, 0.01, 0.99),
    _f("generator", "latent_generator", "choice", "vae", choices=("vae", "cvae", "latent-smote")),
    _f("seed", "latent_seed", "int", 0, 0, 9),
    _f("projection", "latent_map_method", "choice", "pca", choices=("pca", "tsne")),
    _f("sweep_ratios", "sweep_ratios", "choices", list(DEFAULT_SWEEP_RATIOS), choices=SWEEP_RATIO_OPTIONS),
    _f("sweep_approaches", "sweep_approaches", "choices", ["baseline", "oversample", "vae"], choices=PRESETS),
    _f("sweep_metric", "sweep_metric", "choice", "misclassified", choices=("misclassified", "balanced_error")),
    # the Atlas page checks approaches and ratio against the atlas it shows
    _f("atlas_a", "atlas_a", "text", DEFAULT_VIEW[0]),
    _f("atlas_b", "atlas_b", "text", DEFAULT_VIEW[1]),
    _f("atlas_ratio", "atlas_ratio", "float", DEFAULT_VIEW[2], 0.0001, 1.0),
    _f("atlas_metric", "atlas_metric", "choice", DEFAULT_VIEW[3], choices=ATLAS_METRICS),
)
_BY_URL = {f.url: f for f in FIELDS}


def to_query(state: Mapping[str, Any]) -> dict[str, str]:
    """The URL parameters of the settings in ``state`` that differ from the defaults."""
    out = {}
    for f in FIELDS:
        if f.state in state and state[f.state] != f.default:
            value = state[f.state]
            if f.kind == "choices":
                value = [c for c in f.choices if c in value]  # a canonical order
            out[f.url] = f.encode(value)
    return out


def from_query(query: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Settings (state key -> value) from URL parameters, and one warning per value that
    was malformed, out of range, unknown or inconsistent (the nearest valid one is used)."""
    values, warnings = {}, []
    for key, raw in query.items():
        text = raw[-1] if isinstance(raw, (list, tuple)) else str(raw)
        f = _BY_URL.get(key)
        if f is None:
            warnings.append(f"link setting {key!r} is not known here; ignored.")
            continue
        value, warning = f.decode(text)
        values[f.state] = value
        if warning:
            warnings.append(warning)
    warnings += _make_consistent(values)
    return values, warnings


def _make_consistent(values: dict[str, Any]) -> list[str]:
    """Cross-field rules a single value cannot break: two different digits, counts MNIST
    train holds, no more minority than majority images."""
    out = []
    maj = values.get("cfg_majority", _REF.majority)
    mnr = values.get("cfg_minority", _REF.minority)
    if maj == mnr:
        mnr = next(d for d in (_REF.minority, *range(10)) if d != maj)
        values["cfg_minority"] = mnr
        out.append(f"link has the same digit twice ({maj}); using minority {mnr}.")
    n_maj = values.get("cfg_n_majority", _REF.n_majority)
    if n_maj > TRAIN_COUNTS[maj]:
        values["cfg_n_majority"] = n_maj = TRAIN_COUNTS[maj]
        out.append(f"link asks for more images of digit {maj} than MNIST train holds; using {n_maj}.")
    n_min = values.get("cfg_n_minority")
    if n_min is not None and n_min > min(TRAIN_COUNTS[mnr], n_maj):
        values["cfg_n_minority"] = min(TRAIN_COUNTS[mnr], n_maj)
        out.append(f"link's minority count {n_min} exceeds what this setup allows; using {values['cfg_n_minority']}.")
    return out


def as_linked(state: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``state`` as opening its link sets it: every value checked as a link's is (the
    nearest valid one, with a warning), those equal to the defaults included (a link leaves
    them out). Lets a page open another one in the same session as a link would."""
    values, warnings = from_query(to_query(state))
    defaults = {f.state: list(f.default) if isinstance(f.default, list) else f.default for f in FIELDS if f.state in state}
    return {**defaults, **values}, warnings


def link_keys() -> Iterable[str]:
    return (f.state for f in FIELDS)
