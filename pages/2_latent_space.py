"""Latent space: steer the minority VAE by hand, see where its samples fall, interpolate."""

import numpy as np
import streamlit as st

from vaeimb import figures, latent
from vaeimb.experiment import vae_key
from vaeimb_app.runs import experiment_images, latent_map_for, train_vae_with_progress, vae_and_model, vae_is_cached
from vaeimb_app.settings import errors_shown, page_settings

st.title("Latent space of the minority VAE")
st.markdown(
    "The VAE learns the minority digit from its few training images and generates the extra "
    "ones the `vae` approach trains on. Move the sliders to decode any latent code, and "
    "compare where generated and real images fall."
)

settings = page_settings()
config = settings.config

seed = st.selectbox("Seed (each seed has its own training draw and VAE)", settings.seeds, key="latent_seed")
if not vae_is_cached(config, seed):
    st.info("The VAE for these settings is not trained yet. Press **Run** on the Experiment page "
            "(with the `vae` approach), or train only the VAE here.")
    if not st.button("Train the VAE", type="primary"):
        st.stop()
    with errors_shown():
        train_vae_with_progress(config, seed)

with errors_shown():
    art, model = vae_and_model(config, seed)
    real_minority, majority = experiment_images(config, seed)

st.caption(
    f"VAE with a {art.latent_dim}-d latent, trained on {len(real_minority)} images of digit "
    f"{config.minority} ({art.info.get('trained_on', 'train split')}), {config.vae_steps} steps."
)

# --------------------------------------------------------------------------------------
st.subheader("Decode a latent code")
order = latent.dimensions_by_activity(art)
active = set(latent.active_dimensions(art).tolist())
prefix = f"z_{vae_key(config, seed)}_"
MAX_SHOWN_SLIDERS = 8  # the rest go in an expander: a 20-slider wall hides the image


def set_code(code: np.ndarray) -> None:
    for d in range(art.latent_dim):
        st.session_state[f"{prefix}{d}"] = float(np.clip(code[d], *latent.slider_range(art, d)))


def random_sample() -> None:
    st.session_state["latent_draws"] = st.session_state.get("latent_draws", 0) + 1
    set_code(latent.random_code(art.latent_dim, 1000 * seed + st.session_state["latent_draws"]))


def reset_to_mean() -> None:
    set_code(latent.mean_code(art))


@st.fragment
def decoder_panel() -> None:
    """Only this part reruns when a slider moves: decoding one image takes a millisecond."""
    if f"{prefix}{order[0]}" not in st.session_state:
        set_code(latent.mean_code(art))
    left, right = st.columns([3, 2])
    with left:
        b1, b2 = st.columns(2)
        b1.button("Random sample", on_click=random_sample, width="stretch")
        b2.button("Reset to the mean", on_click=reset_to_mean, width="stretch")
        shown = [d for d in order if d in active][:MAX_SHOWN_SLIDERS] or list(order[:1])
        hidden = [d for d in order if d not in shown]
        st.caption(f"{len(active)} of {art.latent_dim} dimensions active (KL > 0.05 nats); "
                   "the most informative (highest KL) first.")

        def slider(d: int) -> None:
            lo, hi = latent.slider_range(art, d)
            st.slider(f"z[{d}]  (KL {art.kl_per_dim[d]:.2f})", lo, hi, step=0.05, key=f"{prefix}{d}")

        for d in shown:
            slider(d)
        if hidden:
            n_inactive = art.latent_dim - len(active)
            with st.expander(f"{len(hidden)} more dimension(s), {n_inactive} of them inactive (the decoder ignores those)"):
                for d in hidden:
                    slider(d)
    z = np.array([st.session_state[f"{prefix}{d}"] for d in range(art.latent_dim)], np.float32)
    with right:
        st.image(figures.upscale(latent.decode(model, z), 8), caption="decoded image", width=224)


decoder_panel()

# --------------------------------------------------------------------------------------
st.subheader("Where generated images fall")
c1, c2 = st.columns([1, 3])
method = c1.radio("Projection", ("pca", "tsne"), format_func={"pca": "PCA", "tsne": "t-SNE (slower)"}.get,
                  key="latent_map_method")
lmap = latent_map_for(config, seed, method)
point = c1.number_input("Show point #", min_value=0, max_value=len(lmap.kinds) - 1, value=0, key="latent_point")
c1.image(figures.upscale(lmap.images[point], 4), caption=f"#{point}: {lmap.kinds[point]}", width=112)
c2.plotly_chart(figures.latent_map_figure(lmap, highlight=point), width="stretch")
st.caption("Each point is an image's latent mean (encoded by the VAE); hover to read its number. "
           "Generated images that sit on top of the real minority ones are plausible; a cloud "
           "apart from them, or overlapping the majority, is what would mislead a classifier.")

# --------------------------------------------------------------------------------------
st.subheader("Interpolation between two real minority images")
c1, c2, c3 = st.columns(3)
n_real = len(real_minority)
a = c1.number_input("From image #", 0, n_real - 1, 0, key="interp_a")
b = c2.number_input("To image #", 0, n_real - 1, min(1, n_real - 1), key="interp_b")
n_steps = c3.slider("Steps", 3, 12, 8, key="interp_steps")
strip = latent.interpolate(model, real_minority[a], real_minority[b], n_steps)
st.image(figures.image_grid(strip, n_cols=n_steps, factor=3), caption="decoded along the straight line between the two latent means")

# --------------------------------------------------------------------------------------
c1, c2 = st.columns(2)
with c1:
    st.subheader("Reconstructions")
    originals = real_minority[:8]
    pairs = np.concatenate([originals, figures.to_uint8(latent.reconstruct(model, originals))])
    st.image(figures.image_grid(pairs, n_cols=len(originals), factor=3),
             caption="top: real training images · bottom: what the VAE keeps of them")
with c2:
    st.subheader("Generated samples")
    st.image(figures.image_grid(art.generated[:32], n_cols=8, factor=3),
             caption=f"32 of the {len(art.generated)} images the vae approach adds")
