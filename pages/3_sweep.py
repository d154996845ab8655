"""Sweep: the same experiment at several minority ratios — where does the VAE start to help?"""

import streamlit as st

from vaeimb.presentation import figures
from vaeimb.running.recipes import COMPARISON, PRESETS
from vaeimb.statistics.stats import GAP_CLOSED
from vaeimb.declarations.config import DEFAULT_SWEEP_RATIOS as DEFAULT_RATIOS  # torch-free (studies.sweep is not)
from vaeimb_app.links import SWEEP_RATIO_OPTIONS
from vaeimb_app.runs import finished_sweep, train_sweep
from vaeimb_app.settings import errors_shown, page_settings, persistent

st.title("Imbalance sweep")
st.markdown(
    "Runs the sidebar's experiment at several minority ratios (n_minority / n_majority) and "
    "plots each approach's test error against the ratio. Every point is cached, so a second "
    "sweep over the same settings only trains the new points."
)

settings = page_settings()
config = settings.config
if config.task != "pair":
    st.info(f"A sweep varies the {config.dataset_record.noun} pair's minority ratio. The long tail's imbalance is its profile's: choose "
            "the exponential profile in the sidebar and compare runs at several ρ on the Experiment page.")
    st.stop()

ratio_options = list(SWEEP_RATIO_OPTIONS)
st.session_state.setdefault("sweep_ratios", list(DEFAULT_RATIOS))
st.session_state.setdefault("sweep_approaches", list(COMPARISON))
c1, c2 = st.columns(2)
st.session_state.setdefault("sweep_metric", "misclassified")
ratios = persistent(c1.multiselect, "Minority ratios", ratio_options, key="sweep_ratios",
                    format_func=lambda r: f"{r:.2%}".replace(".00%", "%"))
approaches = persistent(c2.multiselect, "Approaches", list(PRESETS), key="sweep_approaches")
metric = persistent(st.radio, "Metric", list(figures.SWEEP_METRICS), format_func=figures.metric_label,
                    horizontal=True, key="sweep_metric")

if not ratios or not approaches:
    st.warning("Choose at least one ratio and one approach above.")
    st.stop()
approaches = [a for a in PRESETS if a in approaches]
st.caption(f"{len(ratios)} ratios × {len(approaches)} approaches × {len(settings.seeds)} seed(s) at "
           f"{config.n_majority} majority images, {config.classifier}, {config.steps} steps. Uncached points "
           "take about as long as one Experiment run each.")

run_clicked = st.button("Run sweep", type="primary")
with errors_shown():
    sweep = train_sweep(settings, ratios, approaches) if run_clicked else finished_sweep(settings, ratios, approaches)
if sweep is None:
    st.info("Some points of this sweep are not computed yet: press **Run sweep**.")
    st.stop()

for line in sweep.failures():
    st.warning(f"No result for {line}")
if metric == GAP_CLOSED and not sweep.rows(GAP_CLOSED):
    st.info("The gap closed runs from oversample (0) to the oracle (1): add both to the approaches above.")
st.plotly_chart(figures.sweep_figure(sweep, metric), width="stretch")
st.caption("Lines: mean over seeds; shaded band: ± one standard deviation (needs 2+ seeds). "
           "Lower is better. The x axis is logarithmic.")
source = figures.SWEEP_METRICS[metric][1]
st.dataframe(
    [{k: r[k] for k in ("ratio", "n_minority", "approach", "mean", "std", "ci_low", "ci_high", "n_seeds")}
     for r in sweep.rows(source)],
    hide_index=True, width="stretch",
    column_config={"ratio": st.column_config.NumberColumn(format="percent"),
                   "mean": st.column_config.NumberColumn(f"mean {source}", format="%.3f")},
)
