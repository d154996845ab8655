"""How good are a generator's images? Measured against real ones it never saw.

Every figure lives in the feature space of the judge (``parts.judge``: a small CNN trained
once per dataset on its ten classes); the figures themselves are ``statistics.image_quality``'s.
This module picks the images and runs the measurement.

The reference images are real images of the dataset's **train** split that the experiment did not draw
(``heldout_minority``); the test split is never used for any of this. A generator is
measured on every class it fills (the pair's minority; each of the long tail's K - 1 minority
digits), each class against real images of its own digit.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch

from ..declarations.config import ExperimentConfig, stable_hash
from ..declarations.errors import ConfigError
from ..declarations.jobs import is_stop
from ..declarations.locations import PACKAGE_DIR
from ..declarations.provenance import fingerprint_of
from ..parts.data import Images, load_images
from ..parts.judge import (
    JUDGE_EPOCHS, JUDGE_KIND, JUDGE_SEED, Judge, JudgeNet, check_images, judge_settings, images_fingerprint, train_judge,
)
from ..parts.training import Progress, use_identity
from ..running.cache import ResultCache
from ..running.recipes import Approach, build_approach
from ..running.results import ExperimentResult, generator_label
from ..running.runner import Runner
from ..statistics.image_quality import frechet_distance, memorisation, precision_recall

#: The code the quality figures come from (hashed by ``quality_fingerprint``).
QUALITY_MODULES = ("parts/judge.py", "statistics/image_quality.py", "studies/quality.py")

#: Real held-out images of each class the figures compare against, and the most generated
#: images of a class they use (``generator_quality`` subsamples both to the same size).
QUALITY_IMAGES = 1000
#: Neighbours of the precision/recall balls (Kynkäänniemi et al. 2019 use k = 3).
QUALITY_K = 3


def load_judge(
    images: Images,
    cache: ResultCache,
    *,
    progress: Progress = None,
    max_train: int | None = None,
    epochs: int = JUDGE_EPOCHS,
    seed: int = JUDGE_SEED,
) -> Judge:
    """The judge from the cache, trained first if absent (about 25 s on one CPU core).

    ``max_train`` (a seeded subset of MNIST train) and ``epochs`` exist for quick tests; the
    app uses the defaults so every page shares one judge.
    """
    if max_train is not None and max_train < 1:
        raise ConfigError(f"max_train must be at least 1 (or None for all of MNIST train); got {max_train}.")
    if epochs < 1:
        raise ConfigError(f"The judge needs at least one epoch; got {epochs}.")
    settings = judge_settings(max_train, epochs, seed)
    key = stable_hash(JUDGE_KIND, settings, images_fingerprint(images))
    rec, _ = cache.get_or_compute(JUDGE_KIND, key, lambda: train_judge(images, settings, progress))
    info = dict(rec["meta"]["info"])
    model = JudgeNet(int(info["feature_dim"]))
    prefix = "state/"
    state = {k[len(prefix) :]: torch.from_numpy(np.array(v)) for k, v in rec["arrays"].items() if k.startswith(prefix)}
    model.load_state_dict(state)
    return Judge(model.eval(), info)


# --------------------------------------------------------------------------------------
# Reference images and the one call the app makes
# --------------------------------------------------------------------------------------
def heldout_minority(images: Images, digit: int, exclude_train_index: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` MNIST train images of ``digit`` that the experiment did not draw (seeded choice).

    Never the test split: test images decide the experiment's results and must not also be
    used to judge its generators.
    """
    if not 0 <= int(digit) <= 9:
        raise ConfigError(f"digit must be 0-9; got {digit}.")
    if n < 0:
        raise ConfigError(f"n must be 0 or more; got {n}.")
    pool = np.flatnonzero(images.train_labels == digit)
    pool = pool[~np.isin(pool, np.asarray(exclude_train_index, dtype=np.int64))]
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(pool, size=min(int(n), len(pool)), replace=False))
    return images.train_images[chosen]


def generator_quality(
    judge: Judge,
    generated: np.ndarray,
    fit_minority: np.ndarray,
    heldout: np.ndarray,
    *,
    k: int = 3,
    max_images: int = 1000,
    seed: int = 0,
) -> dict[str, float | int]:
    """Precision, recall, Fréchet distance and memorisation of one generator's images.

    ``generated`` and ``heldout`` are subsampled (by ``seed``) to the same size, at most
    ``max_images``: k-NN balls shrink as a set grows, so precision and recall compare fairly
    only between sets of equal size. ``fit_minority`` is the generator's own training set,
    used only for memorisation.
    """
    generated = check_images(generated, "generated")
    fit_minority = check_images(fit_minority, "fit_minority")
    heldout = check_images(heldout, "heldout")
    if max_images <= k:
        raise ConfigError(f"max_images must exceed k={k}; got {max_images}.")
    n = min(max_images, len(generated), len(heldout))
    rng = np.random.default_rng(seed)
    gen_x = generated[np.sort(rng.choice(len(generated), size=n, replace=False))]
    ref_x = heldout[np.sort(rng.choice(len(heldout), size=n, replace=False))]
    fake, real, fit = judge.features(gen_x), judge.features(ref_x), judge.features(fit_minority)
    precision, recall = precision_recall(real, fake, k=k)
    mem, mem_real = memorisation(fake, fit, real)
    return {
        "precision": precision,
        "recall": recall,
        "frechet": frechet_distance(real, fake),
        "memorisation": mem,
        "memorisation_real": mem_real,
        "n_generated": int(n),
        "n_reference": int(n),
    }


# --------------------------------------------------------------------------------------
# Quality of an experiment's generators (cached beside its results)
# --------------------------------------------------------------------------------------
def measure_quality(result: ExperimentResult, *, cache: ResultCache | None = None, data_dir=None,
                    runner: Runner | None = None) -> None:
    """Fill ``result.quality`` for every (generator, seed) of the result (cached), with
    ``runner`` (the result's config, cache and identity; default: one for ``cache``).

    An entry stored before the figures were measured class by class (no ``by_class``) is
    measured again; if that fails, the old entry stays."""
    runner = runner or Runner(result.config, cache if cache is not None else ResultCache(), data_dir=data_dir)
    for name, a in result.recipes.items():
        if not a.recipe.gen:
            continue
        for seed in result.runs.get(name, {}):
            label = generator_label(a)
            if "by_class" in result.quality.get((label, seed), {}):
                continue
            try:
                result.quality[(label, seed)] = quality_of(runner, a, seed)
            except Exception as err:  # a quality figure must never lose the finished results
                if is_stop(err):
                    raise
                warnings.warn(f"quality of {a.recipe.gen} (seed {seed}) not measured: {err}", RuntimeWarning, stacklevel=2)


def quality_sample_size(n_asked: int, max_images: int = QUALITY_IMAGES, k: int = QUALITY_K) -> int:
    """How many images of one class to sample from a generator for its quality figures.

    The number the recipe asks of that class, capped at ``max_images`` (``generator_quality``
    would drop the rest): the figures then describe as many images as the classifier got,
    up to the size every class is compared at. A recipe that asks fewer than ``k + 1``
    images of a class (none, e.g. a class already above ``fill_to``) leaves too few for the
    k-NN balls; then ``max_images`` are sampled anyway, so the generator's images of that
    class are still judged, and ``quality_of`` records ``n_asked`` beside them: such a
    class's recall gain cannot come from its own generated images, none or almost none were
    in the training set.
    """
    if n_asked < 0:
        raise ConfigError(f"n_asked must be 0 or more; got {n_asked}.")
    return min(int(n_asked), max_images) if n_asked > k else max_images


def quality_of(runner: Runner, a: Approach, seed: int) -> dict:
    """Precision, recall, Frechet distance and memorisation of the approach's generated
    images of every class it fills, each against real images of that class's digit this
    experiment did not draw (MNIST train).

    Returns ``{"by_class": {str(label): figures}, **figures of the rarest class}``: each
    class's figures are ``generator_quality``'s plus ``digit`` (its MNIST digit) and
    ``n_asked`` (the images the recipe asks of it; ``quality_sample_size`` says how many
    are sampled). The top-level figures are those of the last label, the rarest (the
    pair's minority), as before per-class figures existed, so their readers keep working.
    Deterministic: the images come from ``gen.sample(n, seed=seed, label=label)`` and the
    held-out ones from ``heldout_minority(..., seed)``.
    """
    key = stable_hash("quality", quality_fingerprint(), runner.generator_key(a, seed), runner.identity.key())

    def compute():
        use_identity(runner.identity)
        cfg = runner.config
        images = runner.images.get(cfg.dataset) or load_images(runner.data_dir, dataset=cfg.dataset)
        judge = load_judge(images, runner.cache)
        data, _ = runner.fit_data(a, seed)
        gen = runner.generator(a, seed)
        asked = runner.n_generate(a, data)
        exclude = data.train_index if data.train_index is not None else np.zeros(0, np.int64)
        by_class = {}
        for label in cfg.fill:
            n_asked = int(asked.get(label, 0))
            samples = gen.sample(quality_sample_size(n_asked), seed=seed, label=label)
            held = heldout_minority(images, cfg.classes[label], exclude, QUALITY_IMAGES, seed)
            figures = generator_quality(judge, samples, data.generator_by_class[label], held, k=QUALITY_K,
                                        max_images=QUALITY_IMAGES, seed=seed)
            by_class[str(label)] = {**figures, "digit": int(cfg.classes[label]), "n_asked": n_asked}
        rarest = {k: v for k, v in by_class[str(cfg.n_classes - 1)].items() if k not in ("digit", "n_asked")}
        return {"quality": {**rarest, "by_class": by_class}}, {}

    rec, _ = runner.cache.get_or_compute("quality", key, compute,
                                         validate=lambda r: r["meta"]["quality"]["by_class"]["1"]["precision"])
    return dict(rec["meta"]["quality"])


def generator_quality_of(config: ExperimentConfig, name: str, seed: int, *, cache: ResultCache | None = None,
                         data_dir=None) -> dict:
    """The quality figures of generator ``name`` for (config, seed) (fits it if needed)."""
    config.validate()
    approach = build_approach(f"gen={name}", config.protocol_record)
    return quality_of(Runner(config, cache if cache is not None else ResultCache(), data_dir=data_dir), approach, seed)


@functools.lru_cache(maxsize=1)
def quality_fingerprint() -> str:
    """The quality measures' own code, hashed like the result fingerprint (outside it:
    changing them re-measures quality without retraining anything)."""
    return fingerprint_of(PACKAGE_DIR, QUALITY_MODULES)
