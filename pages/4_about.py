"""About: the original experiment, what the clean protocol changes and why, how to read the charts."""

import streamlit as st

from vaeimb.declarations.config import ExperimentConfig
from vaeimb.declarations.datasets import DATASETS
from vaeimb.declarations.digits import TEST_COUNTS
from vaeimb.declarations.protocols import PROTOCOLS
from vaeimb.declarations.task_kinds import DEEPSMOTE_DIFFERENCES, DEEPSMOTE_REPORTED
from vaeimb.presentation.report import (
    LEAK_WARNING,
    REPORTED_MISCLASSIFIED,
    REPORTED_TEST_SIZE,
)
from vaeimb.running.recipes import PRESETS
from vaeimb_app.settings import through_app

through_app()  # a first request to /about on a fresh server draws the sidebar as app.py does

reference = ExperimentConfig()
blog = ExperimentConfig.blog()
n_test = TEST_COUNTS[reference.majority] + TEST_COUNTS[reference.minority]

st.title("About this experiment")

st.header("The original experiment")
st.markdown(f"""
A blog post asked whether a variational autoencoder (VAE) can fix class imbalance better than
plain oversampling. It built a binary task from MNIST: digit **{reference.majority}** as the
majority class ({reference.n_majority} training images) against digit **{reference.minority}** as the
minority ({reference.n_minority} training images, a {reference.ratio:.0%} ratio), and tested on
**all** test images of both digits: {TEST_COUNTS[reference.majority]} + {TEST_COUNTS[reference.minority]} = {n_test}.

* **Approach 1 — oversampling:** every training batch drawn half from each class. Reported:
  **{REPORTED_MISCLASSIFIED['oversample']} of {REPORTED_TEST_SIZE}** test images misclassified.
* **Approach 2 — VAE:** a VAE trained on the minority images generates
  {reference.n_majority - reference.n_minority} synthetic ones, and the classifier trains on real +
  generated images. Reported: **{REPORTED_MISCLASSIFIED['vae']} of {REPORTED_TEST_SIZE}**.
* Threshold moving was mentioned as a further option.

The original code trained a one-logit MLP for {blog.steps} steps of {blog.batch_size} images and the VAE for
{blog.generator_steps} steps of {blog.generator_batch_size}.
""")

st.header("What the clean protocol changes, and why")
st.markdown(f"""
* **The leak.** The original VAE was trained on minority images taken from the **test** split,
  the same images the classifier was then scored on. The generated images are thus close
  copies of test images, and the VAE's advantage is overstated. The `clean` protocol trains the
  VAE on the minority **training** images only; `blog-clean` keeps everything else of the
  original code but fixes this. `blog` reproduces the leak on purpose and every page says so:
  *{LEAK_WARNING}*
* **One seed.** The original numbers come from one run. Here each seed redraws the training set
  and retrains every approach on that same draw (paired seeds); the tables show mean ± standard
  deviation over seeds and the verdict compares approaches seed by seed. The app runs three
  seeds by default.
* **One checkpoint.** The original read the error at one moment of training. The learning
  curves here show the error at every checkpoint, so you can see how much it moves.
* **Training budget.** The clean protocol's budget ({reference.steps} classifier steps of {reference.batch_size},
  {reference.generator_steps} generator steps) keeps a run interactive on a small CPU; switching to a `blog`
  protocol switches to the original's budget, and the sidebar sets any other.
""")
st.markdown("**Protocols**")
st.table([{"protocol": k, "what it does": p.description} for k, p in PROTOCOLS.items()])

st.header("The ten-digit long tail: DeepSMOTE's protocol, run differently")
longtail = ExperimentConfig.for_protocol("deepsmote", task="longtail")
st.markdown(f"""
Choose **all ten digits, long tail** in the sidebar (or `python -m vaeimb reproduce --protocol deepsmote`) to ask
the same question on the most cited generative-oversampling result on MNIST: DeepSMOTE (Dablain, Krawczyk and
Chawla, IEEE TNNLS 2022). Its training counts for digits 0..9 are
{", ".join(map(str, longtail.class_counts))} (imbalance ratio {longtail.class_counts[0] // longtail.class_counts[-1]}).
The test sets here: {longtail.test_plan.description}. **How this differs from the paper:**
""")
st.markdown("\n".join(f"* {line}" for line in DEEPSMOTE_DIFFERENCES))
st.markdown("**What the paper reports** (ResNet-18, 5-fold cross-validation; not this app's numbers):")
st.table([{"method": m, "ACSA %": a, "macro G-mean %": g, "macro F1 %": f}
          for m, (a, g, f) in DEEPSMOTE_REPORTED.items()])
st.markdown("""
**The metrics.** With recallₖ = TPₖ / Pₖ and specificityₖ = TNₖ / (TNₖ + FPₖ), each class k against the rest:
**ACSA** = meanₖ recallₖ (scikit-learn's balanced accuracy), **macro F1** = meanₖ 2 TPₖ / (2 TPₖ + FPₖ + FNₖ), and
**macro G-mean** = √(meanₖ recallₖ × meanₖ specificityₖ) (imbalanced-learn's
`geometric_mean_score(average="macro")`; the tests check all three against both libraries). Other papers call
other formulas "macro G-mean": the K-th root of the product of the recalls, or the mean of the per-class
√(recallₖ × specificityₖ). Ours averages in the specificities, near 1 with ten classes: on a test set with as many
images of every digit it is √(ACSA × (1 − (1 − ACSA) / 9)), a function of ACSA. Which formula DeepSMOTE's table
uses cannot be determined: its released code holds no evaluation code. Its G-mean is above its ACSA in every row,
which rules out the product of the recalls (never above ACSA); on a test of equal class sizes ours would turn
SMOTE's 87.98 ACSA into 93.17, not its 89.99; and its imbalanced-test row (98.11 with an ACSA of 96.16, above
√ACSA = 98.06) fits none of the three. Compare ACSA.
""")

st.header("The approaches: recipes of six parts")
st.markdown("""
Every approach is a **recipe**: *data* (real images, plus images from a generator, or the
oracle's real ones), *batches* (random or class-balanced), *augmentation* of the images (every class by default: augmenting the minority alone lets a classifier learn that a resampled-looking image is a minority image),
*mixing* of the batch (none; mixup, Zhang et al. 2018: each image blended with another of its batch, the labels
blended alike; Remix, Chou et al. 2020: the label goes to the rarer class when its image is the larger part),
*loss*, and *decision* (where the threshold sits). The presets below are named recipes; the
sidebar's Advanced section builds any other combination. For every preset that uses a
generator, its **generator-free twin** (the same recipe with real data only) runs beside it, so
a gain that comes from the batches, the augmentation, the mixing or the loss is never credited to the
generator.
""")
st.table([{"approach": name, "recipe (clean protocol)": p.resolve(PROTOCOLS["clean"]).short(), "what it does": p.blurb}
          for name, p in PRESETS.items()])

st.header("What the reference benchmark found")
from vaeimb.declarations.errors import VaeimbError  # noqa: E402
from vaeimb.declarations.provenance import provenance_notes  # noqa: E402
from vaeimb.presentation.reference import (  # noqa: E402
    generator_findings,
    load_reference,
    reference_rows,
    reference_verdict,
)

try:
    reference = load_reference()
except VaeimbError as err:
    st.error(str(err))
else:
    st.markdown(f"Every preset on the clean reference setup, paired seeds, measured {reference['measured']} "
                f"(`{reference['command']}`); the README has the full tables.")
    for clf, entry in reference["classifiers"].items():
        env = entry.get("environment", {})
        st.subheader(f"{clf.upper()}")
        st.caption(f"{entry['label']} · {env.get('threads', '?')} torch thread(s), {env.get('device', '?')}, "
                   f"torch {env.get('torch', '?')}, vaeimb {env.get('vaeimb', '?')} (code {env.get('code', '?')})")
        for note in provenance_notes(env, f"The shipped {clf.upper()} results"):
            st.info(note, icon="ℹ️")
        head, lines = generator_findings(entry)
        st.markdown(f"**{head}**")
        st.markdown("\n".join(f"- {line}" for line in lines))
        with st.expander("Verdict and table"):
            st.markdown("\n".join(f"- {line}" for line in reference_verdict(entry).sentences()))
            st.dataframe(
                [{"approach": r["approach"], "misclassified (mean)": round(r["misclassified"], 1),
                  "sd": round(r["sd"], 1), "95% CI": f"[{r['ci_low']:.1f}, {r['ci_high']:.1f}]", "seeds": r["seeds"],
                  "per seed": ", ".join(f"{v:g}" for v in r["per_seed"])} for r in reference_rows(entry)],
                hide_index=True, width="stretch")

st.header("Generators given their best shot")
from vaeimb.presentation.reference import (  # noqa: E402
    STUDY_TASKS,
    load_generator_study,
    study_classes,
    study_findings,
)

st.markdown("""
Do the generators lose because they are weak? Here each is given its best shot on the rarest
classes (a wider conditional VAE trained longer on jittered, class-balanced batches with the KL
annealed; samples drawn around the real minority codes, filtered by a classifier of the real
training images, weighted 0.5; DeepSMOTE's own autoencoder), each extending the strongest
generator-free recipe, augment-remix, which runs beside it as its twin.
""")
try:
    study = load_generator_study()
except VaeimbError as err:
    st.error(str(err))
else:
    if not study:
        st.info("No generator study is shipped yet: `python bench/generators_bench.py longtail --ship "
                "vaeimb/shipped/generator_study.json` measures it.")
    for key, entry in study.items():
        env = entry.get("environment", {})
        st.subheader(STUDY_TASKS.get(key, key))
        st.caption(f"{entry['label']} · {len(entry['seeds'])} paired seeds · measured {entry['measured']} "
                   f"(`{entry['command']}`) · {env.get('threads', '?')} torch thread(s), {env.get('device', '?')}, "
                   f"vaeimb code {env.get('code', '?')}")
        for note in provenance_notes(env, "This study"):
            st.info(note, icon="ℹ️")
        head, lines = study_findings(entry)
        st.markdown(f"**{head}**")
        st.markdown("\n".join(f"- {line}" for line in lines))
        with st.expander("Quality against gain, class by class"):
            st.dataframe(study_classes(entry), hide_index=True, width="stretch")

st.header("Other datasets")
st.markdown(
    "The sidebar's **Dataset** runs the same experiments on other 28 × 28 grayscale datasets of ten classes, "
    "read from the same four IDX files; tables and charts name their classes (`6 (Shirt)`):\n\n"
    + "\n".join(f"- **{d.label}**: {d.description}" for d in DATASETS.values())
    + "\n\nEverything shipped with the app (the first view's results and generators, the reference numbers "
    "above, the atlas) is MNIST's. Another dataset is computed on this machine by its first **Run**, which "
    "downloads it once if it is not here yet (into the user cache, or the folder `VAEIMB_DATA_DIR` names).\n\n"
    "**Your own images**: upload an `.npz` under the picker (its help says the arrays it should hold: training "
    "and test images and integer labels, 2 to 10 classes, at most 200 MB). It is checked before anything trains: "
    "a file that does not fit is refused with one line saying why, and nothing of it is kept. An accepted file is "
    "brought to 28 × 28 grayscale (what was done is said under the picker) and kept on this server under the hash "
    "of its bytes, so a link to it works here; elsewhere, or after the server restarts, upload it again. The "
    "command line takes the same file: `python -m vaeimb run --dataset PATH.npz`."
)

st.header("How to read the charts")
st.markdown("""
* **Metrics table** — one row per approach: mean ± sd over seeds. *Misclassified* counts test
  errors of both kinds; *balanced accuracy* averages the recall of the two classes, so it is not
  dominated by the majority; *minority recall* is the share of minority test digits found.
* **Misclassified bar chart** — lower is better; error bars are the sd over seeds. For the
  reference setup (0 vs 6, 5000 / 100) grey bars show the originally reported counts.
* **Confusion matrices** — rows are the true digit, columns the prediction. Off-diagonal cells
  are the errors: *true minority, predicted majority* are the missed rare digits. Normalising
  divides each row by its total.
* **Learning curves** — test errors during training. A curve that is still falling means more
  steps would help; a noisy one means a single-checkpoint reading is unreliable.
* **Verdict** — differences are paired seed by seed (one training draw per seed, shared by
  every approach); a winner is named only when the paired test separates it after **Holm's
  correction** for the many comparisons a verdict makes (every approach against the best is
  one family, every generator against its generator-free twin another), so chance alone
  rarely names one. "About N seeds would separate them" is the seed count at which the
  observed difference and spread would give a 95 % interval that excludes zero. The paired
  t-test decides, except where every seed differs by exactly the same amount (the t statistic
  is then d / 0): there the exact sign-flip test does, whose p-value with n seeds all on one
  side is 2 / 2^n (0.25 for 3 seeds, 0.0625 for 5), so a few identical differences never
  name a winner. The **gap closed** is how much of the distance between oversampling (0) and
  the oracle's real minority images (1) an approach covers, from the seed means of errors
  ((oversample − approach) / (oversample − oracle)), with a paired bootstrap interval over
  seeds; it is "undefined" when oversampling and the oracle are not separated (no gap to
  close). The **data limit** is stated as a ratio of errors (misclassified images, or
  1 − ACSA on the long tail): 0.99× the oracle's accuracy can hide 1.7× its errors.
* **Numbers from another machine** — every result records its code id and CPU. Shipped
  results made by another code id, or on another CPU family, say so. Training is not
  bit-reproducible across CPU families (the kernels torch and its libraries pick, and the order
  they sum in, depend on the CPU; each result records torch's kernel level, `cpu_capability`),
  so on another family every count may move as another seed would, the generator-free
  approaches' too (one cell of the shipped atlas, rerun on an AMD EPYC, gave the oracle 13
  errors instead of 15); on the same family, with the same config, seed and thread count, a
  rerun gives the same counts.
* **Latent space** — the sliders decode a point of a generator's latent space in your browser;
  the map shows whether generated images sit among the real minority images (good) or apart
  from them; the quality figures and the scatter ask whether a better generator makes a better
  classifier.
* **Sweep** — the error against the minority ratio on a log axis: where the lines of `vae`
  and `oversample` separate tells you at which imbalance generated data starts (or stops) paying off.
""")
