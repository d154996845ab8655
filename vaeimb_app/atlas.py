"""The Atlas page's table: the shipped atlas plus the user's own cells, read again only when
a file changes, and extended from the page with a progress bar.

The user's cells live beside the result cache (``<cache>/atlas``; another dataset's in
``<cache>/atlas-<dataset>``), so they survive the app and a cleared cache keeps them apart
from the shipped atlas, which stays read-only. An atlas is one dataset's: the shipped one
(MNIST's) is shown only when the sidebar's dataset is its own; another dataset's atlas is
made of the cells the user computes from the page, at the shipped atlas's budget. The
cells are trained in a child process as a Run is (``vaeimb.interfaces.app_runs``), so this
server stays torch-free, and merged into the user's atlas under a file lock: two tabs
extending it at once lose neither's cells.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st
from filelock import FileLock

from vaeimb.declarations.datasets import DATASETS, DEFAULT_DATASET, Dataset
from vaeimb.declarations.errors import ConfigError, VaeimbError
from vaeimb.declarations.labels import cell_label, ratio_label
from vaeimb.interfaces import app_runs
from vaeimb.running.cache import ResultCache
from vaeimb.studies.atlas import (
    META_FILE,
    SHIPPED_DIR,
    TABLE_FILE,
    Atlas,
    base_config,
    load_atlas,
    merge_atlases,
)

from .atlas_view import class_pair, class_pairs, resolve_view, start_note
from .runs import (
    DOWNLOAD_MB,
    cache_root,
    data_dir,
    data_location,
    ensure_images,
    export_folder,
    run_workers,
)
from .settings import errors_shown

#: Overrides the shipped atlas's folder (the tests point it at a tiny atlas).
ATLAS_DIR_ENV = "VAEIMB_ATLAS_DIR"
#: What an extension's provenance names as its command.
EXTEND_COMMAND = "the Atlas page's 'Extend this atlas'"


def shipped_dir() -> Path:
    return Path(os.environ.get(ATLAS_DIR_ENV, "").strip() or SHIPPED_DIR)


def user_dir(dataset: str = DEFAULT_DATASET) -> Path:
    """Where the user's own cells of ``dataset``'s atlas live (MNIST's where they always did)."""
    return Path(cache_root()) / ("atlas" if dataset == DEFAULT_DATASET else f"atlas-{dataset.replace(':', '-')}")  # file:<hash>: no colon in a folder name


def atlas_dataset_record(atlas: Atlas) -> Dataset:
    """The declared dataset an atlas's cells ran on (MNIST's for one not declared here)."""
    return DATASETS.get(atlas_dataset(atlas), DATASETS[DEFAULT_DATASET])


def atlas_dataset(atlas: Atlas) -> str:
    """The dataset an atlas's cells ran on (its budget's; an atlas that predates datasets: MNIST)."""
    return str((atlas.meta.get("budget") or {}).get("dataset", DEFAULT_DATASET))


def _stamp(folder: Path) -> tuple:
    """What changes when either file is rewritten: the cache key of a loaded atlas."""
    out = []
    for name in (TABLE_FILE, META_FILE):
        try:
            st_ = (folder / name).stat()
            out.append((st_.st_mtime_ns, st_.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


@st.cache_data(max_entries=8, show_spinner=False)
def _load(folder: str, stamp: tuple) -> Atlas:
    return load_atlas(folder)


@dataclass
class Loaded:
    """The atlas to show (None when there is none) and why parts of it may be missing."""

    atlas: Atlas | None
    user: Atlas | None = None
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: The shipped atlas when it is another dataset's than the one asked for (not shown:
    #: its budget, seeds and approaches are what the page offers to compute this one's at).
    other: Atlas | None = None


def _read(folder: Path, what: str, loaded: Loaded) -> Atlas | None:
    stamp = _stamp(folder)
    if stamp == (None, None):
        return None
    try:
        return _load(str(folder), stamp)
    except VaeimbError as err:
        loaded.errors.append(f"The {what} cannot be read: {err}")
        return None


def current_atlas(dataset: str = DEFAULT_DATASET) -> Loaded:
    """``dataset``'s atlas: the shipped atlas (when it is that dataset's) merged with the
    user's cells of that dataset; either may be absent or unreadable."""
    loaded = Loaded(None)
    shipped = _read(shipped_dir(), "shipped atlas", loaded)
    if shipped is not None and atlas_dataset(shipped) != dataset:
        loaded.other, shipped = shipped, None
    folder = user_dir(dataset)
    user = loaded.user = _read(folder, f"atlas of your own cells ({folder})", loaded)
    if shipped is None and user is None:
        return loaded
    if shipped is None and loaded.other is not None:
        loaded.atlas = user  # the page says the shipped atlas is another dataset's
    elif shipped is None:
        loaded.notes.append(f"No shipped atlas in {shipped_dir()}; showing only the cells you ran.")
        loaded.atlas = user
    elif user is None:
        loaded.atlas = shipped
    else:
        try:
            loaded.atlas = merge_atlases(shipped, user)
        except ConfigError as err:
            loaded.errors.append(f"Your own cells ({folder}) are not shown: {err} Extending the atlas "
                                 "replaces them with cells at the shipped atlas's budget.")
            loaded.atlas, loaded.user = shipped, None
    return loaded


def _merge_into_user(new: Atlas) -> Atlas:
    """Merge ``new`` into the user's atlas of its dataset as it is on disk now, under a lock:
    a second tab extending it meanwhile keeps its cells (each merges into what the other wrote)."""
    folder = user_dir(atlas_dataset(new))
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".atlas.lock")):
        try:
            user = load_atlas(folder) if _stamp(folder) != (None, None) else None
        except VaeimbError:
            user = None  # unreadable: replaced by the new cells (the page said it cannot read it)
        try:
            merged = merge_atlases(user, new) if user is not None else merge_atlases(new)
        except ConfigError:
            merged = merge_atlases(new)  # the old cells ran another budget: the page no longer shows them
        merged.write(folder)
    return merged


def extend_atlas(atlas: Atlas, pairs, ratio: float, approaches, dataset: str | None = None) -> list[str]:
    """Run the missing cells at the atlas's own budget and seeds with a progress bar (in a
    child process; in this one when ``VAEIMB_APP_WORKERS=0``), and merge them into the
    user's atlas of their dataset; returns the failures (one line each). ``dataset``: run
    the cells on that dataset instead of the atlas's own (the first cells of its atlas)."""
    base = base_config(atlas)
    if dataset is not None:
        base = base.replace(dataset=dataset)
    ensure_images(base.dataset)  # a first download says so, and a refused one is one error, before the progress box
    seeds = atlas.seeds
    approaches = list(dict.fromkeys(approaches))
    workers = run_workers()
    with st.status(f"Running {len(pairs)} pair(s) at ratio {ratio:g}…", expanded=True) as status:
        now = st.empty()
        bar = st.progress(0.0, text="starting")
        total = [1]
        finished: set = set()
        shown = [None]

        def on_plan(jobs: list[str]) -> None:  # one cell's jobs
            total[0] = max(1, len(pairs) * len(jobs) * len(seeds))
            bar.progress(0.0, text=f"0/{total[0]} jobs finished")

        def on_progress(e) -> None:
            if e.status in ("done", "cached", "failed"):
                finished.add((e.where, e.job, e.seed))
                bar.progress(min(1.0, len(finished) / total[0]), text=f"{min(len(finished), total[0])}/{total[0]} jobs finished")
            elif e.status == "running":
                state = (e.where, e.job, e.seed, (20 * e.done) // max(e.total, 1))
                if state != shown[0]:  # redraw in 5 % steps: fewer websocket messages
                    shown[0] = state
                    now.markdown(f"{e.where}: training {e.job} (seed {e.seed}), step {e.done}/{e.total}")

        try:
            if workers < 1:
                from vaeimb.running.executor import (
                    InProcess,  # torch: this server trains
                )
                from vaeimb.studies.atlas.runs import (  # torch: this server trains
                    jobs_per_cell,
                    run_atlas,
                )

                total[0] = max(1, len(pairs) * jobs_per_cell(base, approaches, seeds))
                new, failures = run_atlas(base, pairs, [ratio], approaches, seeds, cache=ResultCache(cache_root()),
                                          data_dir=data_dir(), executor=InProcess(), progress=on_progress,
                                          command=EXTEND_COMMAND)
            else:  # in a child process, as a Run
                out = export_folder("atlas", base.to_dict(), [list(p) for p in pairs], ratio, approaches, list(seeds))
                new = app_runs.atlas_in_child(base, pairs, [ratio], approaches, seeds, out, cache_root=cache_root(),
                                              data_dir=data_dir(), workers=workers, command=EXTEND_COMMAND,
                                              progress=on_progress, on_plan=on_plan)
                failures = list(new.meta.get("failures", []))
        except Exception:
            status.update(label="Atlas run stopped", state="error", expanded=True)
            raise
        _merge_into_user(new)
        now.empty()
        bar.progress(1.0, text=f"{len(pairs)} pair(s) added to {user_dir(base.dataset)}")
        status.update(label=f"Added {len(pairs)} pair(s) ({', '.join(cell_label(*p, ratio) for p in pairs[:3])}"
                            f"{', …' if len(pairs) > 3 else ''})", state="complete", expanded=False)
    return failures


def start_atlas(other: Atlas, ds: Dataset) -> None:
    """Nothing of ``ds`` to show, the shipped atlas (``other``) being another dataset's: say
    so, and offer to compute ``ds``'s pairs at the shipped atlas's budget and seeds."""
    theirs = atlas_dataset_record(other)
    root, found = data_location(ds.name)
    data = (f"{ds.title} is read from {found}." if found is not None else
            f"{ds.title} is downloaded once on the first run (about {DOWNLOAD_MB.get(ds.name, 30)} MB, into {root}).")
    st.info(start_note(ds, theirs, len(other.seeds), user_dir(ds.name), data), icon=":material/info:")
    a0, b0, r0, _ = resolve_view(other)[0]
    st.session_state.setdefault("atlas_new_a", a0)
    st.session_state.setdefault("atlas_new_b", b0)
    st.session_state.setdefault("atlas_new_ratio", r0)
    c1, c2, c3 = st.columns([2, 2, 1])
    a = c1.selectbox("Approach A", other.approaches, key="atlas_new_a")
    b = c2.selectbox("Approach B", other.approaches, key="atlas_new_b")
    ratio = c3.selectbox("Minority ratio", other.ratios, format_func=ratio_label, key="atlas_new_ratio")
    pairs = st.multiselect(f"{ds.title} pairs (majority vs minority)", class_pairs(ds.n_classes),
                           format_func=lambda p: class_pair(ds, p), key="atlas_new_pairs")
    st.caption(f"{len(pairs)} pair(s) × 2 approaches × {len(other.seeds)} seeds; each pair takes about as long as "
               "one Experiment run.")
    if a == b:
        st.info("Choose two different approaches for A and B.")
    if st.button("Run the chosen pairs", type="primary", disabled=not pairs or a == b, key="atlas_new_run"):
        with errors_shown(stop=False):
            st.session_state["_atlas_failures"] = extend_atlas(other, list(pairs), ratio, [a, b], dataset=ds.name)
            st.rerun()
