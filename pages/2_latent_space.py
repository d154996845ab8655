"""Latent space: steer a generator by hand, see where its samples fall, measure its quality.

Reads the generator's exported latent view (no torch in this server: a child process loads,
trains and measures; see ``vaeimb_app/latent.py``)."""

import numpy as np
import streamlit as st

from vaeimb.declarations.datasets import DEFAULT_DATASET
from vaeimb.declarations.provenance import code_note
from vaeimb.presentation import figures, latent
from vaeimb.presentation.latent_js import BadDecoderWeights, UnsupportedDecoder
from vaeimb.presentation.report import (
    QUALITY_METRICS,
    class_figures,
    class_gain_table,
    quality_correlation,
)
from vaeimb.running.result_files import made_by
from vaeimb_app.latent import (
    class_gains_of_finished,
    generator_key_for,
    generator_quality,
    generator_source,
    generators_used,
    latent_generators,
    latent_map_for,
    quality_of_finished,
    shipped_generator_for,
    train_generator_with_progress,
    view_for,
)
from vaeimb_app.latent_explorer import (
    cached_decoder_spec,
    explorer_data,
    latent_explorer,
)
from vaeimb_app.settings import current_dataset, errors_shown, page_settings

st.title("Latent space of a generator")
st.markdown(
    f"Each generator learns the minority {current_dataset().noun} (the VAE from its few training images alone, the "
    "conditional VAE and the latent-SMOTE autoencoder from both classes) and generates the extra "
    "images its approaches train on. Move the sliders to decode any latent code, compare where "
    "generated and real images fall, and read how good the samples are."
)

settings = page_settings()
config = settings.config
ds = config.dataset_record


def named(c: int) -> str:
    """A class in sentences: MNIST's "digit 6", Fashion-MNIST's "class 6 (Shirt)"."""
    return f"{ds.noun} {ds.class_label(c)}"


LATENT_GENERATORS = latent_generators()
with errors_shown():
    used = [g for g in generators_used(settings) if g in LATENT_GENERATORS]
options = used + [g for g in LATENT_GENERATORS if g not in used]
if st.session_state.get("latent_generator") not in options:  # e.g. from a shared link
    st.session_state["latent_generator"] = options[0]
if st.session_state.get("latent_seed") not in settings.seeds:
    st.session_state["latent_seed"] = settings.seeds[0]
c1, c2 = st.columns(2)
name = c1.selectbox("Generator", options, key="latent_generator",
                    help="Generators with a latent space; those your chosen approaches use come first.")
seed = c2.selectbox("Seed (each seed has its own training draw and generator)", settings.seeds, key="latent_seed")
with errors_shown():
    source = generator_source(settings, name, seed)
if source is None:
    st.info(f"The {name} generator for these settings is not trained yet. Press **Run** on the Experiment "
            f"page (with an approach that uses it), or train only the generator here."
            + (f" Nothing is shipped for {ds.title}: the shipped generators are MNIST's."
               if config.dataset != DEFAULT_DATASET else ""))
    if not st.button(f"Train the {name} generator", type="primary"):
        st.stop()
    with errors_shown():
        train_generator_with_progress(config, name, seed)
    source = "cache"
elif source == "shipped":  # the app's default settings, nothing trained here yet
    provenance = shipped_generator_for(config, name, seed)
    st.info(f"Shipped {name} generator: {made_by(provenance)}. Press **Run** on the Experiment page to train "
            "your own here.", icon=":material/inventory_2:")
    note = code_note(provenance.get("code"), f"The shipped {name} generator's weights")
    if note:
        st.warning(note)

label = 1
if config.n_classes > 2:  # a long tail: explore the generator one minority class at a time
    label = st.selectbox(f"Class (each minority {ds.noun} the generator fills)", config.fill, key="latent_class",
                         format_func=lambda k: f"{named(config.classes[k])} ({config.class_counts[k]} training images)")
digit = config.classes[label]

with errors_shown():
    art = view_for(config, name, seed, source, label)  # the exported view of this class (numpy only)
real_minority = art.real

gen_key = generator_key_for(config, name, seed, source) + ("" if label == 1 else f"-{label}")

# Under the leaky 'blog' protocol the VAE's "real" images are TEST images: say so wherever they appear.
REAL = "real TEST images (the leak)" if config.leaky else "real training images"
if config.leaky:
    st.warning(
        f"LEAKY protocol: this generator learned {named(digit)} from {len(real_minority)} TEST images, "
        "the images the classifiers are scored on. Every \"real minority\" image on this page is a test image."
    )
OTHERS = " and the majority training images" if config.n_classes == 2 else " and the other classes' training images"
st.caption(
    f"{name} with a {art.latent_dim}-d latent, trained on {len(real_minority)} images "
    f"{ds.holds(digit)} ({art.info.get('trained_on', 'test split' if config.leaky else 'train split')})"
    f"{OTHERS if art.uses_majority else ''}, {config.generator_steps} steps."
)

# --------------------------------------------------------------------------------------
st.subheader("Decode a latent code")
order = latent.dimensions_by_activity(art)
active = set(latent.active_dimensions(art).tolist())
act, act_name = latent.activity(art)
prefix = f"z_{gen_key}_"
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
    """Server-side fallback: only this part reruns when a slider moves."""
    if f"{prefix}{order[0]}" not in st.session_state:
        set_code(latent.mean_code(art))
    left, right = st.columns([3, 2])
    with left:
        b1, b2 = st.columns(2)
        b1.button("Random sample", on_click=random_sample, width="stretch")
        b2.button("Reset to the mean", on_click=reset_to_mean, width="stretch")
        shown = [d for d in order if d in active][:MAX_SHOWN_SLIDERS] or list(order[:1])
        hidden = [d for d in order if d not in shown]
        st.caption(f"{len(active)} of {art.latent_dim} dimensions active ({act_name} > 0.05); "
                   f"the most informative (highest {act_name}) first.")

        def slider(d: int) -> None:
            lo, hi = latent.slider_range(art, d)
            st.slider(f"z[{d}]  ({act_name} {act[d]:.2f})", lo, hi, step=0.05, key=f"{prefix}{d}")

        for d in shown:
            slider(d)
        if hidden:
            n_inactive = art.latent_dim - len(active)
            with st.expander(f"{len(hidden)} more dimension(s), {n_inactive} of them inactive (the decoder ignores those)"):
                for d in hidden:
                    slider(d)
    z = np.array([st.session_state[f"{prefix}{d}"] for d in range(art.latent_dim)], np.float32)
    with right:
        st.image(figures.upscale(latent.decode(art, z), 8), caption="decoded image", width=224)


def browser_spec() -> tuple[dict | None, str]:
    """The decoder spec for the in-browser explorer, or None and why it cannot be used."""
    try:
        return cached_decoder_spec(gen_key, art), ""
    except (UnsupportedDecoder, BadDecoderWeights) as err:
        return None, str(err)


in_browser = st.toggle("Decode in the browser (instant while dragging)", value=True, key="latent_in_browser")
spec, why_not = browser_spec() if in_browser else (None, "")
if art.spec is None:  # nothing can decode it here (neither the browser nor numpy)
    st.warning(f"This generator's decoder cannot be drawn here: {art.spec_error}")
    code = latent.mean_code(art)
elif spec is not None:
    data = explorer_data(
        spec, order=order, kl=act, ranges=[latent.slider_range(art, d) for d in range(art.latent_dim)],
        mean=latent.mean_code(art), seed=seed, n_active=len(active), max_shown=MAX_SHOWN_SLIDERS,
    )
    code = latent_explorer(data, key=f"latent_explorer_{gen_key}")
    code = np.asarray(data["mean"], np.float32) if code is None else code
else:
    if why_not:
        st.warning(f"Decoding on the server instead (each slider move waits for it): {why_not}")
    decoder_panel()
    code = np.array([st.session_state[f"{prefix}{d}"] for d in range(art.latent_dim)], np.float32)

# the real minority images whose latent means lie nearest this code
if len(art.latent_mu) == len(real_minority):
    nearest = np.argsort(((art.latent_mu - code) ** 2).sum(1), kind="stable")
else:
    nearest = np.array([], int)
if len(nearest):
    k = min(8, len(nearest))
    st.image(figures.image_grid(real_minority[nearest[:k]], n_cols=k, factor=2),
             caption=f"the {k} {REAL.replace('images', 'minority images')} nearest this code (by latent mean)")

# --------------------------------------------------------------------------------------
st.subheader("Where generated images fall")
c1, c2 = st.columns([1, 3])
method = c1.radio("Projection", ("pca", "tsne"), format_func={"pca": "PCA", "tsne": "t-SNE (slower)"}.get,
                  key="latent_map_method")
with errors_shown():
    lmap = latent_map_for(config, art, method, source)
followed = tuple(np.round(code, 4).tolist())
if st.session_state.get("latent_followed_code") != followed:
    # a new code from the decoder above: ring its nearest real minority image on the map
    st.session_state["latent_followed_code"] = followed
    flat = lmap.images.reshape(len(lmap.images), -1)
    on_map = [np.flatnonzero((lmap.kinds == "real minority") & (flat == real_minority[j].reshape(-1)).all(1))
              for j in nearest]
    first = next((hits[0] for hits in on_map if len(hits)), None)
    if first is not None:
        st.session_state["latent_point"] = int(first)
point = c1.number_input("Show point #", min_value=0, max_value=len(lmap.kinds) - 1, key="latent_point")
c1.image(figures.upscale(lmap.images[point], 4), caption=f"#{point}: {lmap.kinds[point]}", width=112)
c2.plotly_chart(figures.latent_map_figure(lmap, highlight=point), width="stretch")
st.caption(f"Each point is an image's latent code (encoded by the {name}'s encoder); hover to read its number. The ringed "
           "point follows the decoder above (the real minority image nearest its code). "
           "Generated images that sit on top of the real minority ones are plausible; a cloud "
           "apart from them, or overlapping the majority, is what would mislead a classifier.")
if config.leaky:
    st.markdown(":red[**LEAK:** the \"real minority\" points are TEST images the generator trained on.]")

# --------------------------------------------------------------------------------------
st.subheader("Interpolation between two real minority images")
c1, c2, c3 = st.columns(3)
n_real = len(real_minority)
a = c1.number_input("From image #", 0, n_real - 1, 0, key="interp_a")
b = c2.number_input("To image #", 0, n_real - 1, min(1, n_real - 1), key="interp_b")
n_steps = c3.slider("Steps", 3, 12, 8, key="interp_steps")
if art.spec is not None:
    strip = latent.interpolate_codes(art, art.real_codes[a], art.real_codes[b], n_steps)
    st.image(figures.image_grid(strip, n_cols=n_steps, factor=3),
             caption="decoded along the straight line between the two latent means")

# --------------------------------------------------------------------------------------
c1, c2 = st.columns(2)
with c1:
    st.subheader("Reconstructions")
    originals = real_minority[:len(art.reconstructions)]
    pairs = np.concatenate([originals, figures.to_uint8(art.reconstructions)])
    st.image(figures.image_grid(pairs, n_cols=len(originals), factor=3),
             caption=f"top: {REAL} · bottom: what the {name} keeps of them")
    if config.leaky:
        st.markdown(":red[**LEAK:** the top row are TEST images, the ones the classifiers are scored on.]")
with c2:
    st.subheader("Generated samples")
    st.image(figures.image_grid(art.samples, n_cols=8, factor=3),
             caption=f"{len(art.samples)} images drawn from the {name} generator (seed {seed})")

# --------------------------------------------------------------------------------------
st.subheader("Generator quality")
st.caption(f"Generated images against up to 1000 real images of the same {ds.noun} from {ds.title} **train** that this "
           "experiment did not draw (never test images), in the feature space of a small judge network "
           f"trained once on {ds.title} train. Precision: share of samples that fall among real images; recall: "
           "share of real variety the samples cover (Kynkäänniemi et al. 2019, k = 3); Fréchet distance "
           "(lower is better); memorisation: median distance from a sample to its nearest training image, "
           "beside the same figure for real held-out images (much smaller = copies).")
if config.n_classes > 2:
    st.caption(f"On the long tail every class is measured on its own; these are the class explored above: "
               f"{named(digit)} ({config.class_counts[label]} training images).")
if st.button("Measure this generator's quality", key="measure_quality"):
    st.session_state[f"quality_{gen_key}"] = True
if st.session_state.get(f"quality_{gen_key}"):
    with errors_shown(stop=False), st.spinner("Measuring (the judge network trains once, about 30 s)…"):
        q = class_figures(generator_quality(config, name, seed, source), label, config.n_classes)
        if q is None:
            st.info(f"These shipped figures predate per-class quality: only the rarest class, "
                    f"{named(config.classes[-1])}, was measured. Run the Experiment page to measure every class.")
        else:
            cols = st.columns(5)
            cols[0].metric("Precision", f"{q['precision']:.3f}")
            cols[1].metric("Recall", f"{q['recall']:.3f}")
            cols[2].metric("Fréchet distance", f"{q['frechet']:.2f}")
            cols[3].metric("Memorisation (samples)", f"{q['memorisation']:.2f}")
            cols[4].metric("Memorisation (real held-out)", f"{q['memorisation_real']:.2f}")

if config.n_classes > 2:
    with errors_shown(stop=False):
        gains = class_gains_of_finished(settings)
        if gains:
            st.markdown("**Which classes did each generator help, and how good are its images of them?**")
            st.caption("Per generator preset of the finished experiment, one row per class it fills: its images' "
                       "quality (mean over seeds), that class's recall on the test set, and the paired gain over the "
                       "generator-free twin (the same recipe without the generator; 95 % paired t interval over the "
                       "seeds, n/a with one seed). A gain whose interval holds 0 is not told apart from none.")
            for preset in dict.fromkeys(r["approach"] for r in gains):
                st.markdown(f"`{preset}`")
                st.table(class_gain_table(gains, preset), hide_index=True)

st.markdown("**Does a better generator make a better classifier?**")
with errors_shown(stop=False):
    points = quality_of_finished(settings)
    if points is None:
        st.info("Run the Experiment page with approaches that use generators (e.g. vae, cvae, latent-smote, "
                "smote) to compare their quality with the classifiers' errors here.")
    elif not points:
        st.info("The finished experiment has no approach with a generator.")
    else:
        metric = st.radio("Quality figure", list(QUALITY_METRICS), format_func=lambda m: QUALITY_METRICS[m][0],
                          horizontal=True, key="quality_metric")
        st.plotly_chart(figures.quality_scatter(points, metric), width="stretch")
        rho = quality_correlation(points, metric)
        st.caption(f"One point per generator preset and seed ({len(points)} points"
                   + (f"; the quality of the rarest class, {named(config.classes[-1])}" if config.n_classes > 2 else "")
                   + "). "
                   + ("Too few points for a rank correlation." if rho is None else
                      f"Spearman rank correlation with misclassified: {rho:+.2f} "
                      f"({'a better figure goes with fewer errors' if (rho < 0) == QUALITY_METRICS[metric][1] else 'no such link in this direction'}; "
                      "few points: read with care)."))
