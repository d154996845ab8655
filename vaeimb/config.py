"""Experiment configuration: one validated, hashable description of what to train.

Everything that changes a number lives here, so a config (plus a seed) is the whole
identity of a result and its hash is the cache key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import ConfigError
from .protocols import PROTOCOLS, Protocol

#: Images per digit in MNIST's train and test splits (digits 0-9). Facts of the dataset,
#: checked against the loaded files in the integration tests.
TRAIN_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
TEST_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)

CLASSIFIERS = ("mlp", "cnn")
#: The minority ratios a sweep runs unless told otherwise (CLI, Sweep page, links).
DEFAULT_SWEEP_RATIOS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5)

#: Bumped whenever a change makes cached results incomparable with new ones.
SCHEMA_VERSION = 3


def n_minority_from_ratio(n_majority: int, ratio: float) -> int:
    """Minority count for an imbalance ratio ``n_minority / n_majority`` (at least 1)."""
    if not (0 < ratio <= 1):
        raise ConfigError(f"Minority ratio must be in (0, 1], got {ratio}.")
    return max(1, int(round(ratio * n_majority)))


@dataclass(frozen=True)
class ExperimentConfig:
    """What to train: the digit pair, the imbalance, the protocol and the training budget.

    Seeds and the list of approaches are not part of it: each (approach, seed) is cached
    on its own, so adding either reuses what already exists. The defaults are the
    reference setup (0 vs 6, 5000 / 100) under the clean protocol's budget;
    ``for_protocol`` starts from another protocol's budget (``blog``: the original code's).
    """

    majority: int = 0
    minority: int = 6
    n_majority: int = 5000
    n_minority: int = 100
    protocol: str = "clean"
    classifier: str = "mlp"
    steps: int = 500
    batch_size: int = 64
    lr: float = 1e-3
    latent_dim: int = 20
    vae_steps: int = 400
    vae_batch_size: int = 64
    vae_lr: float = 1e-3
    n_checkpoints: int = 20
    #: Share of the training draw (stratified) held out as a validation split by recipes
    #: whose parts pick a value (a tuned threshold): they train on the rest.
    validation_fraction: float = 0.2
    #: Per-approach parameter overrides, ``{"threshold": {"decision.tau": 0.5}}``: keys are
    #: ``part.param`` with part one of data, gen, batches, aug, loss, decision.
    approach_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def for_protocol(cls, protocol: str, **changes: Any) -> "ExperimentConfig":
        """A config that starts from ``protocol``'s own budget (then ``changes``)."""
        if protocol not in PROTOCOLS:
            raise ConfigError(f"Unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}.")
        return cls(**{**PROTOCOLS[protocol].budget, "protocol": protocol, **changes})

    @classmethod
    def blog(cls, leaky: bool = True, **changes: Any) -> "ExperimentConfig":
        """The original code's setup and budget: 1000 steps of 128, VAE 1000 steps of 100."""
        return cls.for_protocol("blog" if leaky else "blog-clean", **changes)

    # ---- derived -------------------------------------------------------------------
    @property
    def protocol_record(self) -> Protocol:
        try:
            return PROTOCOLS[self.protocol]
        except KeyError:
            raise ConfigError(f"Unknown protocol {self.protocol!r}; choose one of {', '.join(PROTOCOLS)}.") from None

    @property
    def leaky(self) -> bool:
        return self.protocol_record.leaky

    @property
    def output_logits(self) -> int:
        return self.protocol_record.output_logits

    @property
    def ratio(self) -> float:
        return self.n_minority / self.n_majority

    @property
    def is_reference(self) -> bool:
        """The blog post's setup (0 vs 6, 5000 / 100), where its numbers apply."""
        return (self.majority, self.minority, self.n_majority, self.n_minority) == (0, 6, 5000, 100)

    def label(self) -> str:
        tag = " [LEAKY: generators trained on test images]" if self.leaky else ""
        return (
            f"{self.majority} vs {self.minority}, {self.n_majority}/{self.n_minority} "
            f"({100 * self.ratio:.2g}% minority), {self.classifier}, {self.steps} steps, "
            f"protocol {self.protocol}{tag}"
        )

    def replace(self, **changes: Any) -> "ExperimentConfig":
        return dataclasses.replace(self, **changes)

    # ---- identity ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["approach_params"] = {k: dict(sorted(v.items())) for k, v in sorted(self.approach_params.items())}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ExperimentConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"Unknown config field(s): {sorted(unknown)}.")
        return cls(**d)

    def data_dict(self) -> dict[str, Any]:
        """What decides the classifier's real training images and its output head.

        ``blog`` and ``blog-clean`` differ only in the generators' images
        (``generator_data_dict``), so a recipe without a generator shares its runs.
        """
        p = self.protocol_record
        d = {k: getattr(self, k) for k in ("majority", "minority", "n_majority", "n_minority")}
        d["draw"] = p.draw
        d["output_logits"] = p.output_logits
        return d

    def generator_data_dict(self) -> dict[str, Any]:
        """What decides a generator's training images (the leak lives here)."""
        return {**self.data_dict(), "generator_images": self.protocol_record.generator_images}

    def classifier_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("classifier", "steps", "batch_size", "lr", "n_checkpoints")}

    def generator_budget_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("latent_dim", "vae_steps", "vae_batch_size", "vae_lr")}
        d["batching"] = self.protocol_record.generator_batching
        return d

    # ---- validation ----------------------------------------------------------------
    def validate(self) -> "ExperimentConfig":
        """Refuse anything that cannot run, saying what is allowed. Returns self."""
        for name in ("majority", "minority"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 9:
                raise ConfigError(f"The {name} digit must be an integer from 0 to 9, got {v!r}.")
        if self.majority == self.minority:
            raise ConfigError(
                f"Majority and minority must be two different digits (both are {self.majority})."
            )
        protocol = self.protocol_record
        if self.classifier not in CLASSIFIERS:
            raise ConfigError(f"Unknown classifier {self.classifier!r}; choose one of {list(CLASSIFIERS)}.")
        for digit, count, role in (
            (self.majority, self.n_majority, "majority"),
            (self.minority, self.n_minority, "minority"),
        ):
            avail = TRAIN_COUNTS[digit]
            if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= avail:
                raise ConfigError(
                    f"n_{role} must be an integer from 1 to {avail} (MNIST train holds {avail} "
                    f"images of digit {digit}), got {count!r}."
                )
        if self.n_minority > self.n_majority:
            raise ConfigError(
                f"n_minority ({self.n_minority}) must not exceed n_majority ({self.n_majority}): "
                "swap the digits to study the other direction."
            )
        if protocol.leaky and self.n_minority > TEST_COUNTS[self.minority]:
            raise ConfigError(
                f"The leaky '{protocol.name}' protocol trains generators on test images, and MNIST "
                f"test holds only {TEST_COUNTS[self.minority]} of digit {self.minority}: use "
                f"n_minority <= {TEST_COUNTS[self.minority]}."
            )
        positive_ints = {
            "steps": (1, 200_000),
            "batch_size": (2, 4096),
            "latent_dim": (1, 256),
            "vae_steps": (1, 200_000),
            "vae_batch_size": (1, 4096),
            "n_checkpoints": (1, 200),
        }
        for name, (lo, hi) in positive_ints.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise ConfigError(f"{name} must be an integer from {lo} to {hi}, got {v!r}.")
        for name in ("lr", "vae_lr"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 < v <= 1:
                raise ConfigError(f"{name} must be a number in (0, 1], got {v!r}.")
        v = self.validation_fraction
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 < v < 1:
            raise ConfigError(f"validation_fraction must be a number in (0, 1), got {v!r}.")
        if not isinstance(self.approach_params, Mapping) or not all(
            isinstance(p, Mapping) for p in self.approach_params.values()
        ):
            raise ConfigError("approach_params must map approach names to {part.param: value}.")
        return self


def stable_hash(*parts: Any) -> str:
    """A short, stable hash of JSON-able parts plus the schema version, the package
    version and the fingerprint of the code that decides results (the cache key)."""
    from . import __version__
    from .provenance import code_fingerprint

    payload = json.dumps([SCHEMA_VERSION, __version__, code_fingerprint(), *parts], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]
