"""How good are a generator's minority images? Measured against real ones it never saw.

Every figure lives in the feature space of a *judge*: a small CNN trained once on all ten
MNIST digits (train split). A classifier of all ten digits has to tell strokes, loops and
slants apart, so distances between its penultimate-layer features follow what makes digits
look different; pixel distances do not (a one-pixel shift is a large pixel distance).
Inception features, the usual choice for FID, were learned on 299x299 photographs: they say
little about 28x28 digits and need a large download; this judge trains in about 25 s on one
CPU core, once per machine (it is cached).

The reference images are real minority digits from MNIST **train** that the experiment did
not draw (``heldout_minority``); the test split is never used for any of this. A generator is
measured on every class it fills (the pair's minority; each of the long tail's K - 1 minority
digits), each class against real images of its own digit.
"""

from __future__ import annotations

import functools
import hashlib
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .cache import ResultCache
from .config import ExperimentConfig, stable_hash
from .data import Mnist, load_mnist
from .errors import ConfigError
from .models import conv_features
from .provenance import PACKAGE_DIR, fingerprint_of
from .recipes import Approach, build_approach
from .results import ExperimentResult, generator_label
from .runner import Runner
from .tasks import is_stop
from .training import Progress, pick_device, seeded_init, to_tensor, use_identity

JUDGE_KIND = "judge"
#: Bump when the judge's architecture or training loop changes (it is part of the cache key).
JUDGE_VERSION = 1
JUDGE_EPOCHS = 2
JUDGE_BATCH_SIZE = 128
JUDGE_LR = 1e-3
JUDGE_SEED = 0
FEATURE_DIM = 128
#: Real held-out images of each class the figures compare against, and the most generated
#: images of a class they use (``generator_quality`` subsamples both to the same size).
QUALITY_IMAGES = 1000
#: Neighbours of the precision/recall balls (Kynkäänniemi et al. 2019 use k = 3).
QUALITY_K = 3


class JudgeNet(nn.Module):
    """Two strided conv layers (16, 32 channels), a 128-unit ReLU layer (the features), 10 logits.

    The size of the experiment's own CNN: it reaches about 98% test accuracy in two epochs,
    and 32/64 channels would cost four times the CPU time per step.
    """

    def __init__(self, feature_dim: int = FEATURE_DIM):
        super().__init__()
        self.body = nn.Sequential(*conv_features(3), nn.Linear(32 * 7 * 7, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.view(-1, 1, 28, 28))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _check_images(images: np.ndarray, what: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ConfigError(f"{what} must be uint8 images of shape (n, 28, 28); got {images.dtype} {images.shape}.")
    return images


@dataclass
class Judge:
    """The trained judge (on the CPU, in evaluation mode) and how it was made."""

    model: JudgeNet
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        """Its accuracy on all of MNIST test: a sanity figure for the judge, used for nothing else."""
        return float(self.info["test_accuracy"])

    @property
    def feature_dim(self) -> int:
        return int(self.info["feature_dim"])

    @torch.no_grad()
    def features(self, images: np.ndarray, chunk: int = 2048) -> np.ndarray:
        """uint8 images (n, 28, 28) -> penultimate-layer features (n, feature_dim), float32."""
        images = _check_images(images, "Judge.features input")
        cpu = torch.device("cpu")
        # np.array copies each chunk: MNIST's arrays are read-only views, which torch warns about.
        out = [self.model.features(to_tensor(np.array(images[i : i + chunk]), cpu))
               for i in range(0, len(images), chunk)]
        if not out:
            return np.zeros((0, self.feature_dim), np.float32)
        return torch.cat(out).numpy().astype(np.float32, copy=False)


def _fingerprint(mnist: Mnist) -> str:
    """A cheap identity of the training data, so a different MNIST copy gets its own judge."""
    h = hashlib.sha256()
    h.update(str(mnist.train_images.shape).encode())
    h.update(np.ascontiguousarray(mnist.train_labels).tobytes())
    h.update(np.ascontiguousarray(mnist.train_images[::97]).tobytes())
    return h.hexdigest()[:16]


def judge_settings(max_train: int | None = None, epochs: int = JUDGE_EPOCHS, seed: int = JUDGE_SEED) -> dict:
    return {
        "version": JUDGE_VERSION,
        "feature_dim": FEATURE_DIM,
        "epochs": int(epochs),
        "batch_size": JUDGE_BATCH_SIZE,
        "lr": JUDGE_LR,
        "seed": int(seed),
        "max_train": None if max_train is None else int(max_train),
    }


def _train_judge(mnist: Mnist, settings: dict, progress: Progress) -> tuple[dict, dict[str, np.ndarray]]:
    """Adam on shuffled mini-batches of MNIST train (all ten digits), then one pass over test."""
    device = pick_device()
    seed = settings["seed"]
    n = len(mnist.train_images)
    if settings["max_train"] is not None:
        n = min(settings["max_train"], n)
    gen = torch.Generator().manual_seed(seed + 2038074743)
    pick = torch.randperm(len(mnist.train_images), generator=gen)[:n].numpy()
    x = to_tensor(mnist.train_images[pick], device)
    y = torch.from_numpy(mnist.train_labels[pick].astype(np.int64)).to(device)
    model = seeded_init(seed, lambda: JudgeNet(settings["feature_dim"]), device)
    opt = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    bs = settings["batch_size"]
    per_epoch = -(-n // bs)
    total = settings["epochs"] * per_epoch
    t0 = time.perf_counter()
    step = 0
    for _ in range(settings["epochs"]):
        order = torch.randperm(n, generator=gen).to(device)
        for i in range(0, n, bs):
            idx = order[i : i + bs]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if progress is not None and (step % 20 == 0 or step == total):
                progress(step, total)
    seconds = time.perf_counter() - t0
    model = model.cpu().eval()
    with torch.no_grad():
        xt = to_tensor(np.array(mnist.test_images), torch.device("cpu"))
        pred = torch.cat([model(xt[i : i + 4096]).argmax(1) for i in range(0, len(xt), 4096)]).numpy()
    accuracy = float(np.mean(pred == mnist.test_labels)) if len(pred) else float("nan")
    info = {
        **settings,
        "n_train": int(n),
        "steps": int(total),
        "seconds": seconds,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "test_accuracy": accuracy,
    }
    state = {f"state/{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    return {"info": info}, state


def load_judge(
    mnist: Mnist,
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
    key = stable_hash(JUDGE_KIND, settings, _fingerprint(mnist))
    rec, _ = cache.get_or_compute(JUDGE_KIND, key, lambda: _train_judge(mnist, settings, progress))
    info = dict(rec["meta"]["info"])
    model = JudgeNet(int(info["feature_dim"]))
    prefix = "state/"
    state = {k[len(prefix) :]: torch.from_numpy(np.array(v)) for k, v in rec["arrays"].items() if k.startswith(prefix)}
    model.load_state_dict(state)
    return Judge(model.eval(), info)


# --------------------------------------------------------------------------------------
# Metrics on feature sets (rows are points)
# --------------------------------------------------------------------------------------
def _as_points(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ConfigError(f"{what} must be a 2-D array of feature vectors (n, d); got shape {x.shape}.")
    return x


def _by_row_blocks(a: np.ndarray, b: np.ndarray, fn, chunk: int = 1024) -> np.ndarray:
    """``fn(distances(a_chunk, b))`` row block by row block, so memory stays bounded."""
    from scipy.spatial.distance import cdist  # heavy: a run that measures no quality never needs it

    return np.concatenate([fn(cdist(a[i : i + chunk], b)) for i in range(0, len(a), chunk)]) if len(a) else np.zeros(0)


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest neighbour in the same set, itself excluded."""
    # Each row holds the point's zero distance to itself, so the (k+1)-th smallest is the k-th neighbour.
    return _by_row_blocks(x, x, lambda d: np.partition(d, k, axis=1)[:, k])


def _share_inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
    """The share of ``points`` that fall inside at least one ball (centre, radius)."""
    inside = _by_row_blocks(points, centres, lambda d: (d <= radii[None, :]).any(axis=1))
    return float(np.mean(inside))


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019).

    Each set's manifold is the union of balls around its points, each ball reaching the
    point's k-th nearest neighbour. Precision: the share of generated points inside the real
    manifold (are the samples realistic?). Recall: the share of real points inside the
    generated manifold (do the samples cover the variety of real digits?).
    """
    real, fake = _as_points(real, "real"), _as_points(fake, "fake")
    if k < 1:
        raise ConfigError(f"k must be at least 1; got {k}.")
    for name, x in (("real", real), ("generated", fake)):
        if len(x) <= k:
            raise ConfigError(f"Precision/recall with k={k} needs at least {k + 1} {name} images; got {len(x)}.")
    if real.shape[1] != fake.shape[1]:
        raise ConfigError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}.")
    precision = _share_inside(fake, real, _knn_radii(real, k))
    recall = _share_inside(real, fake, _knn_radii(fake, k))
    return precision, recall


def _checked_sqrtm(a: np.ndarray, scale: float) -> np.ndarray | None:
    """The real square root of ``a``, or None when scipy's is inaccurate or clearly complex.

    The judge's ReLU features include units that never fire for a given digit (about 40 of
    128), so covariances are singular and scipy warns on every call; yet its root is then
    accurate to round-off (measured: relative residual 1e-15, same value as an eigh-based
    formula to 1e-6). So the warning is silenced and the residual checked instead.
    """
    from scipy import linalg  # heavy: a run that measures no quality never needs it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(a)
    if not np.isfinite(root).all() or np.abs(np.imag(root)).max(initial=0.0) > 1e-3 * scale:
        return None
    root = np.real(root)  # the exact root's trace is real; what is left is round-off
    if np.linalg.norm(root @ root - a) > 1e-6 * max(np.linalg.norm(a), 1e-12):
        return None
    return root


def frechet_distance(real: np.ndarray, fake: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al., NeurIPS 2017).

    ``|m1 - m2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``: FID's formula, in the judge's features.
    """
    real, fake = _as_points(real, "real"), _as_points(fake, "fake")
    if len(real) < 2 or len(fake) < 2:
        raise ConfigError(f"The Fréchet distance needs 2 or more images per set; got {len(real)} and {len(fake)}.")
    if real.shape[1] != fake.shape[1]:
        raise ConfigError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}.")
    m1, m2 = real.mean(0), fake.mean(0)
    s1 = np.atleast_2d(np.cov(real, rowvar=False))
    s2 = np.atleast_2d(np.cov(fake, rowvar=False))
    scale = max(1.0, float(np.abs(s1).max()), float(np.abs(s2).max()))
    covmean = _checked_sqrtm(s1 @ s2, scale)
    if covmean is None:
        # Fewer points than features can leave sqrtm without an accurate real root; a tiny
        # ridge on both covariances fixes it (as pytorch-fid does).
        offset = np.eye(len(s1)) * eps * scale
        covmean = _checked_sqrtm((s1 + offset) @ (s2 + offset), scale)
        if covmean is None:
            raise ConfigError("No accurate matrix square root for these features: the Fréchet distance is undefined.")
    value = float(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))
    return max(value, 0.0)  # round-off can leave -1e-12 for identical sets


def _nearest_distance(queries: np.ndarray, points: np.ndarray) -> np.ndarray:
    return _by_row_blocks(queries, points, lambda d: d.min(axis=1))


def memorisation(samples: np.ndarray, train: np.ndarray, heldout: np.ndarray) -> tuple[float, float]:
    """(median distance sample -> nearest training image, the same for real held-out images).

    Real held-out digits show how far a *new* digit typically lies from the generator's
    training set; a generator whose samples sit much closer than that is copying its
    training images rather than drawing new ones.
    """
    samples, train, heldout = _as_points(samples, "samples"), _as_points(train, "train"), _as_points(heldout, "heldout")
    for name, x in (("generated", samples), ("training", train), ("held-out", heldout)):
        if len(x) == 0:
            raise ConfigError(f"Memorisation needs at least one {name} image; got none.")
    return float(np.median(_nearest_distance(samples, train))), float(np.median(_nearest_distance(heldout, train)))


# --------------------------------------------------------------------------------------
# Reference images and the one call the app makes
# --------------------------------------------------------------------------------------
def heldout_minority(mnist: Mnist, digit: int, exclude_train_index: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` MNIST train images of ``digit`` that the experiment did not draw (seeded choice).

    Never the test split: test images decide the experiment's results and must not also be
    used to judge its generators.
    """
    if not 0 <= int(digit) <= 9:
        raise ConfigError(f"digit must be 0-9; got {digit}.")
    if n < 0:
        raise ConfigError(f"n must be 0 or more; got {n}.")
    pool = np.flatnonzero(mnist.train_labels == digit)
    pool = pool[~np.isin(pool, np.asarray(exclude_train_index, dtype=np.int64))]
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(pool, size=min(int(n), len(pool)), replace=False))
    return mnist.train_images[chosen]


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
    generated = _check_images(generated, "generated")
    fit_minority = _check_images(fit_minority, "fit_minority")
    heldout = _check_images(heldout, "heldout")
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
        mnist = load_mnist(runner.data_dir)
        judge = load_judge(mnist, runner.cache)
        data, _ = runner.fit_data(a, seed)
        gen = runner.generator(a, seed)
        asked = runner.n_generate(a, data)
        exclude = data.train_index if data.train_index is not None else np.zeros(0, np.int64)
        by_class = {}
        for label in cfg.fill:
            n_asked = int(asked.get(label, 0))
            samples = gen.sample(quality_sample_size(n_asked), seed=seed, label=label)
            held = heldout_minority(mnist, cfg.classes[label], exclude, QUALITY_IMAGES, seed)
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
    return fingerprint_of(PACKAGE_DIR, ("quality.py",))
