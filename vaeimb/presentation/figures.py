"""Plotly figures and image helpers for the dashboard (pure functions, no Streamlit).

Every chart the app draws is built here from results or arrays, so it can be unit-tested
on its data and reused outside the app (a notebook, a report).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import plotly.graph_objects as go

from ..declarations.labels import ratio_label
from ..parts.metrics import METRICS
from ..running.results import ExperimentResult, RunResult
from ..statistics.stats import GAP_CLOSED, GAP_LABEL, describe
from ..studies.atlas import cell_words
from .report import QUALITY_METRICS, reported_misclassified

if TYPE_CHECKING:  # annotations only: both load torch, which the Experiment page's server never needs
    from ..studies.sweep import SweepResult
    from .latent import LatentMap

#: One colour per approach, stable across charts (Plotly's default qualitative palette).
APPROACH_COLOURS = {
    "baseline": "#636EFA",
    "threshold": "#AB63FA",
    "oversample": "#EF553B",
    "vae": "#00CC96",
    "oracle": "#FFA15A",
}
KIND_COLOURS = {"real minority": "#EF553B", "generated": "#00CC96", "majority": "#636EFA"}
REPORTED_COLOUR = "#7f7f7f"

#: Sweep metrics the dashboard offers: name -> (axis title, metric it derives from).
SWEEP_METRICS = {
    "misclassified": ("Misclassified test images", "misclassified"),
    "balanced_error": ("Balanced error (1 - balanced accuracy)", "balanced_accuracy"),
    GAP_CLOSED: (GAP_LABEL, GAP_CLOSED),
}


#: Plotly's qualitative palette, for approaches without a fixed colour.
_PALETTE = ("#19D3F3", "#FF6692", "#B6E880", "#FF97FF", "#FECB52", "#1F77B4", "#8C564B", "#BCBD22", "#17BECF", "#E377C2")


def approach_colour(name: str) -> str:
    """A fixed colour for the classic approaches; any other name gets a stable palette colour."""
    if name in APPROACH_COLOURS:
        return APPROACH_COLOURS[name]
    import zlib

    return _PALETTE[zlib.crc32(name.encode()) % len(_PALETTE)]


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


# --------------------------------------------------------------------------------------
# Experiment results
# --------------------------------------------------------------------------------------
def misclassified_bars(result: ExperimentResult) -> go.Figure:
    """Mean misclassified test images per approach, error bars = sd over seeds.

    For the reference setup the original post's single-seed counts are drawn beside ours,
    in grey, so the two can be compared at a glance; elsewhere they do not apply.
    """
    summary = result.summary()
    names = list(summary)
    means = [summary[n]["misclassified"].mean for n in names]
    stds = [summary[n]["misclassified"].std for n in names]
    seeds = [summary[n]["misclassified"].n for n in names]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        name=f"this run (mean over {max(seeds, default=0)} seed(s))",
        x=names, y=means,
        error_y=dict(type="data", array=stds, visible=max(seeds, default=0) > 1),
        marker_color=[approach_colour(n) for n in names],
        hovertemplate="%{x}: %{y:.1f} misclassified<extra></extra>",
    ))
    reported = {n: reported_misclassified(result, n) for n in names}
    reported = {n: v for n, v in reported.items() if v is not None}
    if reported:
        fig.add_trace(go.Bar(
            name="originally reported (1 seed, leaky VAE)",
            x=list(reported), y=list(reported.values()),
            marker_color=REPORTED_COLOUR,
            hovertemplate="%{x}: %{y} reported<extra></extra>",
        ))
    n_test = result.n_test
    if result.config.leaky:
        fig.update_layout(title=dict(text="LEAKY protocol: the VAE saw the test images", font=dict(color="#B42318")))
    fig.update_layout(
        barmode="group",
        yaxis_title=f"Misclassified test images{f' (of {n_test})' if n_test else ''}",
        xaxis_title="Approach",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
        margin=dict(t=40, b=40, l=60, r=20),
        height=380,
    )
    return fig


def mean_confusion(runs: Iterable[RunResult]) -> np.ndarray:
    """The confusion matrix averaged over seeds (rows = true, columns = predicted)."""
    mats = [r.confusion for r in runs]
    if not mats:
        raise ValueError("No runs to average.")
    return np.mean(np.stack(mats).astype(np.float64), axis=0)


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its total: the share of each true class given each prediction."""
    m = np.asarray(matrix, dtype=np.float64)
    totals = m.sum(1, keepdims=True)
    return np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)


def confusion_heatmap(
    matrix: np.ndarray, class_names: Sequence[str], *, title: str = "", normalised: bool = False
) -> go.Figure:
    """A K x K heatmap with the value written in each cell (counts or row shares)."""
    z = normalise_rows(matrix) if normalised else np.asarray(matrix, dtype=np.float64)
    big = len(class_names) > 4
    text = [[(f"{v:.0%}" if big else f"{v:.1%}") if normalised else f"{v:.4g}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=z, x=[f"pred {c}" for c in class_names], y=[f"true {c}" for c in class_names],
        text=text, texttemplate="%{text}", colorscale="Blues", showscale=False,
        zmin=0, zmax=1 if normalised else None,
        hovertemplate="%{y}, %{x}: %{text}<extra></extra>",
    ))
    fig.update_layout(
        title=dict(text=title, x=0.5, xanchor="center"), height=420 if big else 280,
        margin=dict(t=40, b=20, l=20, r=20), yaxis=dict(autorange="reversed"),
    )
    if big:
        fig.update_traces(textfont=dict(size=9))
    return fig


def per_class_recall(result: ExperimentResult, subset: str | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Approach -> {"recall": mean recall of each label over seeds, "std": its sd, "n": seeds},
    on the test set or a named subset of it (``RunResult.per_class``)."""
    out = {}
    for name, by_seed in result.runs.items():
        if not by_seed:
            continue
        rec = np.stack([r.per_class(subset)["recall"] for r in by_seed.values()])
        out[name] = {"recall": rec.mean(0), "std": rec.std(0, ddof=1) if len(rec) > 1 else np.zeros(rec.shape[1]),
                     "n": len(rec)}
    return out


def recall_by_count(result: ExperimentResult, subset: str | None = None) -> go.Figure:
    """Per-class recall against the class's training count (log x), one line per approach,
    error bars = sd over seeds: where along the tail each remedy helps."""
    counts = np.asarray(result.config.class_counts, np.float64)
    ds = result.config.dataset_record
    labels = [ds.class_label(c) for c in result.config.classes]
    fig = go.Figure()
    for name, r in per_class_recall(result, subset).items():
        fig.add_trace(go.Scatter(
            x=counts, y=100 * r["recall"], mode="lines+markers", name=name,
            error_y=dict(type="data", array=100 * r["std"], visible=r["n"] > 1),
            line=dict(color=approach_colour(name)), customdata=np.asarray(labels),
            hovertemplate=f"{name}: {ds.noun} %{{customdata}} (%{{x:.0f}} training images), recall %{{y:.1f}} %<extra></extra>",
        ))
    fig.update_layout(
        xaxis=dict(title="Training images of the class (log scale)", type="log"),
        yaxis=dict(title=f"Recall on the {subset or result.config.test_plan.name} test set (%)"),
        height=400, margin=dict(t=30, b=40, l=60, r=20),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    return fig


def learning_curves(result: ExperimentResult) -> go.Figure:
    """Misclassified test images against training step, one line per approach.

    The line is the mean over seeds and the shaded band the min-max over seeds, so the
    reader sees how much a single-checkpoint reading (as in the original) can move.
    """
    fig = go.Figure()
    for name, by_seed in result.runs.items():
        if not by_seed:
            continue
        runs = list(by_seed.values())
        steps = runs[0].checkpoint_steps
        curves = np.stack([r.curve_errors for r in runs]).astype(np.float64)
        colour = approach_colour(name)
        if len(runs) > 1:
            fig.add_trace(go.Scatter(
                x=np.concatenate([steps, steps[::-1]]),
                y=np.concatenate([curves.max(0), curves.min(0)[::-1]]),
                fill="toself", fillcolor=_rgba(colour, 0.2), line=dict(width=0),
                hoverinfo="skip", showlegend=False, name=f"{name} range",
            ))
        fig.add_trace(go.Scatter(
            x=steps, y=curves.mean(0), mode="lines+markers", name=name,
            line=dict(color=colour), hovertemplate=f"{name}: step %{{x}}, %{{y:.1f}}<extra></extra>",
        ))
    fig.update_layout(
        xaxis_title="Training step", yaxis_title="Misclassified test images",
        height=380, margin=dict(t=30, b=40, l=60, r=20),
    )
    return fig


# --------------------------------------------------------------------------------------
# Sweep
# --------------------------------------------------------------------------------------
def sweep_figure(sweep: SweepResult, metric: str = "misclassified") -> go.Figure:
    """A metric against the minority ratio (log x axis), mean line and a ±sd band per approach."""
    if metric not in SWEEP_METRICS:
        raise ValueError(f"Unknown sweep metric {metric!r}; choose from {', '.join(SWEEP_METRICS)}.")
    title, source = SWEEP_METRICS[metric]
    rows = sweep.rows(source)
    fig = go.Figure()
    for name in dict.fromkeys(r["approach"] for r in rows):
        pts = sorted((r for r in rows if r["approach"] == name), key=lambda r: r["ratio"])
        x = np.array([r["ratio"] for r in pts])
        mean = np.array([r["mean"] for r in pts], dtype=np.float64)
        std = np.nan_to_num(np.array([r["std"] for r in pts], dtype=np.float64))
        if source == "balanced_accuracy":  # balanced error = 1 - balanced accuracy; the sd is unchanged
            mean = 1.0 - mean
        colour = approach_colour(name)
        if any(r["n_seeds"] > 1 for r in pts):
            fig.add_trace(go.Scatter(
                x=np.concatenate([x, x[::-1]]), y=np.concatenate([mean + std, (mean - std)[::-1]]),
                fill="toself", fillcolor=_rgba(colour, 0.2), line=dict(width=0),
                hoverinfo="skip", showlegend=False, name=f"{name} ±sd",
            ))
        fig.add_trace(go.Scatter(
            x=x, y=mean, mode="lines+markers", name=name, line=dict(color=colour),
            customdata=[r["n_minority"] for r in pts],
            hovertemplate=f"{name}: ratio %{{x:.2%}} (%{{customdata}} minority), %{{y:.3g}}<extra></extra>",
        ))
    fig.update_layout(
        xaxis=dict(type="log", title="Minority ratio (n_minority / n_majority)", tickformat=".1%"),
        yaxis_title=title, height=420, margin=dict(t=30, b=50, l=60, r=20),
    )
    return fig


# --------------------------------------------------------------------------------------
# Latent space
# --------------------------------------------------------------------------------------
def latent_map_figure(lmap: LatentMap, highlight: int | None = None) -> go.Figure:
    """Scatter of the 2-D latent map coloured by kind; ``highlight`` rings one point."""
    fig = go.Figure()
    index = np.arange(len(lmap.kinds))
    for kind in ("majority", "generated", "real minority"):
        sel = lmap.kinds == kind
        if not sel.any():
            continue
        fig.add_trace(go.Scattergl(
            x=lmap.coords[sel, 0], y=lmap.coords[sel, 1], mode="markers", name=kind,
            marker=dict(color=KIND_COLOURS[kind], size=6, opacity=0.7),
            customdata=index[sel], hovertemplate=f"{kind} #%{{customdata}}<extra></extra>",
        ))
    if highlight is not None and 0 <= highlight < len(index):
        fig.add_trace(go.Scatter(
            x=[lmap.coords[highlight, 0]], y=[lmap.coords[highlight, 1]], mode="markers",
            name=f"point #{highlight}",
            marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(color="black", width=2)),
            hoverinfo="skip",
        ))
    if lmap.method == "pca" and lmap.explained:
        xt = f"PC 1 ({lmap.explained[0]:.0%} of variance)"
        yt = f"PC 2 ({lmap.explained[1]:.0%} of variance)"
    else:
        xt, yt = f"{lmap.method} 1", f"{lmap.method} 2"
    fig.update_layout(
        xaxis_title=xt, yaxis_title=yt, height=460, margin=dict(t=30, b=40, l=60, r=20),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    return fig


# --------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------
def to_uint8(images: np.ndarray) -> np.ndarray:
    """Decoder output in [0, 1] (or uint8 already) -> uint8 pixels."""
    a = np.asarray(images)
    if a.dtype == np.uint8:
        return a
    return np.clip(np.rint(a.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)


def upscale(image: np.ndarray, factor: int = 4) -> np.ndarray:
    """Nearest-neighbour enlargement, so 28x28 digits stay crisp in the browser."""
    if factor < 1:
        raise ValueError("factor must be at least 1")
    img = to_uint8(image)
    return np.repeat(np.repeat(img, factor, axis=-2), factor, axis=-1)


def image_grid(images: np.ndarray, n_cols: int, *, pad: int = 2, factor: int = 2) -> np.ndarray:
    """Tile (n, h, w) images into one uint8 array: one element on the page, not n."""
    imgs = to_uint8(images)
    if imgs.ndim != 3 or len(imgs) == 0:
        raise ValueError("image_grid needs a non-empty (n, h, w) array.")
    n, h, w = imgs.shape
    n_cols = max(1, min(n_cols, n))
    n_rows = -(-n // n_cols)
    grid = np.full((n_rows * (h + pad) + pad, n_cols * (w + pad) + pad), 255, np.uint8)
    for i, img in enumerate(imgs):
        r, c = divmod(i, n_cols)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = img
    return upscale(grid, factor)


def png_bytes(image: np.ndarray, factor: int = 1) -> bytes:
    """A uint8 or [0, 1] image as PNG bytes (for downloads or HTML)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(upscale(image, factor)).save(buf, format="PNG")
    return buf.getvalue()


def misclassified_gallery(
    run: RunResult, test_images: np.ndarray, class_names: Sequence[str], limit: int = 24
) -> tuple[list[np.ndarray], list[str]]:
    """The misclassified test images of one run with 'true / predicted (confidence)' captions.

    Most confident mistakes first: those are the ones worth looking at. ``test_images`` is
    MNIST's whole test split; ``run.test_index`` points into it.
    """
    mis = run.misclassified
    pred = run.predictions[mis]
    if run.n_classes == 2:
        p_min = run.probabilities[mis]
        conf = np.where(pred == 1, p_min, 1.0 - p_min)
    else:  # the softmax probability of the predicted class
        z = run.logits[mis].astype(np.float64)
        p = np.exp(z - z.max(1, keepdims=True))
        conf = (p / p.sum(1, keepdims=True))[np.arange(len(mis)), pred]
    order = np.argsort(-conf, kind="stable")[:limit]
    images, captions = [], []
    for k in order:
        i = mis[k]
        images.append(upscale(test_images[run.test_index[i]], 3))
        captions.append(
            f"true {class_names[run.test_y[i]]}, pred {class_names[pred[k]]} ({conf[k]:.0%})"
        )
    return images, captions


def metric_label(metric: str) -> str:
    return METRICS[metric][0] if metric in METRICS else SWEEP_METRICS[metric][0]


def quality_scatter(points: list[dict], metric: str) -> go.Figure:
    """Generator quality (x) against the classifier's misclassified count (y), one point
    per (generator preset, seed): does a better generator make a better classifier?"""
    fig = go.Figure()
    for name in dict.fromkeys(p["approach"] for p in points):
        pts = [p for p in points if p["approach"] == name]
        fig.add_trace(go.Scatter(
            x=[p[metric] for p in pts], y=[p["misclassified"] for p in pts], mode="markers", name=name,
            marker=dict(size=10, color=approach_colour(name)), text=[f"seed {p['seed']}" for p in pts],
            hovertemplate=f"{name}, %{{text}}<br>{metric} %{{x:.3f}}<br>%{{y}} misclassified<extra></extra>",
        ))
    label, higher = QUALITY_METRICS[metric]
    fig.update_layout(
        xaxis_title=f"{label} ({'higher' if higher else 'lower'} is better)",
        yaxis_title="Misclassified test images", height=360, margin=dict(t=30, b=40, l=60, r=20),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    return fig


# --------------------------------------------------------------------------------------
# Atlas
# --------------------------------------------------------------------------------------
#: Diverging colours of the atlas: B better (negative gain), no difference, A better.
ATLAS_COLOURS = ("#b2182b", "#f7f7f7", "#2166ac")


def _cell_hover(grid, i: int, j: int) -> str:
    gain, interval, verdict = cell_words(grid, i, j)
    return (f"<b>majority {i} vs minority {j}</b> at ratio {ratio_label(grid.ratio)}<br>{gain}<br>{interval}<br>"
            f"{int(grid.n[i, j])} seed(s); {METRICS[grid.metric][0]}: {grid.a} {grid.mean_a[i, j]:.4g}, "
            f"{grid.b} {grid.mean_b[i, j]:.4g}<br>{verdict}")


def star_legend(grid) -> str:
    """What a star on the map means: separated after the correction the grid applied."""
    if grid.correction == "none":
        return "95% interval excludes 0 (no correction)"
    return f"separated after {describe(grid.correction).split(' (')[0]}"


def atlas_heatmap(grid) -> go.Figure:
    """The atlas's 10 x 10 map (rows: majority digit, columns: minority digit) of the paired
    gain of A over B, centred on 0; a star marks each cell separated after the grid's correction.

    Plotly cannot select heatmap cells, so an invisible marker per cell with data carries
    the hover text and the cell's (majority, minority) as ``customdata``: clicking a cell
    selects it (``st.plotly_chart(on_select=...)``, read back with ``clicked_pair``).
    """
    gain = np.asarray(grid.gain, dtype=np.float64)
    have = ~np.isnan(gain)
    span = float(np.abs(gain[have]).max()) if have.any() else 1.0
    span = span if span > 0 else 1.0
    digits = list(range(10))
    fig = go.Figure(go.Heatmap(
        z=gain, x=digits, y=digits, zmin=-span, zmax=span, zmid=0, hoverinfo="skip", name="gain",
        colorscale=[[0.0, ATLAS_COLOURS[0]], [0.5, ATLAS_COLOURS[1]], [1.0, ATLAS_COLOURS[2]]],
        colorbar=dict(title=dict(text=f"gain<br>↑ {grid.a} better<br>↓ {grid.b} better", side="top")),
    ))
    sig = np.argwhere(np.asarray(grid.significant, bool) & have)
    fig.add_trace(go.Scatter(
        x=sig[:, 1], y=sig[:, 0], mode="markers", name=star_legend(grid), hoverinfo="skip",
        marker=dict(symbol="star", size=15, color="white", line=dict(color="black", width=1.5)),
        unselected=dict(marker=dict(opacity=1)),
    ))
    cells = np.argwhere(have)
    fig.add_trace(go.Scatter(
        x=cells[:, 1], y=cells[:, 0], mode="markers", name="pairs", showlegend=False,
        customdata=cells.tolist(), text=[_cell_hover(grid, i, j) for i, j in cells],
        hovertemplate="%{text}<extra></extra>",
        marker=dict(symbol="square", size=26, color="rgba(0,0,0,0)"),
        selected=dict(marker=dict(color="rgba(0,0,0,0.25)")), unselected=dict(marker=dict(opacity=0)),
    ))
    axis = dict(tickmode="array", tickvals=digits, range=[-0.5, 9.5], showgrid=False, zeroline=False)
    fig.update_layout(
        xaxis=dict(axis, title="Minority digit (the rare class)", side="top"),
        yaxis=dict(axis, title="Majority digit", range=[9.5, -0.5], scaleanchor="x"),  # 0 on top, as a matrix
        height=560, margin=dict(t=60, b=20, l=60, r=20), plot_bgcolor="#e8e8e8",
        showlegend=True, legend=dict(orientation="h", yanchor="top", y=-0.02, x=0),  # the star's meaning, always
        clickmode="event+select",
    )
    return fig


def clicked_pair(event) -> tuple[int, int] | None:
    """The (majority, minority) of the atlas cell a selection event picked (the last one
    when several), or None."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for p in reversed(list(points or [])):
        data = p.get("customdata") if isinstance(p, dict) or hasattr(p, "get") else None
        if isinstance(data, (list, tuple)) and len(data) == 2:
            return int(data[0]), int(data[1])
    return None
