"""The one contract every minority-image generator follows (after imbalanced-learn).

A task has K classes, label 0 the head (the largest); a generator learns from the images
of every label and generates the labels it is asked to fill (``FitData.fill``). The digit
pair is the K = 2 case: label 1 is its minority, and it keeps the pair's seeds, draws and
array names, so a pair generator fits, samples and loads bit for bit as before.

``fit`` (public, here) checks the input, seeds, times the fit and refuses a model that
diverged; ``_fit`` (the subclass) only trains. ``sample`` returns uint8 images like real
MNIST pixels, so a generator loaded from the cache gives bit-identical training data.
A fitted generator round-trips through ``state()`` / ``load_state()`` (JSON + arrays: the
result cache stores it without pickle).
"""

from __future__ import annotations

import importlib
import re
import time
from abc import abstractmethod
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Optional, Sequence

import numpy as np

from ...declarations.errors import VaeimbError
from ...declarations.params import Param
from ...declarations.part import Part
from ..augmentations import AUGMENTATIONS, make_augmentation
from ..training import adam, autocast, fast_layout, no_grad, standard_layout, to_tensor

if TYPE_CHECKING:
    import torch

    from .filter import ConfidenceFilter

#: ``progress(done, total)``; it may raise to abort the fit.
Progress = Optional[Callable[[int, int], None]]

#: Seed offsets of a learned generator's batch draws, its reparameterisation noise and its samples.
BATCH_SEED, NOISE_SEED, SAMPLE_SEED = 104729, 15485863, 32452843
#: Seed offsets of a generator's training-batch augmentation, and between the sampling
#: rounds of a confidence filter (round r samples with ``seed + r * ROUND_SEED``).
AUG_SEED, ROUND_SEED = 49979687, 7_368_787
#: A filter draws at most this many rounds of candidates; the probe at fit time this many images per label.
FILTER_ROUNDS, FILTER_PROBE = 20, 500
#: Seed step between labels: label c uses ``seed + (c - 1) * CLASS_SEED`` (``class_seed``).
CLASS_SEED = 1_000_003
#: Images decoded per forward pass when sampling.
DECODE_CHUNK = 1024
#: Where fitted models live (and encode, decode, sample): the device torch calls "cpu".
CPU = "cpu"


class GeneratorError(VaeimbError):
    """A generator cannot fit this data (too few images, diverged to NaN, ...)."""


def class_seed(seed: int, label: int) -> int:
    """The seed label ``label`` is sampled with (and fitted with, by a model per label):
    label 1, the pair's minority, keeps ``seed`` itself."""
    return seed + (label - 1) * CLASS_SEED


@dataclass(frozen=True)
class FitData:
    """What a generator may learn from: uint8 images (n, 28, 28) of each label. Under the
    leaky protocol the images of the labels to fill are TEST images (the original's leak)."""

    #: The images of each label, in label order (0 = the head, the largest class).
    by_class: tuple[np.ndarray, ...]
    #: The labels to generate for: (1,) for a digit pair, (1, ..., K-1) for a long tail.
    fill: tuple[int, ...]
    #: How messages name each label (e.g. "digit 9"); None: "label c".
    names: tuple[str, ...] | None = None

    def __post_init__(self):
        object.__setattr__(self, "by_class", tuple(self.by_class))
        object.__setattr__(self, "fill", tuple(int(c) for c in self.fill))
        if self.names is not None:
            object.__setattr__(self, "names", tuple(str(n) for n in self.names))

    @classmethod
    def pair(cls, minority: np.ndarray, majority: np.ndarray) -> "FitData":
        """A digit pair: label 0 the majority, label 1 the minority to fill."""
        return cls((majority, minority), (1,))

    @property
    def n_classes(self) -> int:
        return len(self.by_class)

    @property
    def minority(self) -> np.ndarray:
        """The images of the first label to fill (the pair's minority)."""
        return self.by_class[self.fill[0]]

    @property
    def majority(self) -> np.ndarray:
        """The head's images (label 0; the pair's majority)."""
        return self.by_class[0]


# ---- parameters declared once, listed by each generator that uses them ----------------
#: Which generated images are kept (every generator): a classifier of the real training images must agree.
FILTER_Q = Param("filter_q", None, "float", 0.0, 1.0, optional=True, low_open=True, high_open=True,
                 help="Keep only images that a CNN trained on the real training images (never the test set) "
                      "gives their class a probability >= q; none: keep every image.")
#: How a learned generator's conv layers are sized.
WIDTH = Param("width", 1, "int", 1, 8,
              help="Channel multiplier of the conv layers (1: 16 and 32 channels, the original's; 4: 64 and 128).")
#: What a learned generator sees of its training images.
TRAIN_AUG = Param("train_aug", "none", "choice", choices=tuple(AUGMENTATIONS),
                  help="Augmentation of the generator's training batches (affine jitter, elastic distortion): "
                       "more varied strokes from a few images.")
#: How long a learned generator trains, relative to the experiment's generator budget.
STEPS_SCALE = Param("steps_scale", 1.0, "float", 0.25, 8.0,
                    help="Train for this many times the budget's generator steps (2: twice as long).")
#: KL annealing of a VAE.
BETA_WARMUP = Param("beta_warmup", 0.0, "float", 0.0, 1.0,
                    help="KL annealing: the KL weight rises linearly from 0 to 1 over this share of the steps "
                         "(0: the plain ELBO from the first step).")
#: How a VAE's latent codes are drawn.
SAMPLING = Param("sampling", "prior", "choice", choices=("prior", "posterior"),
                 help="prior: z ~ N(0, t^2 I); posterior: z near the code of a real image of the class, "
                      "mu_i + t * sd_i * eps (its latent neighbourhood).")
TEMPERATURE = Param("temperature", 1.0, "float", 0.0, 10.0, low_open=True,
                    help="t, the scale of the latent noise when sampling (1: the model's own spread).")
#: The parameters of a VAE's training and sampling (vae, cvae).
VAE_PARAMS = (WIDTH, TRAIN_AUG, STEPS_SCALE, BETA_WARMUP, SAMPLING, TEMPERATURE, FILTER_Q)


def kl_weight(step: int, steps: int, warmup: float) -> float:
    """The KL weight at 1-based ``step``: rising linearly to 1 over ``warmup`` of the steps."""
    if warmup <= 0.0:
        return 1.0
    return min(1.0, step / max(1.0, warmup * steps))


@dataclass(frozen=True)
class FitBudget:
    """The training budget of a learned generator (from the experiment config)."""

    steps: int = 400
    batch_size: int = 64
    lr: float = 1e-3
    latent_dim: int = 20
    #: "random": batches drawn with replacement; "cycle": the original code's full-batch
    #: order (every step sees the next ``batch_size`` images, cycling through them in order).
    batching: str = "random"


class Generator(Part):
    """Fit on one experiment's training draw, then sample any number of images of each
    label it fills."""

    kind = "generator"
    #: Whether the model has a latent space (encode / decode; the Latent space page).
    has_latent: ClassVar[bool] = False
    #: Whether it learns from the labels it does not fill too (e.g. a conditional VAE).
    uses_majority: ClassVar[bool] = False
    #: Whether it trains with the budget (steps, batch size, lr, latent size). Generators
    #: that do not (SMOTE, affine augmentation) share cache entries across budgets.
    uses_budget: ClassVar[bool] = False
    #: The labels it generates and the task's number of classes (set by ``fit`` and
    #: ``load_state``; a state saved before K-class tasks is a pair's: these defaults).
    fill: tuple[int, ...] = (1,)
    n_classes: int = 2

    def __init__(self, **values: Any):
        super().__init__(**values)
        self.info: dict[str, Any] = {}
        self.names: tuple[str, ...] | None = None
        self.filter: ConfidenceFilter | None = None
        #: {label: what the last filtered ``sample`` drew and kept} (not stored).
        self.filter_stats: dict[int, dict] = {}
        self._fitted = False

    # ---- the public contract (do not override) ------------------------------------
    def fit(self, data: FitData, budget: FitBudget, *, seed: int, progress: Progress = None) -> "Generator":
        k = data.n_classes
        if not data.fill or len(set(data.fill)) < len(data.fill) or not all(0 < c < k for c in data.fill):
            raise GeneratorError(f"generator '{self.name}': the labels to fill {list(data.fill)} must be distinct "
                                 f"labels in 1..{k - 1} (label 0 is the head class).")
        for c in data.fill:
            if len(data.by_class[c]) == 0:
                raise GeneratorError(f"generator '{self.name}' needs at least one minority image (label {c}).")
        t0 = time.perf_counter()
        self.fill, self.n_classes, self.names = data.fill, k, data.names
        self._fit(data, budget, seed=seed, progress=progress)
        self._fitted = True
        self.info = {**self.info, "seconds": time.perf_counter() - t0, "n_minority": int(len(data.minority)),
                     "n_majority": int(len(data.majority)), "n_by_class": [int(len(x)) for x in data.by_class]}
        if self.values.get("filter_q") is not None:
            t1 = time.perf_counter()
            from .filter import ConfidenceFilter  # torch: the filter is a network

            self.filter = ConfidenceFilter(k).fit(data.by_class, seed)
            self.info["filter"] = self._probe_filter(seed)
            self.info["filter_seconds"] = time.perf_counter() - t1
        return self

    def _probe_filter(self, seed: int) -> dict[str, dict]:
        """The filter's acceptance on ``FILTER_PROBE`` unfiltered images of each label (the
        rejection rate a recipe's sampling will meet), by label."""
        q = self.values["filter_q"]
        out = {}
        for c in self.fill:
            kept = int(self.filter.keep(self._draw(FILTER_PROBE, seed, c, 0), c, q).sum())
            out[str(c)] = {"q": q, "drawn": FILTER_PROBE, "kept": kept, "rejection": 1.0 - kept / FILTER_PROBE}
        return out

    def label_name(self, label: int) -> str:
        """How messages name ``label`` (e.g. "digit 9")."""
        return self.names[label] if self.names is not None and label < len(self.names) else f"label {label}"

    def sample(self, n: int, *, seed: int, label: int | None = None) -> np.ndarray:
        """``n`` images of ``label`` (None: ``fill[0]``, the pair's minority), uint8 (n, 28, 28);
        the same seed gives the same images. ``_sample`` gets the label's ``class_seed``."""
        c = self._label(label)
        if n < 0:
            raise GeneratorError(f"cannot sample {n} images.")
        if n == 0:
            return np.zeros((0, 28, 28), np.uint8)
        if self.filter is not None:
            return self._filtered(int(n), seed, c)
        return self._draw(int(n), seed, c, 0)

    def _draw(self, n: int, seed: int, label: int, round_: int) -> np.ndarray:
        """``n`` unfiltered images of ``label`` from sampling round ``round_`` (0: the seed itself)."""
        out = np.asarray(self._sample(n, seed=class_seed(seed, label) + round_ * ROUND_SEED, label=label))
        if out.shape != (n, 28, 28) or out.dtype != np.uint8:
            raise GeneratorError(f"generator '{self.name}' returned {out.shape} {out.dtype}, not ({n}, 28, 28) uint8.")
        return out

    def _filtered(self, n: int, seed: int, label: int) -> np.ndarray:
        """``n`` images of ``label`` that pass the confidence filter: rounds of ``n`` candidates
        (at most ``FILTER_ROUNDS``) until ``n`` passed; if fewer passed, the kept ones are
        repeated in order (recorded in ``filter_stats``); none at all is a GeneratorError."""
        q = self.values["filter_q"]
        kept: list[np.ndarray] = []
        total, drawn = 0, 0
        for r in range(FILTER_ROUNDS):
            cand = self._draw(n, seed, label, r)
            drawn += n
            ok = cand[self.filter.keep(cand, label, q)]
            kept.append(ok)
            total += len(ok)
            if total >= n:
                break
        if total == 0:
            raise GeneratorError(f"generator '{self.name}': the confidence filter (filter_q={q:g}) kept none of "
                                 f"{drawn} generated images of {self.label_name(label)}; lower filter_q.")
        out = np.concatenate(kept)
        self.filter_stats[label] = {"q": q, "drawn": drawn, "kept": int(total), "rejection": 1.0 - total / drawn,
                                    "repeated": int(max(0, n - total))}
        return out[np.resize(np.arange(len(out)), n)] if total < n else out[:n]

    def reconstruct(self, images: np.ndarray, label: int) -> np.ndarray:
        """uint8 images of ``label`` passed through the generator's autoencoder (encoded,
        decoded): the artefact its images carry, given to real ones. Only a generator with a
        latent space has one."""
        raise GeneratorError(f"generator '{self.name}' has no autoencoder to pass real images through; choose "
                             "one with a latent space that learns every class (cvae, latent-smote, deepsmote).")

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-able meta, numpy arrays): everything ``load_state`` needs."""
        self._check_fitted()
        meta, arrays = self._state()
        if self.filter is not None:
            arrays = {**arrays, **self.filter.arrays()}
        names = None if self.names is None else list(self.names)
        return {"generator": self.name, "values": self.values, "info": self.info, "fill": list(self.fill),
                "n_classes": self.n_classes, "names": names, **meta}, arrays

    def load_state(self, meta: dict, arrays: dict[str, np.ndarray]) -> "Generator":
        self.fill = tuple(int(c) for c in meta.get("fill", Generator.fill))
        self.n_classes = int(meta.get("n_classes", Generator.n_classes))
        self.names = None if meta.get("names") is None else tuple(meta["names"])
        if self.values.get("filter_q") is not None:
            if not any(k.startswith("filter/") for k in arrays):
                raise GeneratorError(f"stored generator '{self.name}' has no confidence filter; refit it.")
            from .filter import ConfidenceFilter  # torch: the filter is a network

            self.filter = ConfidenceFilter.from_arrays(self.n_classes, arrays)
        self._load_state(meta, arrays)
        self.info = dict(meta.get("info", {}))
        self._fitted = True
        return self

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise GeneratorError(f"generator '{self.name}' is not fitted yet.")

    def _label(self, label: int | None) -> int:
        """``label`` (None: ``fill[0]``) if this fitted generator generates it."""
        self._check_fitted()
        if label is None:
            return self.fill[0]
        if label not in self.fill:
            raise GeneratorError(f"generator '{self.name}' generates label(s) "
                                 f"{', '.join(map(str, self.fill))}, not {label}.")
        return int(label)

    @staticmethod
    def check_finite(name: str, value: float) -> None:
        """Raise the one clear message for a generator whose training diverged."""
        if not np.isfinite(value):
            raise GeneratorError(
                f"generator '{name}' diverged (loss {value}); lower its learning rate or its steps."
            )

    # ---- what a subclass writes -------------------------------------------------------
    @abstractmethod
    def _fit(self, data: FitData, budget: FitBudget, *, seed: int, progress: Progress) -> None: ...

    @abstractmethod
    def _sample(self, n: int, *, seed: int, label: int) -> np.ndarray: ...

    @abstractmethod
    def _state(self) -> tuple[dict, dict[str, np.ndarray]]: ...

    @abstractmethod
    def _load_state(self, meta: dict, arrays: dict[str, np.ndarray]) -> None: ...


def class_prefix(label: int) -> str:
    """Where label ``label``'s arrays sit in a state: label 1 under the pair's names (so a
    pair's state loads as before), label c >= 2 under ``class<c>/``."""
    return "" if label == 1 else f"class{label}/"


def class_arrays(arrays: dict[str, np.ndarray], label: int) -> dict[str, np.ndarray]:
    """Label ``label``'s arrays of a state, named without their ``class_prefix``."""
    prefix = class_prefix(label)
    if prefix:
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
    return {k: v for k, v in arrays.items() if not re.match(r"class\d+/", k)}


class PerClass(Generator):
    """The pair's method once per label to fill: ``_fit_class`` learns one label from its
    images alone, seeded with ``class_seed`` (so label 1 fits exactly as the pair's minority
    did); ``fits`` maps each label to what it learned; progress counts over all the fits.

    By default what a label learns is its images (SMOTE, affine copies); a model per label
    overrides ``_fit_class``, ``_class_state`` and ``_load_class``.
    """

    #: {label: what ``_fit_class`` learned from that label's images}
    fits: dict[int, Any]

    def _fit(self, data: FitData, budget: FitBudget, *, seed: int, progress: Progress) -> None:
        n = len(data.fill)
        self.fits = {}
        for i, c in enumerate(data.fill):
            report = None if progress is None else (lambda done, total, i=i: progress(i * total + done, n * total))
            self.fits[c] = self._fit_class(c, data.by_class[c], budget, seed=class_seed(seed, c), progress=report)

    def _state(self) -> tuple[dict, dict[str, np.ndarray]]:
        meta, arrays = {}, {}
        for c, fit in self.fits.items():
            m, a = self._class_state(fit)
            meta.update(m)
            arrays.update({class_prefix(c) + k: v for k, v in a.items()})
        return meta, arrays

    def _load_state(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        self.fits = {c: self._load_class(meta, class_arrays(arrays, c)) for c in self.fill}

    def _fit_class(self, label: int, images: np.ndarray, budget: FitBudget, *, seed: int, progress: Progress) -> Any:
        """What label ``label`` learns from its uint8 ``images`` (n, 28, 28)."""
        return np.asarray(images, np.uint8).copy()

    def _class_state(self, fit: Any) -> tuple[dict, dict[str, np.ndarray]]:
        """(meta, arrays) of one label's fit, array names without the ``class_prefix``."""
        return {}, {"minority": fit}

    def _load_class(self, meta: dict, arrays: dict[str, np.ndarray]) -> Any:
        return np.asarray(arrays["minority"], np.uint8)


class LatentGenerator(Generator):
    """A generator with a latent space the Latent space page can explore.

    ``encode``, ``decode``, ``decoder_module`` and ``decoder_condition`` take the label to
    work in (None: ``fill[0]``, the pair's minority). Here a single model serves every
    label (``model``, ``losses``; a model per label: see ``vae``).
    """

    has_latent = True
    uses_budget = True

    #: Latent size of the fitted model.
    latent_dim: int
    #: {label: (n, latent) latent means of the images of each filled label it was fitted on}.
    codes: dict[int, np.ndarray]
    #: {label: (latent,) mean KL of each dimension over those images (0 for a deterministic AE)}.
    kls: dict[int, np.ndarray]
    #: {label: (n, latent) posterior standard deviations of those images}, for a VAE
    #: (``sampling=posterior`` draws around them); absent for a deterministic code.
    spreads: dict[int, np.ndarray]
    #: Training loss at logged steps.
    losses: np.ndarray

    @property
    def latent_mu(self) -> np.ndarray:
        """(n_minority, latent) latent means of the minority images (``fill[0]``'s)."""
        return self.latent_mu_of(None)

    @property
    def kl_per_dim(self) -> np.ndarray:
        """(latent,) mean KL of each dimension over the minority images (``fill[0]``'s)."""
        return self.kl_per_dim_of(None)

    def latent_mu_of(self, label: int | None) -> np.ndarray:
        """(n, latent) latent means of the images of ``label`` it was fitted on."""
        return self.codes[self._label(label)]

    def kl_per_dim_of(self, label: int | None) -> np.ndarray:
        return self.kls[self._label(label)]

    def spread_of(self, label: int) -> np.ndarray | None:
        """(n, latent) posterior standard deviations of the images of ``label`` (None: none stored)."""
        return getattr(self, "spreads", {}).get(label)

    def scaled(self, budget: FitBudget) -> FitBudget:
        """The budget with its steps times ``steps_scale`` (the budget itself at 1)."""
        scale = self.values.get("steps_scale", 1.0)
        return budget if scale == 1.0 else replace(budget, steps=max(1, round(budget.steps * scale)))

    def _augmenter(self, seed: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """(batch, labels) -> the batch as the generator trains on it: augmented by
        ``train_aug`` (every image, from its own generator) or unchanged."""
        import torch  # torch: loaded where the part computes, its class loads torch-free

        name = self.values.get("train_aug", "none")
        if name == "none":
            return lambda x, y: x
        aug = make_augmentation(name)
        gen = torch.Generator().manual_seed(seed + AUG_SEED)
        return lambda x, y: aug(x, y, gen)

    def _train(self, model: torch.nn.Module, budget: FitBudget, batch_loss: Callable[[int], torch.Tensor],
               progress: Progress) -> tuple[torch.nn.Module, np.ndarray]:
        """Adam over ``budget.steps``: ``batch_loss(step)`` draws the step's batch and returns
        its loss. Logs the loss, refuses a diverged model, reports progress; keeps the latent
        size and returns the model (CPU, eval mode) and the logged losses."""
        model = fast_layout(model)
        model.train()
        opt = adam(model.parameters(), budget.lr)
        losses = []
        every = max(1, budget.steps // 100)
        for step in range(1, budget.steps + 1):
            with autocast(next(model.parameters()).device):
                loss = batch_loss(step).float()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % every == 0 or step == budget.steps:
                losses.append(float(loss.detach()))
                self.check_finite(self.name, losses[-1])
                if progress is not None:
                    progress(step, budget.steps)
        self.latent_dim = budget.latent_dim
        return standard_layout(model).cpu().eval(), np.asarray(losses, np.float32)

    @abstractmethod
    def _new_model(self, latent_dim: int):
        """An untrained torch model of this generator's architecture (weights loaded after)."""

    def _state(self) -> tuple[dict, dict[str, np.ndarray]]:
        codes = {}
        for c in self.fill:
            codes |= {class_prefix(c) + "latent_mu": self.codes[c], class_prefix(c) + "kl_per_dim": self.kls[c]}
            if self.spread_of(c) is not None:
                codes[class_prefix(c) + "latent_sd"] = self.spreads[c]
        return {"latent_dim": self.latent_dim}, {**module_arrays(self.model), **codes, "losses": self.losses}

    def _load_state(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        self.latent_dim = int(meta["latent_dim"])
        self.model = self._new_model(self.latent_dim)
        load_module_arrays(self.model, arrays)
        self.model.eval()
        self.codes = {c: np.asarray(arrays[class_prefix(c) + "latent_mu"], np.float32) for c in self.fill}
        self.kls = {c: np.asarray(arrays[class_prefix(c) + "kl_per_dim"], np.float32) for c in self.fill}
        self.spreads = {c: np.asarray(arrays[class_prefix(c) + "latent_sd"], np.float32) for c in self.fill
                        if class_prefix(c) + "latent_sd" in arrays}
        self.losses = np.asarray(arrays["losses"], np.float32)

    @abstractmethod
    def _posterior(self, x: torch.Tensor, label: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Images of ``label`` (n, 28, 28) in [0, 1] -> (latent means, log-variances), the
        log-variances None for a deterministic code."""

    @abstractmethod
    def _decode_logits(self, z: torch.Tensor, label: int) -> torch.Tensor:
        """Latent codes (n, latent_dim) -> logits of images of ``label`` (n, 28, 28)."""

    @no_grad
    def _summarise(self, data: FitData) -> None:
        """``codes`` and ``kls`` of the images of every label it fills."""
        import torch  # torch: loaded where the part computes, its class loads torch-free

        self.codes, self.kls, self.spreads = {}, {}, {}
        for c in data.fill:
            mu, logvar = self._posterior(to_tensor(data.by_class[c], CPU), c)
            self.codes[c], self.kls[c] = code_summary(mu, logvar)
            if logvar is not None:
                self.spreads[c] = torch.exp(0.5 * logvar).numpy()

    @no_grad
    def _sample(self, n: int, *, seed: int, label: int) -> np.ndarray:
        """Decoded from z ~ N(0, t^2 I) (``sampling=prior``, t the temperature: 1 by default),
        or from the neighbourhood of the real images' codes (``sampling=posterior``: a real
        image of the label, cycled through a seeded permutation, its mean plus t times its
        posterior spread times N(0, I)), drawn from the sample seed."""
        import torch  # torch: loaded where the part computes, its class loads torch-free

        gen = torch.Generator().manual_seed(seed + SAMPLE_SEED)
        eps = torch.cat([torch.randn((min(DECODE_CHUNK, n - i), self.latent_dim), generator=gen)
                         for i in range(0, n, DECODE_CHUNK)])
        t = float(self.values.get("temperature", 1.0))
        if self.values.get("sampling", "prior") == "posterior":
            mu, sd = self.latent_mu_of(label), self.spread_of(label)
            if sd is None:
                raise GeneratorError(f"generator '{self.name}' stored no posterior spreads of "
                                     f"{self.label_name(label)}; refit it to sample its posterior.")
            rows = torch.from_numpy(np.resize(torch.randperm(len(mu), generator=gen).numpy(), n))
            return self._images(torch.from_numpy(mu)[rows] + t * torch.from_numpy(sd)[rows] * eps, label)
        return self._images(eps if t == 1.0 else t * eps, label)

    @no_grad
    def reconstruct(self, images: np.ndarray, label: int) -> np.ndarray:
        """uint8 images of ``label`` encoded to their latent means and decoded. A generator
        that learns every class reconstructs every label; one with a model per filled label
        (``vae``) only those."""
        import torch  # torch: loaded where the part computes, its class loads torch-free

        self._check_fitted()
        ok = range(self.n_classes) if self.uses_majority else self.fill
        if label not in ok:
            raise GeneratorError(f"generator '{self.name}' learns only the labels it fills, not "
                                 f"{self.label_name(label)}; to pass every class through one autoencoder choose "
                                 "one that learns every class (cvae, latent-smote, deepsmote).")
        if len(images) == 0:
            return np.zeros((0, 28, 28), np.uint8)
        x = to_tensor(images, CPU)
        mu = torch.cat([self._posterior(x[i : i + DECODE_CHUNK], label)[0] for i in range(0, len(x), DECODE_CHUNK)])
        return self._images(mu, label)

    @no_grad
    def _images(self, z: torch.Tensor, label: int) -> np.ndarray:
        """uint8 images of ``label`` decoded from the codes ``z``, ``DECODE_CHUNK`` at a time."""
        import torch  # torch: loaded where the part computes, its class loads torch-free

        return quantise(torch.cat([torch.sigmoid(self._decode_logits(z[i : i + DECODE_CHUNK], label))
                                   for i in range(0, len(z), DECODE_CHUNK)]))

    @no_grad
    def encode(self, images: np.ndarray, label: int | None = None) -> np.ndarray:
        """uint8 images (n, 28, 28) of ``label`` -> latent means (n, latent_dim), float32."""
        c = self._label(label)
        if len(images) == 0:
            return np.zeros((0, self.latent_dim), np.float32)
        return self._posterior(to_tensor(images, CPU), c)[0].numpy()

    @no_grad
    def decode(self, z: np.ndarray, label: int | None = None) -> np.ndarray:
        """Latent codes (n, latent_dim) -> images of ``label`` in [0, 1], float32 (n, 28, 28)."""
        import torch  # torch: loaded where the part computes, its class loads torch-free

        c = self._label(label)
        z = torch.from_numpy(np.asarray(z, np.float32).reshape(-1, self.latent_dim))
        return torch.sigmoid(self._decode_logits(z, c)).numpy()

    @abstractmethod
    def decoder_module(self, label: int | None = None):
        """The torch decoder (eval mode, CPU) of ``label`` mapping (n, latent_dim [+ condition])
        -> logits; what the in-browser decoder mirrors."""

    def decoder_condition(self, label: int | None = None) -> np.ndarray | None:
        """For a conditional decoder: the one-hot of ``label`` appended to z (None for an
        unconditional one)."""
        return None



# ---- helpers the learned generators share ---------------------------------------------
def code_summary(mu: torch.Tensor, logvar: torch.Tensor | None) -> tuple[np.ndarray, np.ndarray]:
    """(latent means, mean KL of each dimension) of encoded images; the KL is zero for a
    deterministic code (no posterior, so no KL)."""
    from ..models import kl_per_dimension  # torch: the networks load with it

    return mu.numpy(), np.zeros(mu.shape[1], np.float32) if logvar is None else kl_per_dimension(mu, logvar).numpy()


def quantise(images: torch.Tensor) -> np.ndarray:
    """Images in [0, 1] -> uint8 like real MNIST pixels (so cached samples are bit-identical)."""
    import torch  # torch: loaded where the part computes, its class loads torch-free

    return images.mul(255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


#: How a learned generator picks each step's batch (``FitBudget.batching``).
BATCHINGS = ("random", "cycle")


def batch_indices(step: int, n: int, batch_size: int, batching: str, generator: torch.Generator) -> torch.Tensor:
    """Indices of the ``min(batch_size, n)`` images training step ``step`` (0-based) uses.

    "cycle" is the original code's order: step k takes images k*b, k*b+1, ... (mod n), so
    with n == b every step sees every image. "random" draws with replacement from
    ``generator`` (CPU).
    """
    import torch  # torch: loaded where the part computes, its class loads torch-free

    if n < 1:
        raise GeneratorError("a batch needs at least one image to draw from.")
    b = min(int(batch_size), n)
    if batching == "cycle":
        return (torch.arange(b) + step * b) % n
    if batching == "random":
        return torch.randint(n, (b,), generator=generator)
    raise GeneratorError(f"unknown batching {batching!r}; choose {' or '.join(BATCHINGS)}.")


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` rows over ``parts`` labels as evenly as possible, the first ones one more."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def mixed_batch_indices(
    step: int, counts: Sequence[int], fill: Sequence[int], batch_size: int, minority_fraction: float | None,
    batching: str, generator: torch.Generator,
) -> dict[int, torch.Tensor]:
    """{label: indices of its images} of one class-mixed batch of ``batch_size`` images
    (``counts[c]`` images of label c), in draw order.

    The labels to fill get ``round(minority_fraction * batch_size)`` rows together (at least
    one), split evenly over them in label order (at least one each); the other labels share
    the rest evenly. ``minority_fraction`` None gives every label an equal share
    (``len(fill) / K``: (K - 1) / K for a long tail, 0.5 for a pair). Each label is drawn as
    ``batch_indices`` draws it (cycling on its own) from ``generator``: the filled labels
    first, in label order, then the others (a pair: minority, then majority).
    """
    import torch  # torch: loaded where the part computes, its class loads torch-free

    fill = sorted(fill)
    others = [c for c in range(len(counts)) if c not in fill]
    fraction = len(fill) / len(counts) if minority_fraction is None else minority_fraction
    k = min(batch_size, max(1, round(fraction * batch_size)))
    rows = {c: max(1, r) for c, r in zip(fill, split_evenly(k, len(fill)))}
    rows |= dict(zip(others, split_evenly(max(0, batch_size - sum(rows.values())), len(others))))
    return {c: batch_indices(step, counts[c], r, batching, generator) if r else torch.zeros(0, dtype=torch.long)
            for c, r in rows.items()}


#: The parameter of a generator that learns from every label (``mixed_batches``).
MINORITY_FRACTION = Param("minority_fraction", None, "float", 0.05, 1.0, optional=True,
                          help="Share of each training batch drawn from the labels it generates, split evenly "
                               "among them (the rest from the other labels); none: every label an equal share "
                               "(0.5 for a digit pair).")


def mixed_batches(name: str, data: FitData, budget: FitBudget, minority_fraction: float | None, seed: int,
                  device: torch.device) -> Callable[[int], tuple[torch.Tensor, torch.Tensor]]:
    """Training step (1-based) -> (a class-mixed batch of ``data``'s images on ``device``, the
    label of each row), drawn by ``mixed_batch_indices`` from the batch seed. A GeneratorError
    naming the fix when a label to mix in has no images."""
    import torch  # torch: loaded where the part computes, its class loads torch-free

    empty = [str(c) for c in range(data.n_classes) if c not in data.fill and len(data.by_class[c]) == 0]
    if empty and (minority_fraction is None or minority_fraction < 1.0):
        raise GeneratorError(f"generator '{name}' learns from majority images too and got none of label "
                             f"{', '.join(empty)}; set {name}.minority_fraction=1 to train on the minority alone.")
    gen = torch.Generator().manual_seed(seed + BATCH_SEED)
    xs = [to_tensor(x, device) for x in data.by_class]

    def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = mixed_batch_indices(step - 1, [len(x) for x in xs], data.fill, budget.batch_size, minority_fraction,
                                  budget.batching, gen)
        labels = torch.cat([torch.full((len(i),), c, dtype=torch.long) for c, i in idx.items()])
        return torch.cat([xs[c][i.to(device)] for c, i in idx.items()]), labels.to(device)

    return batch


def module_arrays(module: torch.nn.Module, prefix: str = "state/") -> dict[str, np.ndarray]:
    """A module's ``state_dict`` as float32 numpy arrays named ``state/<param>``."""
    return {prefix + k: v.detach().cpu().numpy().astype(np.float32) for k, v in module.state_dict().items()}


def load_module_arrays(module: torch.nn.Module, arrays: dict[str, np.ndarray], prefix: str = "state/") -> None:
    """Inverse of ``module_arrays``; a GeneratorError if the stored weights do not fit."""
    import torch  # torch: loaded where the part computes, its class loads torch-free

    state = {k[len(prefix):]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise GeneratorError(f"stored generator weights do not fit the model ({first}); refit it.") from None


def moved_to_networks(module: str, names: tuple[str, ...]) -> Callable[[str], Any]:
    """``module``'s ``__getattr__`` for the networks it defined before they moved to
    ``networks``: the old names (``cvae.ConditionalConvVAE``, ...) still resolve, loading
    the networks (and torch) on first use."""

    def __getattr__(name: str):
        if name in names:
            return getattr(importlib.import_module(".networks", __package__), name)  # torch: the networks load with it
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
