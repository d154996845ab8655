"""The experiment settings shared by every page: sidebar widgets backed by session state.

Widgets are created with ``key=`` only and their defaults are written to session state
first, so a page, a test or a preset can set any value before the first run without
Streamlit's "default value and session state" warning.

The experiment settings' widgets, state keys (``cfg_<name>``) and defaults come from
``vaeimb.declarations.schema``; the digit pair, the minority count or ratio, the approaches, the seeds and
the recipe and parameter boxes are drawn here by hand.
"""

from __future__ import annotations

import itertools
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from vaeimb.declarations import schema
from vaeimb.declarations.datasets import DATASETS, DEFAULT_DATASET
from vaeimb.declarations.config import (
    RATIO_CHOICES_PCT,
    ExperimentConfig,
    from_settings,
    n_minority_from_ratio,
    stable_hash,
)
from vaeimb.declarations.errors import ConfigError, VaeimbError
from vaeimb.declarations.protocols import PROTOCOLS
from vaeimb.declarations.task_kinds import TASK_KINDS
from vaeimb.running.recipes import (
    PRESETS,
    RECIPE_KEYS,
    parse_param_overrides,
    parse_recipe,
)

from .links import fields, from_query, to_query


def defaults() -> dict:
    """Session-state key -> default for every sidebar setting: the reference setup (the
    schema's defaults) and the sidebar's own choices (their links' defaults: three seeds,
    the classic approaches)."""
    return {f.state: list(f.default) if isinstance(f.default, list) else f.default
            for f in fields() if f.state.startswith("cfg_")}


#: ``defaults()`` as the schema stood at import (read by the bench scripts).
DEFAULTS = defaults()

#: A small, fast setup for demos and the browser test (``VAEIMB_APP_PRESET=tiny``).
APP_PRESETS = {
    "tiny": {
        "cfg_n_majority": 300, "cfg_n_minority": 20, "cfg_steps": 30, "cfg_batch_size": 32,
        "cfg_generator_steps": 20, "cfg_generator_batch_size": 16, "cfg_n_checkpoints": 3,
    },
}
PRESET_ENV = "VAEIMB_APP_PRESET"


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
    values = defaults()
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
    wanted = to_query(st.session_state)
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


#: The app's pages, as ``st.Page`` takes them (path, title, icon); the first is the default.
#: A page's URL is its file name without the number (``/atlas``), as before.
PAGES = (
    ("pages/1_experiment.py", "Experiment / Results", ":material/science:"),
    ("pages/2_latent_space.py", "Latent space", ":material/scatter_plot:"),
    ("pages/3_sweep.py", "Sweep", ":material/show_chart:"),
    ("pages/5_atlas.py", "Atlas", ":material/grid_view:"),
    ("pages/4_about.py", "About", ":material/menu_book:"),
)
#: The browser tab's title.
PAGE_TITLE = "VAE vs oversampling on imbalanced MNIST"
#: Session-state key set while app.py runs the page (``entered_through_app``).
THROUGH_APP = "_through_app"
#: Session-state key set once the session has run through app.py (``through_app``).
STARTED = "_app_started"


def app_pages() -> list:
    """``PAGES`` as ``st.Page`` objects, for ``st.navigation``."""
    return [st.Page(path, title=title, icon=icon, default=i == 0) for i, (path, title, icon) in enumerate(PAGES)]


@contextmanager
def entered_through_app():
    """app.py runs the chosen page inside this: the page can tell (``through_app``) that
    the entrypoint ran first (synced the link into session state, drew the sidebar)."""
    st.session_state[THROUGH_APP] = st.session_state[STARTED] = True
    try:
        yield
    finally:
        st.session_state.pop(THROUGH_APP, None)


def start_app():
    """What app.py does before the page it runs: the page config, the pages
    (``st.navigation``; returned: app.py runs the chosen one), the sidebar, the link."""
    st.set_page_config(page_title=PAGE_TITLE, page_icon=":material/scatter_plot:", layout="wide")
    navigation = st.navigation(app_pages())
    render_sidebar()
    sync_link()  # before the page: it may stop early, and widget changes are in session state already
    return navigation


def through_app() -> None:
    """Make sure app.py's work (``start_app``) is done before this page uses the settings.

    The app keeps its pages in ``pages/``, and Streamlit treats a ``pages/`` folder beside
    the entrypoint as its legacy multipage layout until ``st.navigation`` is first called:
    on a fresh server the first request to a page's URL (``/atlas?atlas_a=...``) runs that
    page file alone, without app.py, so its link would not be read into session state nor
    the sidebar drawn. Here that run does what app.py does, the page's own run going on
    (a click it carries is kept); declaring the pages ends the legacy layout for the
    server, so later runs start in app.py. Every page that reads the settings calls this
    (``page_settings``, ``show_link_warnings``) before it uses them; a script other than
    the app (a test's) is left alone.

    The page's widgets keep the identity they have when app.py runs the page: declaring
    the pages makes the entrypoint the active script (the sidebar's widgets are the
    entrypoint's, as in app.py), and the page's own is active again afterwards. Streamlit's
    AppTest runs every page again this way after its first run (it resets the legacy flag
    on each run): without this, a click on a page widget drawn through app.py would reach
    another widget, and be lost."""
    if st.session_state.get(THROUGH_APP) or not _running_the_app():
        return
    with get_script_run_ctx().run_with_active_hash(get_script_run_ctx().page_script_hash):
        start_app()  # its st.navigation makes app.py the active script; the page's is back after
    if not st.session_state.get(STARTED):
        # The session's first run, in the legacy layout: run again, through app.py, before
        # anyone clicks. A widget's identity includes the page it runs under, so a click on
        # a widget drawn by this legacy run would reach a different widget, and be lost.
        st.session_state[STARTED] = True
        st.rerun()


#: The app's entrypoint (``streamlit run app.py``).
APP_FILE = Path(__file__).resolve().parents[1] / "app.py"


def _running_the_app() -> bool:
    """Whether the script Streamlit runs is the app's entrypoint."""
    ctx = get_script_run_ctx()
    return ctx is not None and Path(ctx.main_script_path).resolve() == APP_FILE


def show_link_warnings() -> None:
    """Once per session: what the opening link asked for that could not be used as is."""
    through_app()
    for warning in st.session_state.pop("_link_warnings", []):
        st.warning(warning, icon="🔗")


#: The parts a custom recipe can name. Written out so the sidebar paints before torch loads;
#: ``tests/test_app_recipes.py`` checks it against the registries.
RECIPE_HELP = (
    f"Keys: {', '.join(RECIPE_KEYS)}. Each line runs beside the chosen approaches. "
    "Generators: vae, cvae, latent-smote, deepsmote, smote, augment; batches: random, balanced, deferred; "
    "aug: none, affine, elastic; mix: none, mixup, remix; loss: ce, la, weighted, focal, ldam-drw; "
    "decision: argmax, posthoc, tuned."
)


def budget_for_protocol_switch(old: str, new: str) -> dict:
    """Settings to change when the protocol goes from ``old`` to ``new``.

    Switching between protocol families switches the training budget to the new
    protocol's own (the original code's 1000 steps of 128 for blog); staying within a
    family keeps whatever budget the user set. Budgets: ``vaeimb.declarations.schema.budget``.
    """
    if old in PROTOCOLS and PROTOCOLS[old].family == PROTOCOLS[new].family:
        return {}
    return {schema.get(name).state_key: value for name, value in schema.budget(new).items()}


def _sync(key: str) -> None:
    """on_change: copy a widget's new value to its settings key."""
    old = st.session_state.get(key)
    st.session_state[key] = st.session_state[f"w_{key}"]
    if key == "cfg_protocol":
        st.session_state.update(budget_for_protocol_switch(old, st.session_state[key]))
    if key == "cfg_task" and old != st.session_state[key]:
        st.session_state.update(task_switch(old, st.session_state[key], st.session_state.get("cfg_protocol")))


def task_switch(old: str, new: str, protocol: str | None) -> dict:
    """Settings to change when the task goes from ``old`` to ``new``: its default approaches,
    and the new task's own protocol (with its budget) unless the user chose a protocol other
    than the old task's own that serves the new task too."""
    kind = TASK_KINDS[new]
    out = {"cfg_approaches": list(kind.default_approaches)}
    own_old = TASK_KINDS[old].default_protocol if old in TASK_KINDS else None
    if protocol not in PROTOCOLS or new not in PROTOCOLS[protocol].tasks or protocol == own_old:
        out["cfg_protocol"] = kind.default_protocol
        out.update(budget_for_protocol_switch(protocol or "", kind.default_protocol))
    return out


def persistent(widget, label: str, *args, key: str, **kwargs):
    """Draw ``widget`` showing the settings value ``key`` and writing changes back to it.

    Widget state is dropped when the user switches pages; the settings keys are plain
    session state, so they persist and every page sees the same values.
    """
    st.session_state[f"w_{key}"] = st.session_state[key]
    return widget(label, *args, key=f"w_{key}", on_change=_sync, args=(key,), **kwargs)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _draw(container, s: schema.Setting) -> None:
    """One setting's widget, as its declaration says."""
    kw = {"key": s.state_key, "help": _sentence(s.help) if s.help else None}
    if s.widget == "number":
        num = int if s.kind == "int" else float
        kw.update(min_value=num(s.low), max_value=num(s.high))
        if s.step is not None:
            kw["step"] = num(s.step)
        if s.kind == "float":
            kw["format"] = "%g"
        persistent(container.number_input, s.label, **kw)
    elif s.widget == "select":
        persistent(container.selectbox, s.label, list(s.choices), format_func=s.choice_label, **kw)
    elif s.widget == "radio":
        persistent(container.radio, s.label, list(s.choices), format_func=s.choice_label, horizontal=True, **kw)
    else:
        raise ValueError(f"setting {s.name}: unknown widget {s.widget!r}")


def _draw_section(container, section: str) -> None:
    """The widgets of a sidebar section, in the schema's order; settings that share a row
    go side by side."""
    shown = [s for s in schema.SETTINGS if s.widget is not None and s.section == section]
    for _, row in itertools.groupby(shown, key=lambda s: s.row or s.name):
        row = list(row)
        cells = container.columns(len(row)) if len(row) > 1 else [container]
        for cell, s in zip(cells, row):
            _draw(cell, s)


def render_sidebar() -> None:
    """Draw the shared settings in the sidebar (called by app.py on every page)."""
    init_state()
    sb = st.sidebar
    sb.header("Experiment settings")
    task = schema.get("task")
    persistent(sb.radio, task.label, list(task.choices), format_func=task.choice_label, horizontal=True,
               key=task.state_key, help=_sentence(task.help))
    if st.session_state[task.state_key] == "pair":
        _pair_widgets(sb)
    else:
        _longtail_widgets(sb)
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
    _draw_section(sb, "main")
    advanced = sb.expander("Advanced")
    _draw_section(advanced, "advanced")
    persistent(advanced.text_area, "Custom recipes (one per line)", key="cfg_recipes", height=80,
               placeholder="gen=cvae,batches=balanced,aug=affine,loss=la,decision=posthoc",
               help=RECIPE_HELP)
    persistent(advanced.text_area, "Approach parameters (one per line)", key="cfg_params", height=68,
               placeholder="threshold.tau=0.5",
               help="APPROACH.PARAM=VALUE, e.g. threshold.tau=0.5, vae.data.n_generate=1000, "
               "focal.gamma=1, augment-mixup.mix.alpha=0.2. They enter the cache key and the exports.")
    sb.button("Reset to the reference setup", on_click=reset_to_defaults)


def _longtail_widgets(sb) -> None:
    """The long tail's profile, its numbers and the digit order."""
    profile, rho, n_head, order, counts = (schema.get(n) for n in ("profile", "rho", "n_head", "order", "counts"))
    persistent(sb.selectbox, profile.label, list(profile.choices), key=profile.state_key, help=_sentence(profile.help))
    values = {s.name: st.session_state[s.state_key] for s in schema.SETTINGS if s.state_key in st.session_state}
    numbers = [s for s in (rho, n_head) if schema.applies(s.name, values)]  # the profile's own (schema: requires)
    for cell, s in zip(sb.columns(len(numbers)) if len(numbers) > 1 else [sb] * len(numbers), numbers):
        if s is rho:
            persistent(cell.number_input, rho.label, min_value=float(rho.low), max_value=float(rho.high), format="%g",
                       key=rho.state_key, help=_sentence(rho.help))
        else:
            persistent(cell.number_input, n_head.label, min_value=1, max_value=int(n_head.high),
                       step=int(n_head.step), key=n_head.state_key, help=_sentence(n_head.help))
    if schema.applies(counts.name, values):
        persistent(sb.text_input, counts.label, key=counts.state_key, help=_sentence(counts.help),
                   placeholder="4000,2000,1000,750,500,350,200,100,60,40")
    persistent(sb.text_input, order.label, key=order.state_key, help=_sentence(order.help))


def _pair_widgets(sb) -> None:
    """The digit pair and its counts (the minority as a count or a ratio)."""
    majority, minority, n_majority, n_minority = (schema.get(n) for n in ("majority", "minority", "n_majority", "n_minority"))
    c1, c2 = sb.columns(2)
    persistent(c1.selectbox, majority.label, range(10), key=majority.state_key)
    persistent(c2.selectbox, minority.label, range(10), key=minority.state_key, help="Must differ from the majority digit.")
    maj, mnr = st.session_state[majority.state_key], st.session_state[minority.state_key]
    ds = DATASETS.get(st.session_state.get("cfg_dataset"), DATASETS[DEFAULT_DATASET])
    persistent(
        sb.number_input,
        n_majority.label, min_value=1, step=n_majority.step, key=n_majority.state_key,
        help=f"Training images of the majority {ds.noun}; {ds.title} train holds {ds.train_counts[maj]} {ds.holds(maj)}.",
    )
    persistent(sb.radio, "Minority given as", ("count", "ratio"), horizontal=True, key="cfg_minority_mode")
    if st.session_state.cfg_minority_mode == "count":
        persistent(
            sb.number_input,
            n_minority.label, min_value=1, step=n_minority.step, key=n_minority.state_key,
            help=f"Training images of the minority {ds.noun}; {ds.title} train holds {ds.train_counts[mnr]} {ds.holds(mnr)}.",
        )
    else:
        persistent(
            sb.select_slider,
            "Minority ratio (n_minority / n_majority)", RATIO_CHOICES_PCT, key="cfg_ratio_pct",
            format_func=lambda p: f"{p:g}%",
        )
        try:
            n = n_minority_from_ratio(int(st.session_state[n_majority.state_key]), st.session_state.cfg_ratio_pct / 100)
            sb.caption(f"= {n} minority training images")
        except ConfigError:
            pass


def reset_to_defaults() -> None:
    for key, value in defaults().items():
        st.session_state[key] = value


def current_settings() -> Settings:
    """Build and validate the config from session state; a bad value becomes ``error``."""
    init_state()
    s = st.session_state
    recipes = tuple(line.strip() for line in str(s.cfg_recipes).splitlines() if line.strip())
    approaches = tuple(a for a in PRESETS if a in s.cfg_approaches) + recipes
    seeds = tuple(range(int(s.cfg_n_seeds)))
    try:
        for r in recipes:
            parse_recipe(r)
        param_lines = [line.strip() for line in str(s.cfg_params).splitlines() if line.strip()]
        values = {setting.name: s[setting.state_key] for setting in schema.SETTINGS}
        if s.cfg_minority_mode == "ratio" and values["task"] == "pair":
            values["n_minority"] = n_minority_from_ratio(int(values["n_majority"]), float(s.cfg_ratio_pct) / 100)
        config = from_settings(values)
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
    from vaeimb.presentation.report import LEAK_WARNING

    show_link_warnings()
    settings = current_settings()
    if settings.error:
        st.error(settings.error)
        st.stop()
    if settings.config.leaky:
        st.warning(LEAK_WARNING, icon="⚠️")
    return settings


def class_names(config: ExperimentConfig) -> tuple[str, ...]:
    """The labels as digits (the pair: index 0 = majority, 1 = minority)."""
    return tuple(str(d) for d in config.classes)


def config_json(config: ExperimentConfig) -> str:
    """A hashable stand-in for the config (a dict field makes the dataclass unhashable)."""
    return json.dumps(config.to_dict(), sort_keys=True)


def config_from_json(text: str) -> ExperimentConfig:
    return ExperimentConfig.from_dict(json.loads(text))


def generators_of(settings: "Settings") -> list[str]:
    """The generators the chosen approaches use, in order."""
    from vaeimb.running.recipes import build_approaches

    return list(dict.fromkeys(a.recipe.gen for a in build_approaches(settings.approaches, settings.config) if a.recipe.gen))
