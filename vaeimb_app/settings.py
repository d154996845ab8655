"""The experiment settings shared by every page: sidebar widgets backed by session state.

Widgets are created with ``key=`` only and their defaults are written to session state
first, so a page, a test or a preset can set any value before the first run without
Streamlit's "default value and session state" warning.

The experiment settings' widgets, state keys (``cfg_<name>``) and defaults come from
``vaeimb.declarations.schema``; the dataset, the class pair (in the dataset's words: MNIST's
"Majority digit", another's "Majority class", with its class names), the minority count or
ratio, the approaches, the seeds and the recipe and parameter boxes are drawn here by hand.

Under the Dataset picker, the analyst's own ``.npz`` can be uploaded: it is checked
(``vaeimb.parts.own_images.read_npz``) when it arrives, before anything trains; a file
that fails is one ``st.error`` line and nothing is kept, an accepted one is kept in the
user cache under its hash (``file:<hash>``) and chosen. The picker lists the declared
datasets and the files this session uploaded (or opened by a link), never another
session's: on a shared server the store holds everyone's.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from vaeimb.declarations import own, schema
from vaeimb.declarations.config import (
    RATIO_CHOICES_PCT,
    ExperimentConfig,
    from_settings,
    n_minority_from_ratio,
    stable_hash,
)
from vaeimb.declarations.datasets import DATASETS, DEFAULT_DATASET, Dataset, own_dataset
from vaeimb.declarations.errors import ConfigError, VaeimbError
from vaeimb.declarations.protocols import PROTOCOLS
from vaeimb.declarations.task_kinds import TASK_KINDS
from vaeimb.parts import own_images  # numpy: checks and keeps an uploaded file
from vaeimb.running.recipes import (
    PRESETS,
    RECIPE_KEYS,
    parse_param_overrides,
    parse_recipe,
)

from .links import dataset_of, fields, fit_to_dataset, from_query, to_query


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
        name = st.session_state[DATASET_KEY]
        if own.parse(name) is not None and own.stored(own.parse(name)) is not None:  # a link to a stored file
            _own_files()[name] = dataset_of(name).label
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
#: The browser tab's title (``{}``: the chosen dataset's name: ``page_title``).
PAGE_TITLE_OF = "VAE vs oversampling on imbalanced {}"
PAGE_TITLE = PAGE_TITLE_OF.format(DATASETS[DEFAULT_DATASET].title)
#: Set while app.py runs the page, in the thread that runs it (``entered_through_app``):
#: not session state, which a page's ``st.stop()`` makes unreachable until the run ends
#: (a flag left there would make the next run that starts in the page skip app.py's work).
_RUN = threading.local()
#: Session-state key set once the session has run through app.py (``through_app``).
STARTED = "_app_started"


def app_pages() -> list:
    """``PAGES`` as ``st.Page`` objects, for ``st.navigation``."""
    return [st.Page(path, title=title, icon=icon, default=i == 0) for i, (path, title, icon) in enumerate(PAGES)]


@contextmanager
def entered_through_app():
    """app.py runs the chosen page inside this: the page can tell (``through_app``) that
    the entrypoint ran first (synced the link into session state, drew the sidebar)."""
    st.session_state[STARTED] = True
    _RUN.through_app = True
    try:
        yield
    finally:
        _RUN.through_app = False


def start_app():
    """What app.py does before the page it runs: the page config, the pages
    (``st.navigation``; returned: app.py runs the chosen one), the sidebar, the link."""
    init_state()  # session state only: the tab's title names the dataset a link chose
    st.set_page_config(page_title=PAGE_TITLE_OF.format(current_dataset().title), page_icon=":material/scatter_plot:",
                       layout="wide")
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
    if getattr(_RUN, "through_app", False) or not _running_the_app():
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
    "aug=flip mirrors images left-right: only on a dataset whose classes survive it "
    f"({', '.join(d.title for d in DATASETS.values() if d.flips)}). "
    "Generators: vae, cvae, latent-smote, deepsmote, smote, augment; batches: random, balanced, deferred; "
    "aug: none, affine, elastic, flip; mix: none, mixup, remix; loss: ce, la, weighted, focal, ldam-drw; "
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
    """on_change: copy a widget's new value to its settings key (what fitting the settings
    to a dataset changed is said until the next change)."""
    old = st.session_state.get(key)
    st.session_state.pop(_FIT_NOTES, None)
    st.session_state.pop(_UPLOAD_REFUSED, None)
    st.session_state[key] = st.session_state[f"w_{key}"]
    if key == "cfg_protocol":
        st.session_state.update(budget_for_protocol_switch(old, st.session_state[key]))
    if key == "cfg_task" and old != st.session_state[key]:
        st.session_state.update(task_switch(old, st.session_state[key], st.session_state.get("cfg_protocol")))
    if key in (DATASET_KEY, "cfg_task") and old != st.session_state[key]:
        fit_settings(counts=key == DATASET_KEY)


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
    ds = _dataset_widget(sb)
    task = schema.get("task")
    persistent(sb.radio, task.label, list(task.choices), format_func=lambda t: worded(task.choice_label(t), ds),
               horizontal=True, key=task.state_key, help=_sentence(worded(task.help, ds)))
    if st.session_state[task.state_key] == "pair":
        _pair_widgets(sb, ds)
    else:
        _longtail_widgets(sb, ds)
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


def current_dataset() -> Dataset:
    """The dataset the settings name (MNIST before the settings are read, or for an own
    file no longer stored: the config says so)."""
    return dataset_of(st.session_state.get(DATASET_KEY))


_CLASS_WORD = re.compile(r"\b([Dd]igit|[Cc]lass)(e?s)?\b")


def worded(text: str, ds: Dataset) -> str:
    """``text`` with "digit(s)" and "class(es)" in the dataset's own word for its classes:
    MNIST's "Majority digit", Fashion-MNIST's "Majority class"."""

    def word(m: re.Match) -> str:
        w = ds.nouns if m.group(2) else ds.noun
        return w[:1].upper() + w[1:] if m.group(1)[0].isupper() else w

    return _CLASS_WORD.sub(word, text)


#: About how much each dataset's four gz files weigh, in MB: what its first Run downloads.
DOWNLOAD_MB = {"mnist": 12, "fashion-mnist": 30, "kmnist": 20}
#: What the Dataset picker's help says above each dataset's description.
DATASET_HELP = ("The images the experiment draws from; each dataset's results are cached apart. A dataset not on "
                "this machine yet is downloaded on its first Run (" + ", ".join(
                    f"{d.title} about {DOWNLOAD_MB[d.name]} MB" for d in DATASETS.values() if d.name in DOWNLOAD_MB)
                + "), into the user cache unless VAEIMB_DATA_DIR names a folder.")


def _dataset_widget(sb) -> Dataset:
    """The Dataset picker (drawn by hand: the schema declares no widget for it), what was
    done to fit the settings to it, and the upload of one's own file; returns the chosen one."""
    s = schema.get("dataset")
    persistent(sb.selectbox, s.label, dataset_options(), format_func=dataset_label, key=s.state_key,
               help="\n".join([DATASET_HELP, "", *(f"- **{d.label}**: {d.description}" for d in DATASETS.values()),
                               "- **Your own images**: upload an .npz below."]))
    ds = current_dataset()
    changes, notes = fit_to_dataset(st.session_state, ds, counts=False)
    if changes:  # classes the dataset lacks, however they came (a page, a test): never a widget's IndexError
        st.session_state.update(changes)
        st.session_state[_FIT_NOTES] = notes
    if own.parse(ds.name) is not None:
        sb.caption(ds.description)
    for note in st.session_state.get(_FIT_NOTES, ()):
        sb.caption(note)
    key = upload_key()
    sb.file_uploader(UPLOAD_LABEL, type=["npz"], key=key, on_change=_on_upload, args=(key,), help=UPLOAD_HELP,
                     max_upload_size=_upload_limit_mb())
    refused = st.session_state.get(_UPLOAD_REFUSED)
    if refused:
        sb.error(refused)
    return ds


#: The Dataset picker's state key.
DATASET_KEY = schema.get("dataset").state_key
#: Session state: the own files this session uploaded or opened by a link (name -> picker label).
OWN_FILES = "_own_files"
#: The uploader's widget key (``upload_key``: numbered), how many files it took, the
#: refusal shown under it, and what fitting the settings to a new dataset changed.
UPLOAD_KEY = "w_own_upload"
_UPLOADS = "_own_uploads"
_UPLOAD_REFUSED = "_own_upload_refused"
_FIT_NOTES = "_dataset_fit_notes"
UPLOAD_LABEL = "Your own images (.npz)"


def _upload_limit_mb() -> int:
    return max(1, own_images.MAX_BYTES // (1024 * 1024))


def _upload_help() -> str:
    side, least = own_images.SIDE, own_images.MIN_SIDE
    return (f"An .npz (np.savez) with x_train, y_train, x_test, y_test (Keras' names) or train_images, train_labels, "
            f"test_images, test_labels (MedMNIST's); optionally class_names, an array of strings. Images: uint8 0-255 "
            f"or floats in [0, 1], N×H×W grayscale or N×H×W×3 RGB (made gray), at least {least}×{least} "
            f"(resized to {side}×{side}). Labels: integers, 2 to {own_images.MAX_CLASSES} classes, each in both "
            f"splits. At most {own_images.MAX_BYTES // (1024 * 1024)} MB. It is checked before anything trains, and "
            "kept on this server only: a link to it works here, not on another server.")


UPLOAD_HELP = _upload_help()


def _own_files() -> dict[str, str]:
    return st.session_state.setdefault(OWN_FILES, {})


def dataset_options() -> list[str]:
    """The picker's choices: the declared datasets, the own files this session uploaded
    or opened by a link, and the chosen one (a file gone from the store says so)."""
    names = [*DATASETS, *(n for n in _own_files() if n not in DATASETS)]
    chosen = st.session_state.get(DATASET_KEY)
    if isinstance(chosen, str) and chosen not in names:
        names.append(chosen)
    return names


def dataset_label(name: str) -> str:
    """How the picker names a dataset: its label; an own file's ("digits.npz (your file)")."""
    if name in DATASETS:
        return DATASETS[name].label
    if name in _own_files():
        return _own_files()[name]
    ds = dataset_of(name)
    return ds.label if ds.name == name else f"{name} (not on this server)"


def fit_settings(counts: bool = True) -> None:
    """Move the settings that name classes the chosen dataset lacks (and with ``counts``,
    counts over what it holds) to ones it has; what changed is said under the picker until
    the next change. Done when the dataset or the task changes: a link was checked as it
    was read (``links.from_query``), and a count set by hand stays an error to correct."""
    changes, notes = fit_to_dataset(st.session_state, current_dataset(), counts=counts)
    st.session_state.update(changes)
    st.session_state[_FIT_NOTES] = notes


def upload_key() -> str:
    """The uploader's key: a new one after each file it took, so the next run draws an empty
    uploader and Streamlit lets go of the file's bytes (up to 200 MB a session, on a server
    of about 1 GB) once it is checked and kept; a rerun never reads it again."""
    return f"{UPLOAD_KEY}_{st.session_state.get(_UPLOADS, 0)}"


def _on_upload(key: str) -> None:
    """on_change of the uploader: check the file, keep and choose it if it passes."""
    uploaded = st.session_state.get(key)
    if uploaded is None:
        return
    st.session_state[_UPLOADS] = st.session_state.get(_UPLOADS, 0) + 1
    take_upload(uploaded.getvalue(), uploaded.name)


def take_upload(data: bytes, file_name: str) -> str | None:
    """Check an uploaded file; keep it and choose it if it passes. Returns the dataset name,
    or None after one line saying why not (shown under the uploader; nothing kept, the
    dataset unchanged)."""
    try:
        images = own_images.read_npz(data, name=file_name, max_bytes=own_images.MAX_BYTES)
        own_images.store(images)
    except VaeimbError as err:
        st.session_state[_UPLOAD_REFUSED] = " ".join(str(err).split())
        return None
    st.session_state.pop(_UPLOAD_REFUSED, None)
    _own_files()[images.name] = own_dataset(images.metadata()).label
    old = st.session_state.get(DATASET_KEY)
    st.session_state[DATASET_KEY] = images.name
    if old != images.name:
        fit_settings()
    return images.name


def _class_list(ds: Dataset) -> str:
    """``0 T-shirt/top, 1 Trouser, ...`` (the numbers a long tail's order is written in)."""
    return ", ".join(f"{c} {name}" for c, name in enumerate(ds.class_names))


def _longtail_widgets(sb, ds: Dataset) -> None:
    """The long tail's profile, its numbers and the class order, in the dataset's words."""
    profile, rho, n_head, order, counts = (schema.get(n) for n in ("profile", "rho", "n_head", "order", "counts"))
    persistent(sb.selectbox, profile.label, list(profile.choices), key=profile.state_key,
               help=_sentence(worded(profile.help, ds)))
    values = {s.name: st.session_state[s.state_key] for s in schema.SETTINGS if s.state_key in st.session_state}
    numbers = [s for s in (rho, n_head) if schema.applies(s.name, values)]  # the profile's own (schema: requires)
    for cell, s in zip(sb.columns(len(numbers)) if len(numbers) > 1 else [sb] * len(numbers), numbers):
        if s is rho:
            persistent(cell.number_input, rho.label, min_value=float(rho.low), max_value=float(rho.high), format="%g",
                       key=rho.state_key, help=_sentence(worded(rho.help, ds)))
        else:
            persistent(cell.number_input, n_head.label, min_value=1, max_value=int(n_head.high),
                       step=int(n_head.step), key=n_head.state_key, help=_sentence(worded(n_head.help, ds)))
    if schema.applies(counts.name, values):
        persistent(sb.text_input, counts.label, key=counts.state_key, help=_sentence(worded(counts.help, ds)),
                   placeholder="4000,2000,1000,750,500,350,200,100,60,40")
    if ds.name == DEFAULT_DATASET:
        order_help = "Long tail: the digits, head first (2 to 10 distinct digits)."
    else:
        order_help = (f"Long tail: the {ds.nouns} by their numbers, head first (2 to 10 distinct numbers 0-"
                      f"{ds.n_classes - 1}): {_class_list(ds)}.")
    persistent(sb.text_input, worded(order.label, ds), key=order.state_key, help=order_help)
    if ds.name != DEFAULT_DATASET:
        try:
            shown = [ds.class_label(int(c)) for c in str(st.session_state[order.state_key]).strip()]
        except (ValueError, IndexError):
            shown = []
        if shown:
            sb.caption(f"Head first: {', '.join(shown)}")


def _pair_widgets(sb, ds: Dataset) -> None:
    """The class pair (shown with the dataset's class names) and its counts (the minority
    as a count or a ratio)."""
    majority, minority, n_majority, n_minority = (schema.get(n) for n in ("majority", "minority", "n_majority", "n_minority"))
    c1, c2 = sb.columns(2)
    classes = list(range(ds.n_classes))
    persistent(c1.selectbox, worded(majority.label, ds), classes, format_func=ds.class_label, key=majority.state_key)
    persistent(c2.selectbox, worded(minority.label, ds), classes, format_func=ds.class_label, key=minority.state_key,
               help=f"Must differ from the majority {ds.noun}.")
    maj, mnr = st.session_state[majority.state_key], st.session_state[minority.state_key]
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
    st.session_state.pop(_FIT_NOTES, None)
    st.session_state.pop(_UPLOAD_REFUSED, None)


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
    """The labels as the dataset names its classes (the pair: index 0 = majority, 1 =
    minority): MNIST's ``6``, Fashion-MNIST's ``6 (Shirt)`` (``Dataset.class_label``)."""
    ds = config.dataset_record
    return tuple(ds.class_label(c) for c in config.classes)


def config_json(config: ExperimentConfig) -> str:
    """A hashable stand-in for the config (a dict field makes the dataclass unhashable)."""
    return json.dumps(config.to_dict(), sort_keys=True)


def config_from_json(text: str) -> ExperimentConfig:
    return ExperimentConfig.from_dict(json.loads(text))


def generators_of(settings: "Settings") -> list[str]:
    """The generators the chosen approaches use, in order."""
    from vaeimb.running.recipes import build_approaches

    return list(dict.fromkeys(a.recipe.gen for a in build_approaches(settings.approaches, settings.config) if a.recipe.gen))
