"""The Atlas page's table: the shipped atlas plus the user's own cells, read again only when
a file changes, and extended from the page with a progress bar.

The user's cells live beside the result cache (``<cache>/atlas``), so they survive the app
and a cleared cache keeps them apart from the shipped atlas, which stays read-only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from vaeimb.declarations.errors import ConfigError, VaeimbError
from vaeimb.declarations.labels import cell_label
from vaeimb.running.cache import ResultCache
from vaeimb.studies.atlas.runs import run_atlas, jobs_per_cell
from vaeimb.studies.atlas import (
    META_FILE,
    SHIPPED_DIR,
    TABLE_FILE,
    Atlas,
    base_config,
    load_atlas,
    merge_atlases,
)

from .runs import app_executor, cache_root, data_dir, ensure_mnist

#: Overrides the shipped atlas's folder (the tests point it at a tiny atlas).
ATLAS_DIR_ENV = "VAEIMB_ATLAS_DIR"


def shipped_dir() -> Path:
    return Path(os.environ.get(ATLAS_DIR_ENV, "").strip() or SHIPPED_DIR)


def user_dir() -> Path:
    return Path(cache_root()) / "atlas"


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


def _read(folder: Path, what: str, loaded: Loaded) -> Atlas | None:
    stamp = _stamp(folder)
    if stamp == (None, None):
        return None
    try:
        return _load(str(folder), stamp)
    except VaeimbError as err:
        loaded.errors.append(f"The {what} cannot be read: {err}")
        return None


def current_atlas() -> Loaded:
    """The shipped atlas merged with the user's cells; either may be absent or unreadable."""
    loaded = Loaded(None)
    shipped = _read(shipped_dir(), "shipped atlas", loaded)
    user = loaded.user = _read(user_dir(), f"atlas of your own cells ({user_dir()})", loaded)
    if shipped is None and user is None:
        return loaded
    if shipped is None:
        loaded.notes.append(f"No shipped atlas in {shipped_dir()}; showing only the cells you ran.")
        loaded.atlas = user
    elif user is None:
        loaded.atlas = shipped
    else:
        try:
            loaded.atlas = merge_atlases(shipped, user)
        except ConfigError as err:
            loaded.errors.append(f"Your own cells ({user_dir()}) are not shown: {err} Extending the atlas "
                                 "replaces them with cells at the shipped atlas's budget.")
            loaded.atlas, loaded.user = shipped, None
    return loaded


def extend_atlas(atlas: Atlas, user: Atlas | None, pairs, ratio: float, approaches) -> list[str]:
    """Run the missing cells at the atlas's own budget and seeds with a progress bar, and
    merge them into the user's atlas; returns the failures (one line each)."""
    ensure_mnist()  # a first download says so, and a refused one is one error, before the progress box
    base = base_config(atlas)
    seeds = atlas.seeds
    approaches = list(dict.fromkeys(approaches))
    total = max(1, len(pairs) * jobs_per_cell(base, approaches, seeds))
    with st.status(f"Running {len(pairs)} pair(s) at ratio {ratio:g}…", expanded=True) as status:
        now = st.empty()
        bar = st.progress(0.0, text=f"0/{total} jobs finished")
        finished: set = set()
        shown = [None]

        def on_progress(e) -> None:
            if e.status in ("done", "cached", "failed"):
                finished.add((e.where, e.job, e.seed))
                bar.progress(min(1.0, len(finished) / total), text=f"{len(finished)}/{total} jobs finished")
            elif e.status == "running":
                state = (e.where, e.job, e.seed, (20 * e.done) // max(e.total, 1))
                if state != shown[0]:  # redraw in 5 % steps: fewer websocket messages
                    shown[0] = state
                    now.markdown(f"{e.where}: training {e.job} (seed {e.seed}), step {e.done}/{e.total}")

        try:
            new, failures = run_atlas(base, pairs, [ratio], approaches, seeds, cache=ResultCache(cache_root()),
                                      data_dir=data_dir(), executor=app_executor(), progress=on_progress,
                                      command="the Atlas page's 'Extend this atlas'")
        except Exception:
            status.update(label="Atlas run stopped", state="error", expanded=True)
            raise
        try:
            merged = merge_atlases(user, new) if user is not None else merge_atlases(new)
        except ConfigError:
            merged = merge_atlases(new)  # the old cells ran another budget: the page no longer shows them
        merged.write(user_dir())
        now.empty()
        bar.progress(1.0, text=f"{len(pairs)} pair(s) added to {user_dir()}")
        status.update(label=f"Added {len(pairs)} pair(s) ({', '.join(cell_label(*p, ratio) for p in pairs[:3])}"
                            f"{', …' if len(pairs) > 3 else ''})", state="complete", expanded=False)
    return failures
