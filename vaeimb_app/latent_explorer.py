"""Streamlit glue for the in-browser latent explorer (Components v2, inline JS and CSS).

The decoder spec (``vaeimb.presentation.latent_js.decoder_spec``, exported with the generator's latent view
by a child process: no torch here) goes to the browser with the page, and
``latent_explorer.js`` decodes every slider step there: dragging costs no server round
trip. The code comes back to Python (one rerun) when a slider is released or a button is
pressed. The component's data is the same JSON string on every rerun for one (VAE, seed),
so the browser keeps the mounted explorer and does not decode the weights again.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from vaeimb.presentation.latent_js import UnsupportedDecoder, browser_spec
from vaeimb.presentation.latent_view import LatentView

JS = Path(__file__).with_name("latent_explorer.js").read_text(encoding="utf-8")
CSS = """
.lx { display: flex; flex-wrap: wrap; gap: 1.5rem; font-family: var(--st-font, sans-serif);
      color: var(--st-text-color, inherit); }
.lx-controls { flex: 3 1 18rem; min-width: 16rem; }
.lx-figure { flex: 0 0 auto; }
.lx-buttons { display: flex; gap: 0.5rem; margin-bottom: 0.5rem; }
.lx-buttons button { flex: 1; padding: 0.4rem 0.75rem; font: inherit; cursor: pointer;
      color: inherit; background: var(--st-background-color, transparent);
      border: 1px solid var(--st-border-color, rgba(128, 128, 128, 0.4)); border-radius: 0.5rem; }
.lx-buttons button:hover, .lx-buttons button:focus-visible { border-color: var(--st-primary-color, #ff4b4b);
      color: var(--st-primary-color, #ff4b4b); }
.lx-row { display: grid; grid-template-columns: 9.5rem 1fr 3rem; align-items: center; gap: 0.5rem; }
.lx-row label { font-size: 0.875rem; white-space: nowrap; }
.lx-row input[type=range] { width: 100%; accent-color: var(--st-primary-color, #ff4b4b); }
.lx-row output { font-variant-numeric: tabular-nums; text-align: right; font-size: 0.875rem; }
.lx-caption { font-size: 0.875rem; opacity: 0.7; margin: 0.25rem 0 0.5rem; }
.lx-more summary { cursor: pointer; margin: 0.5rem 0; font-size: 0.875rem; }
.lx-canvas { display: block; image-rendering: pixelated; border-radius: 0.25rem; }
:focus-visible { outline: 2px solid var(--st-primary-color, #ff4b4b); outline-offset: 2px; }
"""

COMPONENT_NAME = "vaeimb_latent_explorer"
_mount = st.components.v2.component(COMPONENT_NAME, js=JS, css=CSS)


@st.cache_data(max_entries=16, show_spinner=False)
def cached_decoder_spec(key: str, _view: LatentView) -> dict:
    """The view's decoder spec once per ``key`` (the generator, seed and label), checked for
    the browser (``latent_js.browser_spec``: ``UnsupportedDecoder`` says why not): every
    rerun sends the identical string."""
    if _view.spec is None:
        raise UnsupportedDecoder(_view.spec_error or f"the {_view.name} generator's decoder was not exported.")
    return browser_spec(_view.spec)


def explorer_data(
    spec: dict,
    *,
    order,
    kl,
    ranges,
    mean,
    seed: int,
    n_active: int,
    max_shown: int = 8,
    step: float = 0.05,
    image_caption: str = "decoded image",
) -> dict[str, Any]:
    """Everything the component draws, in one JSON-able dict.

    ``order``: latent dimensions, most informative (highest KL) first; the first
    ``min(n_active, max_shown)`` (at least one) get sliders, the rest go behind a toggle.
    """
    latent_dim = spec["latent_dim"]
    order = [int(d) for d in order]
    if sorted(order) != list(range(latent_dim)):
        raise ValueError(f"order must list each of the {latent_dim} latent dimensions once.")
    n_shown = max(1, min(int(n_active), max_shown, latent_dim))
    dims = [{"index": d, "label": f"z[{d}]  (KL {float(kl[d]):.2f})",
             "min": float(ranges[d][0]), "max": float(ranges[d][1])} for d in order]
    n_hidden = latent_dim - n_shown
    n_inactive = latent_dim - int(n_active)
    return {
        "spec": spec,
        "dims": dims,
        "n_shown": n_shown,
        "mean": [float(np.clip(mean[d], ranges[d][0], ranges[d][1])) for d in range(latent_dim)],
        "seed": int(seed),
        "step": float(step),
        "scale": 8,
        "caption": f"{int(n_active)} of {latent_dim} dimensions active (KL > 0.05 nats); the most informative "
                   "(highest KL) first. The image is decoded in your browser as you drag.",
        "more_label": f"{n_hidden} more dimension(s), {n_inactive} of them inactive (the decoder ignores those)",
        "image_caption": image_caption,
    }


def parse_code(value: Any, data: dict) -> np.ndarray:
    """The code the browser sent, checked: a list of ``latent_dim`` finite numbers, each
    clipped to its slider's range. Raises ``ValueError`` saying what is wrong."""
    latent_dim = data["spec"]["latent_dim"]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"expected a list of {latent_dim} numbers, got {type(value).__name__}")
    if len(value) != latent_dim:
        raise ValueError(f"expected {latent_dim} numbers, got {len(value)}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        raise ValueError("every entry must be a finite number")
    lo = np.empty(latent_dim)
    hi = np.empty(latent_dim)
    for d in data["dims"]:
        lo[d["index"]], hi[d["index"]] = d["min"], d["max"]
    return np.clip(np.asarray(value, np.float64), lo, hi).astype(np.float32)


def latent_explorer(data: dict, *, key: str) -> np.ndarray | None:
    """Mount the explorer; returns the last code the browser sent back, or None before the
    first one (or when what came back is malformed: that is shown as a warning)."""
    result = _mount(key=key, data=data, default={"code": None}, on_code_change=lambda: None)
    value = result.get("code")
    if value is None:
        return None
    try:
        return parse_code(value, data)
    except ValueError as err:
        st.warning(f"Ignored the latent code the browser sent back ({err}); showing the mean code instead.")
        return None
