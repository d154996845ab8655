"""Entry point of the dashboard: ``streamlit run app.py``.

Only navigation and the shared sidebar settings live here; each page is a thin file in
``pages/`` that draws what ``vaeimb`` computes.
"""

import streamlit as st

from vaeimb_app.settings import render_sidebar, sync_link

st.set_page_config(page_title="VAE vs oversampling on imbalanced MNIST", page_icon=":material/scatter_plot:", layout="wide")

pages = [
    st.Page("pages/1_experiment.py", title="Experiment / Results", icon=":material/science:", default=True),
    st.Page("pages/2_latent_space.py", title="Latent space", icon=":material/scatter_plot:"),
    st.Page("pages/3_sweep.py", title="Sweep", icon=":material/show_chart:"),
    st.Page("pages/5_atlas.py", title="Atlas", icon=":material/grid_view:"),
    st.Page("pages/4_about.py", title="About", icon=":material/menu_book:"),
]
navigation = st.navigation(pages)
render_sidebar()
sync_link()  # before the page: it may stop early, and widget changes are in session state already
navigation.run()
