"""The one contract every minority-image generator follows (after imbalanced-learn).

``fit`` (public, here) checks the input, seeds, times the fit and refuses a model that
diverged; ``_fit`` (the subclass) only trains. ``sample`` returns uint8 images like real
MNIST pixels, so a generator loaded from the cache gives bit-identical training data.
A fitted generator round-trips through ``state()`` / ``load_state()`` (JSON + arrays: the
result cache stores it without pickle).
"""

from __future__ import annotations

import time
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Optional

import numpy as np
import torch

from ..errors import VaeimbError
from ..models import kl_per_dimension
from ..params import Param
from ..parts import Part
from ..training import adam, autocast, fast_layout, standard_layout, to_tensor

#: ``progress(done, total)``; it may raise to abort the fit.
Progress = Optional[Callable[[int, int], None]]

#: Seed offsets of a learned generator's batch draws, its reparameterisation noise and its samples.
BATCH_SEED, NOISE_SEED, SAMPLE_SEED = 104729, 15485863, 32452843
#: Images decoded per forward pass when sampling.
DECODE_CHUNK = 1024


class GeneratorError(VaeimbError):
    """A generator cannot fit this data (too few images, diverged to NaN, ...)."""


@dataclass(frozen=True)
class FitData:
    """What a generator may learn from: uint8 images (n, 28, 28)."""

    #: The minority images the generator learns the minority from (under the leaky
    #: protocol these are TEST images: the original's leak).
    minority: np.ndarray
    #: The majority training images (a conditional model learns strokes from them).
    majority: np.ndarray


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
    """Fit on one experiment's training draw, then sample any number of minority images."""

    kind = "generator"
    #: Whether the model has a latent space (encode / decode; the Latent space page).
    has_latent: ClassVar[bool] = False
    #: Whether it learns from the majority images too (e.g. a conditional VAE).
    uses_majority: ClassVar[bool] = False
    #: Whether it trains with the budget (steps, batch size, lr, latent size). Generators
    #: that do not (SMOTE, affine augmentation) share cache entries across budgets.
    uses_budget: ClassVar[bool] = False

    def __init__(self, **values: Any):
        super().__init__(**values)
        self.info: dict[str, Any] = {}
        self._fitted = False

    # ---- the public contract (do not override) ------------------------------------
    def fit(self, data: FitData, budget: FitBudget, *, seed: int, progress: Progress = None) -> "Generator":
        if len(data.minority) == 0:
            raise GeneratorError(f"generator '{self.name}' needs at least one minority image.")
        t0 = time.perf_counter()
        self._fit(data, budget, seed=seed, progress=progress)
        self._fitted = True
        self.info = {**self.info, "seconds": time.perf_counter() - t0, "n_minority": int(len(data.minority)),
                     "n_majority": int(len(data.majority))}
        return self

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        """``n`` minority images, uint8 (n, 28, 28); the same seed gives the same images."""
        self._check_fitted()
        if n < 0:
            raise GeneratorError(f"cannot sample {n} images.")
        if n == 0:
            return np.zeros((0, 28, 28), np.uint8)
        out = np.asarray(self._sample(int(n), seed=seed))
        if out.shape != (n, 28, 28) or out.dtype != np.uint8:
            raise GeneratorError(f"generator '{self.name}' returned {out.shape} {out.dtype}, not ({n}, 28, 28) uint8.")
        return out

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-able meta, numpy arrays): everything ``load_state`` needs."""
        self._check_fitted()
        meta, arrays = self._state()
        return {"generator": self.name, "values": self.values, "info": self.info, **meta}, arrays

    def load_state(self, meta: dict, arrays: dict[str, np.ndarray]) -> "Generator":
        self._load_state(meta, arrays)
        self.info = dict(meta.get("info", {}))
        self._fitted = True
        return self

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise GeneratorError(f"generator '{self.name}' is not fitted yet.")

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
    def _sample(self, n: int, *, seed: int) -> np.ndarray: ...

    @abstractmethod
    def _state(self) -> tuple[dict, dict[str, np.ndarray]]: ...

    @abstractmethod
    def _load_state(self, meta: dict, arrays: dict[str, np.ndarray]) -> None: ...


class LatentGenerator(Generator):
    """A generator with a latent space the Latent space page can explore."""

    has_latent = True
    uses_budget = True

    #: Latent size of the fitted model.
    latent_dim: int
    #: (n_minority, latent) latent means of the minority images it was fitted on.
    latent_mu: np.ndarray
    #: (latent,) mean KL of each dimension over those images (0 for a deterministic AE).
    kl_per_dim: np.ndarray
    #: Training loss at logged steps.
    losses: np.ndarray

    def _train(self, model: torch.nn.Module, budget: FitBudget, batch_loss: Callable[[int], torch.Tensor],
               progress: Progress) -> None:
        """Adam over ``budget.steps``: ``batch_loss(step)`` draws the step's batch and returns
        its loss. Logs the loss, refuses a diverged model, reports progress; then keeps the
        model (CPU, eval mode), its latent size and the logged losses."""
        model = fast_layout(model)
        opt = adam(model.parameters(), budget.lr)
        losses = []
        every = max(1, budget.steps // 100)
        for step in range(1, budget.steps + 1):
            with autocast(next(model.parameters()).device):
                loss = batch_loss(step).float()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step % every == 0 or step == budget.steps:
                losses.append(float(loss.detach()))
                self.check_finite(self.name, losses[-1])
                if progress is not None:
                    progress(step, budget.steps)
        self.model = standard_layout(model).cpu().eval()
        self.latent_dim = budget.latent_dim
        self.losses = np.asarray(losses, np.float32)

    @abstractmethod
    def _new_model(self, latent_dim: int):
        """An untrained torch model of this generator's architecture (weights loaded after)."""

    def _state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return {"latent_dim": self.latent_dim}, {
            **module_arrays(self.model), "latent_mu": self.latent_mu, "kl_per_dim": self.kl_per_dim,
            "losses": self.losses,
        }

    def _load_state(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        self.latent_dim = int(meta["latent_dim"])
        self.model = self._new_model(self.latent_dim)
        load_module_arrays(self.model, arrays)
        self.model.eval()
        self.latent_mu = np.asarray(arrays["latent_mu"], np.float32)
        self.kl_per_dim = np.asarray(arrays["kl_per_dim"], np.float32)
        self.losses = np.asarray(arrays["losses"], np.float32)

    @abstractmethod
    def _posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Minority images (n, 28, 28) in [0, 1] -> (latent means, log-variances), the
        log-variances None for a deterministic code."""

    @abstractmethod
    def _decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes (n, latent_dim) -> logits of minority images (n, 28, 28)."""

    @torch.no_grad()
    def _summarise(self, minority: np.ndarray) -> None:
        """``latent_mu`` and ``kl_per_dim`` of the minority images the model was fitted on."""
        mu, logvar = self._posterior(to_tensor(minority, torch.device("cpu")))
        self.latent_mu = mu.numpy()
        no_kl = logvar is None  # a deterministic code: no posterior, no KL
        self.kl_per_dim = np.zeros(self.latent_dim, np.float32) if no_kl else kl_per_dimension(mu, logvar).numpy()

    @torch.no_grad()
    def _sample(self, n: int, *, seed: int) -> np.ndarray:
        """Decoded from z ~ N(0, I), drawn from the sample seed."""
        gen = torch.Generator().manual_seed(seed + SAMPLE_SEED)
        return self._images(torch.cat([torch.randn((min(DECODE_CHUNK, n - i), self.latent_dim), generator=gen)
                                       for i in range(0, n, DECODE_CHUNK)]))

    @torch.no_grad()
    def _images(self, z: torch.Tensor) -> np.ndarray:
        """uint8 images decoded from the codes ``z``, ``DECODE_CHUNK`` at a time."""
        return quantise(torch.cat([torch.sigmoid(self._decode_logits(z[i : i + DECODE_CHUNK]))
                                   for i in range(0, len(z), DECODE_CHUNK)]))

    @torch.no_grad()
    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 images (n, 28, 28) -> latent means (n, latent_dim), float32."""
        self._check_fitted()
        if len(images) == 0:
            return np.zeros((0, self.latent_dim), np.float32)
        return self._posterior(to_tensor(images, torch.device("cpu")))[0].numpy()

    @torch.no_grad()
    def decode(self, z: np.ndarray) -> np.ndarray:
        """Latent codes (n, latent_dim) -> minority images in [0, 1], float32 (n, 28, 28)."""
        self._check_fitted()
        z = torch.from_numpy(np.asarray(z, np.float32).reshape(-1, self.latent_dim))
        return torch.sigmoid(self._decode_logits(z)).numpy()

    @abstractmethod
    def decoder_module(self):
        """The torch decoder (eval mode, CPU) mapping (n, latent_dim [+ condition]) -> logits;
        what the in-browser decoder mirrors."""

    #: For a conditional decoder: the one-hot condition appended to z for the minority
    #: class (None for an unconditional one).
    def decoder_condition(self) -> np.ndarray | None:
        return None


# ---- helpers the learned generators share ---------------------------------------------
def quantise(images: torch.Tensor) -> np.ndarray:
    """Images in [0, 1] -> uint8 like real MNIST pixels (so cached samples are bit-identical)."""
    return images.mul(255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


#: How a learned generator picks each step's batch (``FitBudget.batching``).
BATCHINGS = ("random", "cycle")


def batch_indices(step: int, n: int, batch_size: int, batching: str, generator: torch.Generator) -> torch.Tensor:
    """Indices of the ``min(batch_size, n)`` images training step ``step`` (0-based) uses.

    "cycle" is the original code's order: step k takes images k*b, k*b+1, ... (mod n), so
    with n == b every step sees every image. "random" draws with replacement from
    ``generator`` (CPU).
    """
    if n < 1:
        raise GeneratorError("a batch needs at least one image to draw from.")
    b = min(int(batch_size), n)
    if batching == "cycle":
        return (torch.arange(b) + step * b) % n
    if batching == "random":
        return torch.randint(n, (b,), generator=generator)
    raise GeneratorError(f"unknown batching {batching!r}; choose {' or '.join(BATCHINGS)}.")


def mixed_batch_indices(
    step: int, n_minority: int, n_majority: int, batch_size: int, minority_fraction: float, batching: str,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(minority indices, majority indices) of one class-mixed batch of ``batch_size`` images:
    ``round(minority_fraction * batch_size)`` (at least one) from the minority, the rest from
    the majority; each pool is drawn as ``batch_indices`` draws it (cycling on its own)."""
    k = min(batch_size, max(1, round(minority_fraction * batch_size)))
    mino = batch_indices(step, n_minority, k, batching, generator)
    if batch_size - k < 1:
        return mino, torch.zeros(0, dtype=torch.long)
    return mino, batch_indices(step, n_majority, batch_size - k, batching, generator)


#: The parameter of a generator that learns from both classes (``mixed_batches``).
MINORITY_FRACTION = Param("minority_fraction", 0.5, "float", 0.05, 1.0,
                          help="Share of minority images in each training batch (the rest are majority images).")


def mixed_batches(name: str, data: FitData, budget: FitBudget, minority_fraction: float, seed: int,
                  device: torch.device) -> Callable[[int], tuple[torch.Tensor, int]]:
    """Training step (1-based) -> (a class-mixed batch of ``data``'s images on ``device``, how
    many of its rows, first, are minority images), drawn by ``mixed_batch_indices`` from the
    batch seed. A GeneratorError naming the fix when there are no majority images to mix in."""
    if len(data.majority) == 0 and minority_fraction < 1.0:
        raise GeneratorError(f"generator '{name}' learns from majority images too and got none; "
                             f"set {name}.minority_fraction=1 to train on the minority alone.")
    gen = torch.Generator().manual_seed(seed + BATCH_SEED)
    xs = (to_tensor(data.minority, device), to_tensor(data.majority, device))

    def batch(step: int) -> tuple[torch.Tensor, int]:
        i_min, i_maj = mixed_batch_indices(step - 1, len(xs[0]), len(xs[1]), budget.batch_size, minority_fraction,
                                           budget.batching, gen)
        return torch.cat([xs[0][i_min.to(device)], xs[1][i_maj.to(device)]]), len(i_min)

    return batch


def module_arrays(module: torch.nn.Module, prefix: str = "state/") -> dict[str, np.ndarray]:
    """A module's ``state_dict`` as float32 numpy arrays named ``state/<param>``."""
    return {prefix + k: v.detach().cpu().numpy().astype(np.float32) for k, v in module.state_dict().items()}


def load_module_arrays(module: torch.nn.Module, arrays: dict[str, np.ndarray], prefix: str = "state/") -> None:
    """Inverse of ``module_arrays``; a GeneratorError if the stored weights do not fit."""
    state = {k[len(prefix):]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise GeneratorError(f"stored generator weights do not fit the model ({first}); refit it.") from None
