"""The experiment settings shared by every page: sidebar widgets backed by session state.

Widgets are created with ``key=`` only and their defaults are written to session state
first, so a page, a test or a preset can set any value before the first run without
Streamlit's "default value and session state" warning.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass

import streamlit as st

from vaeimb.config import CLASSIFIERS, TRAIN_COUNTS, ExperimentConfig, n_minority_from_ratio, stable_hash
from vaeimb.errors import ConfigError, VaeimbError
from vaeimb.links import RATIO_CHOICES_PCT  # log-spaced percentages: one list for the slider and for links
from vaeimb.protocols import PROTOCOLS
from vaeimb.recipes import CLASSIC, PRESETS, RECIPE_KEYS

_REFERENCE = ExperimentConfig()

#: Session-state key -> default. The reference setup, one seed, every approach.
DEFAULTS = {
    "cfg_majority": _REFERENCE.majority,
    "cfg_minority": _REFERENCE.minority,
    "cfg_n_majority": _REFERENCE.n_majority,
    "cfg_minority_mode": "count",
    "cfg_n_minority": _REFERENCE.n_minority,
    "cfg_ratio_pct": 2.0,
    "cfg_approaches": list(CLASSIC),
    "cfg_recipes": "",
    "cfg_params": "",
    "cfg_n_seeds": 3,
    "cfg_classifier": _REFERENCE.classifier,
    "cfg_steps": _REFERENCE.steps,
    "cfg_latent_dim": _REFERENCE.latent_dim,
    "cfg_protocol": _REFERENCE.protocol,
    "cfg_batch_size": _REFERENCE.batch_size,
    "cfg_vae_steps": _REFERENCE.vae_steps,
    "cfg_vae_batch_size": _REFERENCE.vae_batch_size,
    "cfg_n_checkpoints": _REFERENCE.n_checkpoints,
    "cfg_validation_fraction": _REFERENCE.validation_fraction,
}

#: A small, fast setup for demos and the browser test (``VAEIMB_APP_PRESET=tiny``).
APP_PRESETS = {
    "tiny": {
        "cfg_n_majority": 300, "cfg_n_minority": 20, "cfg_steps": 30, "cfg_batch_size": 32,
        "cfg_vae_steps": 20, "cfg_vae_batch_size": 16, "cfg_n_checkpoints": 3,
    },
}
PRESET_ENV = "VAEIMB_APP_PRESET"


PROTOCOL_LABELS = {
    "clean": "clean (honest default)",
    "blog": "blog — LEAKY: VAE trained on TEST images",
    "blog-clean": "blog-clean (original code, leak fixed)",
}


@dataclass(frozen=True)
class Settings:
    """What the pages run: a validated config, the approaches and the seeds, or an error."""

    config: ExperimentConfig | None
    approaches: tuple[str, ...]
    seeds: tuple[int, ...]
    error: str | None = None

    @property
    def key(self) -> str:
        """Identity of this (config, approaches, seeds) for the in-memory result store."""
        return stable_hash(self.config.to_dict() if self.config else None, self.approaches, self.seeds)


def init_state() -> None:
    """Write defaults once per session: an optional preset from the environment, then the
    settings of the link the session was opened with (a bad value becomes the nearest valid
    one and a warning)."""
    from vaeimb.links import from_query

    values = dict(DEFAULTS)
    if not st.session_state.get("_cfg_initialised"):
        values.update(APP_PRESETS.get(os.environ.get(PRESET_ENV, "").strip(), {}))
        linked, warnings = from_query(st.query_params.to_dict())
        for key, value in linked.items():
            st.session_state[key] = value
        st.session_state["_link_warnings"] = warnings
        st.session_state["_cfg_initialised"] = True
    for key, value in values.items():
        st.session_state.setdefault(key, value)


def sync_link() -> None:
    """Put the current settings (and the page's own choices) in the URL: a copied link
    opens the same view for someone else. Called by app.py after the page has run."""
    from vaeimb.links import to_query

    wanted = to_query(st.session_state)
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def show_link_warnings() -> None:
    """Once per session: what the opening link asked for that could not be used as is."""
    for warning in st.session_state.pop("_link_warnings", []):
        st.warning(warning, icon="🔗")


#: The parts a custom recipe can name. Written out so the sidebar paints before torch loads;
#: ``tests/test_app_recipes.py`` checks it against the registries.
RECIPE_HELP = (
    f"Keys: {', '.join(RECIPE_KEYS)}. Each line runs beside the chosen approaches. "
    "Generators: vae, cvae, latent-smote, smote, augment; batches: random, balanced; "
    "aug: none, affine; loss: ce, la, weighted, focal, ldam-drw; decision: argmax, posthoc, tuned."
)


def budget_for_protocol_switch(old: str, new: str) -> dict:
    """Settings to change when the protocol goes from ``old`` to ``new``.

    Switching between protocol families switches the training budget to the new
    protocol's own (the original code's 1000 steps of 128 for blog); staying within a
    family keeps whatever budget the user set. Budgets come from the protocol records.
    """
    if old in PROTOCOLS and PROTOCOLS[old].family == PROTOCOLS[new].family:
        return {}
    budget = PROTOCOLS[new].budget
    return {f"cfg_{k}": budget[k] for k in ("classifier", "steps", "batch_size", "vae_steps", "vae_batch_size")}


def _sync(key: str) -> None:
    """on_change: copy a widget's new value to its settings key."""
    old = st.session_state.get(key)
    st.session_state[key] = st.session_state[f"w_{key}"]
    if key == "cfg_protocol":
        st.session_state.update(budget_for_protocol_switch(old, st.session_state[key]))


def persistent(widget, label: str, *args, key: str, **kwargs):
    """Draw ``widget`` showing the settings value ``key`` and writing changes back to it.

    Widget state is dropped when the user switches pages; the settings keys are plain
    session state, so they persist and every page sees the same values.
    """
    st.session_state[f"w_{key}"] = st.session_state[key]
    return widget(label, *args, key=f"w_{key}", on_change=_sync, args=(key,), **kwargs)


def render_sidebar() -> None:
    """Draw the shared settings in the sidebar (called by app.py on every page)."""
    init_state()
    sb = st.sidebar
    sb.header("Experiment settings")
    c1, c2 = sb.columns(2)
    persistent(c1.selectbox, "Majority digit", range(10), key="cfg_majority")
    persistent(c2.selectbox, "Minority digit", range(10), key="cfg_minority", help="Must differ from the majority digit.")
    maj, mnr = st.session_state.cfg_majority, st.session_state.cfg_minority
    persistent(
        sb.number_input,
        "Majority count", min_value=1, step=100, key="cfg_n_majority",
        help=f"Training images of the majority digit; MNIST train holds {TRAIN_COUNTS[maj]} of digit {maj}.",
    )
    persistent(sb.radio, "Minority given as", ("count", "ratio"), horizontal=True, key="cfg_minority_mode")
    if st.session_state.cfg_minority_mode == "count":
        persistent(
            sb.number_input,
            "Minority count", min_value=1, step=10, key="cfg_n_minority",
            help=f"Training images of the minority digit; MNIST train holds {TRAIN_COUNTS[mnr]} of digit {mnr}.",
        )
    else:
        persistent(
            sb.select_slider,
            "Minority ratio (n_minority / n_majority)", RATIO_CHOICES_PCT, key="cfg_ratio_pct",
            format_func=lambda p: f"{p:g}%",
        )
        try:
            n = n_minority_from_ratio(int(st.session_state.cfg_n_majority), st.session_state.cfg_ratio_pct / 100)
            sb.caption(f"= {n} minority training images")
        except ConfigError:
            pass
    persistent(
        sb.multiselect,
        "Approaches", list(PRESETS), key="cfg_approaches",
        help="\n".join(f"- **{n}**: {p.blurb}" for n, p in PRESETS.items()),
    )
    persistent(
        sb.number_input, "Seeds", min_value=1, max_value=10, key="cfg_n_seeds",
        help="Each seed redraws the training set and retrains every approach on it (paired "
        "seeds); spread = sd over seeds, and the verdict's intervals need 2 or more.",
    )
    c1, c2 = sb.columns(2)
    persistent(c1.radio, "Classifier", CLASSIFIERS, key="cfg_classifier", horizontal=True)
    persistent(c2.number_input, "Training steps", min_value=1, step=100, key="cfg_steps")
    persistent(sb.number_input, "VAE latent size", min_value=1, max_value=256, key="cfg_latent_dim")
    persistent(
        sb.selectbox,
        "Protocol", list(PROTOCOLS), key="cfg_protocol", format_func=PROTOCOL_LABELS.get,
        help="\n".join(f"- **{k}**: {p.description}" for k, p in PROTOCOLS.items()),
    )
    with sb.expander("Advanced"):
        persistent(st.number_input, "Batch size", min_value=2, key="cfg_batch_size")
        persistent(st.number_input, "VAE training steps", min_value=1, step=100, key="cfg_vae_steps")
        persistent(st.number_input, "VAE batch size", min_value=1, key="cfg_vae_batch_size")
        persistent(st.number_input, "Learning-curve checkpoints", min_value=1, max_value=200, key="cfg_n_checkpoints")
        persistent(st.number_input, "Validation fraction", min_value=0.01, max_value=0.99, step=0.05,
                   key="cfg_validation_fraction",
                   help="Share of the training draw held out (stratified) by recipes that tune a value, "
                   "e.g. the tuned threshold; those recipes train on the rest.")
        persistent(st.text_area, "Custom recipes (one per line)", key="cfg_recipes", height=80,
                   placeholder="gen=cvae,batches=balanced,aug=affine,loss=la,decision=posthoc",
                   help=RECIPE_HELP)
        persistent(st.text_area, "Approach parameters (one per line)", key="cfg_params", height=68,
                   placeholder="threshold.tau=0.5",
                   help="APPROACH.PARAM=VALUE, e.g. threshold.tau=0.5, vae.data.n_generate=1000, "
                   "focal.gamma=1. They enter the cache key and the exports.")
    sb.button("Reset to the reference setup", on_click=reset_to_defaults)


def reset_to_defaults() -> None:
    for key, value in DEFAULTS.items():
        st.session_state[key] = value


def current_settings() -> Settings:
    """Build and validate the config from session state; a bad value becomes ``error``."""
    init_state()
    s = st.session_state
    recipes = tuple(line.strip() for line in str(s.cfg_recipes).splitlines() if line.strip())
    approaches = tuple(a for a in PRESETS if a in s.cfg_approaches) + recipes
    seeds = tuple(range(int(s.cfg_n_seeds)))
    try:
        from vaeimb.recipes import parse_param_overrides, parse_recipe

        for r in recipes:
            parse_recipe(r)
        param_lines = [line.strip() for line in str(s.cfg_params).splitlines() if line.strip()]
        n_majority = int(s.cfg_n_majority)
        if s.cfg_minority_mode == "ratio":
            n_minority = n_minority_from_ratio(n_majority, float(s.cfg_ratio_pct) / 100)
        else:
            n_minority = int(s.cfg_n_minority)
        config = ExperimentConfig(
            majority=int(s.cfg_majority), minority=int(s.cfg_minority),
            n_majority=n_majority, n_minority=n_minority,
            protocol=s.cfg_protocol, classifier=s.cfg_classifier, steps=int(s.cfg_steps),
            batch_size=int(s.cfg_batch_size), latent_dim=int(s.cfg_latent_dim),
            vae_steps=int(s.cfg_vae_steps), vae_batch_size=int(s.cfg_vae_batch_size),
            n_checkpoints=int(s.cfg_n_checkpoints), validation_fraction=float(s.cfg_validation_fraction),
        )
        if param_lines:
            config = config.replace(approach_params=parse_param_overrides(param_lines, approaches, config.protocol))
        config.validate()
        if not approaches:
            raise ConfigError("Choose at least one approach in the sidebar.")
    except ConfigError as err:
        return Settings(None, approaches, seeds, f"{err} Change it in the sidebar.")
    return Settings(config, approaches, seeds)


@contextmanager
def errors_shown(stop: bool = True):
    """Show a ``VaeimbError`` (bad input, missing MNIST, ...) as ``st.error`` instead of a
    traceback; with ``stop`` the page ends there."""
    try:
        yield
    except VaeimbError as err:
        st.error(str(err))
        if stop:
            st.stop()


def page_settings() -> Settings:
    """The current settings for a page: a bad setting is shown and stops the page, and a
    leaky protocol is flagged at the top of every page that shows its results."""
    from vaeimb.report import LEAK_WARNING

    show_link_warnings()
    settings = current_settings()
    if settings.error:
        st.error(settings.error)
        st.stop()
    if settings.config.leaky:
        st.warning(LEAK_WARNING, icon="⚠️")
    return settings


def class_names(config: ExperimentConfig) -> tuple[str, str]:
    """Labels 0 / 1 of the binary task as digits: index 0 = majority, 1 = minority."""
    return str(config.majority), str(config.minority)


def config_json(config: ExperimentConfig) -> str:
    """A hashable stand-in for the config (a dict field makes the dataclass unhashable)."""
    return json.dumps(config.to_dict(), sort_keys=True)


def config_from_json(text: str) -> ExperimentConfig:
    return ExperimentConfig.from_dict(json.loads(text))


def generators_of(settings: "Settings") -> list[str]:
    """The generators the chosen approaches use, in order."""
    from vaeimb.recipes import build_approaches

    return list(dict.fromkeys(a.recipe.gen for a in build_approaches(settings.approaches, settings.config) if a.recipe.gen))
