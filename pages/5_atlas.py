"""Atlas: every digit pair at once — on which pairs does approach A beat approach B?

An atlas is one dataset's (the sidebar's): the shipped atlas is MNIST's; another dataset's
is made of the pairs the user computes here (``vaeimb_app.atlas``)."""

import streamlit as st

from vaeimb.declarations.datasets import DEFAULT_DATASET
from vaeimb_app.settings import current_dataset

DS = current_dataset()  # the sidebar's (app.py read the link and drew it before this page)
MNIST = DS.name == DEFAULT_DATASET
st.title("Atlas of digit pairs" if MNIST else f"Atlas of {DS.title} {DS.noun} pairs")
st.markdown(
    f"Each cell is one experiment: a majority {DS.noun} (row) against a rare minority {DS.noun} (column) "
    "at one minority ratio, run over several paired seeds. Its colour is the mean gain of approach "
    "**A** over approach **B**; a star marks the cells a paired test separates after the correction for the "
    "many cells a map compares. Ask which remedy wins (any A against any B), or whether a generator itself "
    "helps (a generator against its generator-free twin). Click a cell for its seeds, the command that "
    "recomputes it and a link that opens it on the Experiment page."
)

# The first screen is drawn above; the heavy imports (torch, via the figures) load meanwhile.
from urllib.parse import urlencode

from vaeimb.declarations.labels import pair_label, ratio_label
from vaeimb.declarations.provenance import provenance_notes
from vaeimb.presentation import figures
from vaeimb.studies import atlas as atl
from vaeimb.studies.atlas import METRIC_LABELS
from vaeimb_app.atlas import (
    atlas_dataset_record,
    current_atlas,
    extend_atlas,
    shipped_dir,
    start_atlas,
    user_dir,
)
from vaeimb_app.atlas_view import (
    CORRECTION_LABELS,
    QUESTIONS,
    cell_state,
    class_pair,
    class_pairs,
    generator_view,
    metrics_of,
    resolve_view,
)
from vaeimb_app.links import as_linked, to_query
from vaeimb_app.settings import errors_shown, persistent, show_link_warnings, sync_link

show_link_warnings()


#: The pairs of this dataset's classes (an own file may have fewer than ten).
DS_PAIRS = class_pairs(DS.n_classes)


loaded = current_atlas(DS.name)
for message in loaded.errors:
    st.error(message)
for message in loaded.notes:
    st.info(message)
atlas = loaded.atlas
if atlas is None or not atlas.rows:
    for line in st.session_state.pop("_atlas_failures", []):
        st.warning(f"No result for {line}")
    if loaded.other is not None and loaded.other.rows:
        start_atlas(loaded.other, DS)
    else:
        st.info(f"No atlas to show yet: none in {shipped_dir()} and none of your own in {user_dir(DS.name)}. "
                f"Make one with `python -m vaeimb atlas --pairs all"
                f"{'' if MNIST else ' --dataset ' + DS.name} --out {shipped_dir()}` (see the README).")
    st.stop()
if loaded.other is not None:
    st.info(f"Nothing is shipped for {DS.title}: this map holds only the pairs you computed ({user_dir(DS.name)}); "
            f"the shipped atlas is {atlas_dataset_record(loaded.other).title}'s. "
            "Add pairs under **Extend this atlas** below.", icon=":material/info:")

# Check the choices (a link's, or the defaults) against this atlas before the widgets draw them.
KEYS = ("atlas_a", "atlas_b", "atlas_ratio", "atlas_metric")
for key, default in (("atlas_question", "remedy"), ("atlas_correction", "holm")):
    st.session_state.setdefault(key, default)
view, warnings = resolve_view(atlas, *(st.session_state.get(k) for k in KEYS))
for warning in warnings:
    st.warning(warning, icon="🔗")
st.session_state.update(zip(KEYS, view))
sync_link()  # app.py wrote the URL before this page checked it: name the view shown

question = persistent(st.radio, "Question", tuple(QUESTIONS), format_func=QUESTIONS.get, key="atlas_question")
gen_view = generator_view(atlas, st.session_state.get("atlas_a"))
if question == "generator" and gen_view is None:
    st.info("This atlas holds no generator preset beside its generator-free twin; showing any A against any B.")
    question = "remedy"
c1, c2, c3, c4, c5 = st.columns([2, 2, 1, 2, 2])
if question == "generator":
    st.session_state["atlas_a"], st.session_state["atlas_b"] = gen_view
    a = persistent(c1.selectbox, "Generator", list(atlas.twins), key="atlas_a",
                   help="Each generator preset against its generator-free twin: the same recipe with real data only.")
    b = atlas.twins[a]
    st.session_state["atlas_b"] = b
    c2.markdown(f"**Twin (B)**  \n{b}")
else:
    a = persistent(c1.selectbox, "Approach A", atlas.approaches, key="atlas_a")
    b = persistent(c2.selectbox, "Approach B", atlas.approaches, key="atlas_b")
ratio = persistent(c3.selectbox, "Minority ratio", atlas.ratios, format_func=ratio_label, key="atlas_ratio")
metric = persistent(c4.radio, "Metric", metrics_of(atlas), format_func=METRIC_LABELS.get, key="atlas_metric",
                    help="Errors: misclassified test images. Gap closed: (errors of oversample − errors of A) / "
                    "(mean errors of oversample − mean errors of the oracle), seed by seed over the gap of the seed "
                    "means: 0 = no better than oversampling, 1 = as good as real minority data; comparable across "
                    "pairs. Blank where oversample and the oracle are not separated (no gap to close).")
correction = persistent(c5.selectbox, "Correction", tuple(CORRECTION_LABELS), format_func=CORRECTION_LABELS.get,
                        key="atlas_correction",
                        help="The map makes one paired test per cell: with 90 cells, chance alone stars about 4.5 "
                        "of them at an uncorrected 95 %. Holm keeps the chance of any false star at 5 %; "
                        "Benjamini-Hochberg keeps false stars at 5 % of those shown.")
st.caption(" ".join(atl.provenance(atlas)))
for source in atlas.meta.get("sources", [atlas.meta]):
    env, what = source.get("environment", {}), f"Atlas rows made {source.get('created', '')}".strip()
    for note in provenance_notes(env, what):
        st.info(note, icon="ℹ️")
if a == b:
    st.info("Choose two different approaches for A and B.")
    st.stop()

with errors_shown():
    grid = atl.gain_grid(atlas, a, b, ratio, metric, correction)


def _pick_cell() -> None:
    """A click on the map chooses that pair in the selector below it."""
    pair = figures.clicked_pair(st.session_state.get("atlas_map"))
    if pair is not None:
        st.session_state["atlas_pair"] = pair_label(pair)


atlas_map = figures.atlas_heatmap(grid)
if not MNIST:  # the figure words MNIST's axes
    atlas_map.update_xaxes(title_text=f"Minority {DS.noun} (the rare one)")
    atlas_map.update_yaxes(title_text=f"Majority {DS.noun}")
st.plotly_chart(atlas_map, width="stretch", key="atlas_map", on_select=_pick_cell, selection_mode="points")
st.markdown(f"**{atl.summary_line(grid)}**")
st.caption(f"Gain in {grid.unit}: positive (blue) where {a} is better, negative (red) where {b} is; a star "
           f"marks a cell separated after the correction. Seeds are paired: each seed is one training draw both "
           "approaches share. Grey cells have no data.")

for line in st.session_state.pop("_atlas_failures", []):
    st.warning(f"No result for {line}")

cells = [pair_label(p) for p in atlas.pairs]
if st.session_state.get("atlas_pair") not in cells:
    st.session_state["atlas_pair"] = None
chosen = st.selectbox("Pair (majority vs minority)", cells, index=None, key="atlas_pair",
                      placeholder="Click a cell on the map, or choose a pair here")
if chosen is not None:
    maj, mnr = (int(d) for d in chosen.split(" vs "))
    st.subheader(f"Majority {DS.class_label(maj)} vs minority {DS.class_label(mnr)} at ratio {ratio_label(ratio)}")
    st.markdown(atl.cell_sentence(grid, maj, mnr))
    st.code(atl.cell_command(atlas, maj, mnr, ratio, [a, b]), language="bash")
    st.caption("This command recomputes the cell: on a machine of the CPU family in the atlas's provenance it "
               "gives these counts exactly; on another, any approach's counts (one without a generator too) may "
               "move as another seed would: training is not bit-reproducible across CPU families.")
    rows = atl.cell_detail(atlas, maj, mnr, ratio, a, b, metric)
    st.dataframe(rows, hide_index=True, column_config={
        "a": st.column_config.NumberColumn(f"A: {a}", format="%.4g"),
        "b": st.column_config.NumberColumn(f"B: {b}", format="%.4g"),
        "gain": st.column_config.NumberColumn(f"gain of {a} ({grid.unit})", format="%+.4g"),
    })
    state = cell_state(atlas, maj, mnr, ratio, [a, b])
    st.markdown(f"[Open {chosen} on the Experiment page in a new tab](./?{urlencode(to_query(state))}) "
                "(at the atlas's budget and seeds; a link you can share).")
    if st.button("Open it here on the Experiment page", help="Replaces the sidebar settings with this cell's."):
        values, link_warnings = as_linked(state)
        st.session_state.update(values)
        st.session_state["_link_warnings"] = link_warnings
        st.switch_page("pages/1_experiment.py")

with st.expander("Extend this atlas"):
    missing = [p for p in atl.missing_pairs(atlas, ratio, [a, b]) if p in DS_PAIRS]
    if not missing:
        st.caption(f"Every pair has {a} and {b} for all {len(atlas.seeds)} seeds at ratio {ratio_label(ratio)}.")
    else:
        every = st.checkbox(f"All {len(missing)} missing pairs", key="atlas_extend_all")
        st.session_state["atlas_extend_pairs"] = [p for p in st.session_state.get("atlas_extend_pairs", []) if p in missing]
        pairs = missing if every else st.multiselect(
            f"Pairs without {a} and {b} at ratio {ratio_label(ratio)}", missing, format_func=lambda p: class_pair(DS, p),
            key="atlas_extend_pairs")
        st.caption(f"{len(pairs)} pair(s) × 2 approaches × {len(atlas.seeds)} seeds at the atlas's budget; each "
                   f"pair takes about as long as one Experiment run. The cells are saved in {user_dir(DS.name)}.")
        if st.button("Run the chosen pairs", type="primary", disabled=not pairs):
            with errors_shown(stop=False):
                st.session_state["_atlas_failures"] = extend_atlas(atlas, list(pairs), ratio, [a, b])
                st.rerun()
