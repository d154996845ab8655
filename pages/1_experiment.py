"""Experiment / Results: train the chosen approaches and compare them on the test set."""

import streamlit as st

from vaeimb_app.settings import current_dataset

DS = current_dataset()  # the sidebar's (app.py read the link and drew it before this page)
st.title(f"Does a VAE beat oversampling on imbalanced {DS.title}?")
st.markdown(
    f"Pick two {DS.nouns}, how rare the minority one is and which balancing approaches to compare "
    f"in the sidebar (or the ten-{DS.noun} long tail, DeepSMOTE's protocol), then press **Run** to train them and "
    "compare their test errors here. "
    "The other pages let you explore the generators' latent spaces, sweep the imbalance "
    "ratio, and read how this differs from the original blog post."
)

# The first screen is drawn above. This page never loads torch itself (a Run trains in a
# child process, or in-process on one core): the results are numpy, the charts plotly.
from vaeimb.declarations.datasets import DEFAULT_DATASET
from vaeimb.declarations.provenance import code_note
from vaeimb.presentation import figures
from vaeimb.presentation.report import (
    display_rows,
    metric_label,
    to_csv,
    to_json,
    verdict_metrics,
)
from vaeimb.running.result_files import label as shipped_label
from vaeimb_app.runs import (
    nothing_shipped_note,
    shown_experiment,
    test_images,
    train_experiment,
)
from vaeimb_app.settings import class_names, errors_shown, page_settings

settings = page_settings()
config = settings.config
st.caption(f"Setup: {config.label()} · approaches: {', '.join(settings.approaches)} · seeds: {len(settings.seeds)}")
if config.dataset_prefix:  # not MNIST: which images, and what was done to an own file
    st.caption(f"Dataset: {config.dataset_record.description}")

if st.button("Run", type="primary", help="Trains what is not cached yet; cached runs load instantly."):
    with errors_shown(stop=False):
        train_experiment(settings)

with errors_shown():
    result, shipped = shown_experiment(settings)
if result is None:
    if config.dataset != DEFAULT_DATASET:  # nothing shipped for it: say what a Run does
        st.info(nothing_shipped_note(settings), icon=":material/info:")
    else:
        st.info("No results for these settings yet: press **Run**.")
    st.stop()
if shipped is not None:  # the app's default settings, nothing run here yet
    st.info(f"{shipped_label(shipped)} Press **Run** to recompute them on this machine; your own results "
            "then replace these.", icon=":material/inventory_2:")
    note = code_note(shipped.get("code"), "These shipped results")
    if note:
        st.warning(note)

for name, by_seed in result.failures.items():
    for seed, message in by_seed.items():
        st.error(f"**{name}** (seed {seed}) has no result: {message}")
if not any(result.runs.values()):
    st.stop()

names = class_names(config)

st.subheader("Verdict")
multiclass = config.n_classes > 2
if multiclass:
    verdict_metric = st.radio("Verdict on", verdict_metrics(result), format_func=lambda m: metric_label(m, config.n_classes), horizontal=True,
                              key="verdict_metric")
    verdict = result.verdict(verdict_metric)
else:
    verdict = result.verdict()
if verdict is not None:
    lines = verdict.sentences()
    (st.success if verdict.n_seeds > 1 else st.info)(lines[0])
    st.markdown("\n".join(f"- {line}" for line in lines[1:]))
    st.caption("Seeds are paired: each seed is one training draw shared by every approach, so each "
               "difference is taken seed by seed (95 % paired t interval; the exact sign-flip test when every "
               "seed differs by the same amount, where the t-test is undefined). A winner is named only when "
               "the paired test separates it after Holm's correction for the comparisons the verdict makes. "
               "The oracle trains on real minority images the others do "
               "not have: it is the data limit, never the winner.")
if result.twins:
    st.caption("Generator-free twins run beside each generator preset: "
               + ", ".join(f"**{p}** → {t}" for p, t in result.twins.items()) + ".")

st.subheader("Metrics per approach")
if multiclass:
    st.caption(f"Mean ± sd over seeds (95 % t intervals); test sets: {config.test_plan.description}. ACSA is the "
               "mean of the per-class recalls (balanced accuracy); macro G-mean and F1 as imbalanced-learn and "
               "scikit-learn define them.")
else:
    st.caption("Mean ± sd over seeds (95 % t interval of misclassified, clipped to the possible range); "
               f"the test set is every test image of both {config.dataset_record.nouns}. Threshold: the minority probability above "
               "which an approach predicts the minority.")
st.table(display_rows(result), hide_index=True)
c1, c2, _ = st.columns([1, 1, 3])
c1.download_button("Download CSV", to_csv(result), file_name="vaeimb-results.csv", mime="text/csv")
c2.download_button("Download JSON", to_json(result), file_name="vaeimb-results.json", mime="application/json")

st.subheader("Misclassified test images")
if config.is_reference:
    st.caption("Grey bars: the counts the original post reported (one seed, 1000 steps, leaky VAE).")
st.plotly_chart(figures.misclassified_bars(result), width="stretch")

ran = [name for name, by_seed in result.runs.items() if by_seed]
if multiclass:
    st.subheader("Recall of each class against its training count")
    subsets = [None, *config.test_plan.subsets]
    subset = st.radio("Test set", subsets, horizontal=True, key="recall_test_set",
                      format_func=lambda s: f"{s or config.test_plan.name}")
    st.caption("One line per approach: each class's recall (mean over seeds, bars = sd) at its number of training "
               "images. Where the lines part is where along the tail a remedy helps.")
    st.plotly_chart(figures.recall_by_count(result, subset), width="stretch")

st.subheader("Confusion matrices")
normalised = st.toggle("Normalise rows (share of each true class)", key="confusion_normalised", value=multiclass)
per_row = min(len(ran), 2 if multiclass else 3)
for start in range(0, len(ran), per_row):
    for column, name in zip(st.columns(per_row), ran[start : start + per_row]):
        matrix = figures.mean_confusion(result.runs[name].values())
        column.plotly_chart(
            figures.confusion_heatmap(matrix, names, title=name, normalised=normalised),
            width="stretch", key=f"confusion_{name}",
        )

st.subheader("Learning curves")
st.caption("Test errors at each checkpoint: mean over seeds, shaded band = min to max over seeds.")
st.plotly_chart(figures.learning_curves(result), width="stretch")

st.subheader("Misclassified images")
c1, c2 = st.columns(2)
gallery_approach = c1.selectbox("Approach", ran, key="gallery_approach")
gallery_seed = c2.selectbox("Seed", sorted(result.runs[gallery_approach]), key="gallery_seed")
run = result.runs[gallery_approach][gallery_seed]
with errors_shown():
    images, captions = figures.misclassified_gallery(run, test_images(config.dataset), names)
if images:
    st.caption(f"{len(run.misclassified)} misclassified; the {len(images)} most confident mistakes first.")
    st.image(images, caption=captions, width=110)
else:
    st.success("No misclassified test images for this run.")
