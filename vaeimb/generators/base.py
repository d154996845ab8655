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

from ..errors import VaeimbError
from ..parts import Part

#: ``progress(done, total)``; it may raise to abort the fit.
Progress = Optional[Callable[[int, int], None]]


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

    @abstractmethod
    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 images (n, 28, 28) -> latent means (n, latent_dim), float32."""

    @abstractmethod
    def decode(self, z: np.ndarray) -> np.ndarray:
        """Latent codes (n, latent_dim) -> minority images in [0, 1], float32 (n, 28, 28)."""

    @abstractmethod
    def decoder_module(self):
        """The torch decoder (eval mode, CPU) mapping (n, latent_dim [+ condition]) -> logits;
        what the in-browser decoder mirrors."""

    #: For a conditional decoder: the one-hot condition appended to z for the minority
    #: class (None for an unconditional one).
    def decoder_condition(self) -> np.ndarray | None:
        return None
