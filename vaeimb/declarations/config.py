"""The experiment config: one validated, hashable description of what to train, with a
field for each setting of ``schema``.

Everything that changes a number is in it, so a config (plus a seed) is the whole identity
of a result and its hash is the cache key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from . import provenance, schema
from .datasets import DEFAULT_DATASET, Dataset, dataset
from .errors import ConfigError
from .protocols import PROTOCOLS, Protocol
from .task_kinds import TASK_KINDS, TaskKind, TestPlan
from .version import __version__

#: The minority ratios a sweep runs unless told otherwise (CLI, Sweep page, links).
DEFAULT_SWEEP_RATIOS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5)
#: The minority ratios (in percent) the sidebar's slider offers: log-spaced.
RATIO_CHOICES_PCT = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0)

#: Bumped whenever a change makes cached results incomparable with new ones.
SCHEMA_VERSION = 3


def n_minority_from_ratio(n_majority: int, ratio: float) -> int:
    """Minority count for an imbalance ratio ``n_minority / n_majority`` (at least 1)."""
    if not (0 < ratio <= 1):
        raise ConfigError(f"Minority ratio must be in (0, 1], got {ratio}.")
    return max(1, int(round(ratio * n_majority)))


def _default(name: str) -> Any:
    return schema.get(name).default


@dataclass(frozen=True)
class ExperimentConfig:
    """What to train: the task (a digit pair, or a long tail over several digits), the
    imbalance, the protocol and the training budget.

    Seeds and the list of approaches are not part of it: each (approach, seed) is cached
    on its own, so adding either reuses what already exists. The defaults are the
    reference setup (0 vs 6, 5000 / 100) under the clean protocol's budget;
    ``for_protocol`` starts from another protocol's budget (``blog``: the original code's).
    Each field but ``approach_params`` is a setting of ``vaeimb.declarations.schema``: its default,
    range and wording come from there.
    """

    dataset: str = _default("dataset")
    task: str = _default("task")
    majority: int = _default("majority")
    minority: int = _default("minority")
    n_majority: int = _default("n_majority")
    n_minority: int = _default("n_minority")
    profile: str = _default("profile")
    rho: float = _default("rho")
    n_head: int = _default("n_head")
    order: str = _default("order")
    counts: str = _default("counts")
    protocol: str = _default("protocol")
    classifier: str = _default("classifier")
    steps: int = _default("steps")
    batch_size: int = _default("batch_size")
    lr: float = _default("lr")
    latent_dim: int = _default("latent_dim")
    generator_steps: int = _default("generator_steps")
    generator_batch_size: int = _default("generator_batch_size")
    generator_lr: float = _default("generator_lr")
    n_checkpoints: int = _default("n_checkpoints")
    #: Share of the training draw (stratified) held out as a validation split by recipes
    #: whose parts pick a value (a tuned threshold): they train on the rest.
    validation_fraction: float = _default("validation_fraction")
    #: Per-approach parameter overrides, ``{"threshold": {"decision.tau": 0.5}}``: keys are
    #: ``part.param`` with part one of data, gen, batches, aug, loss, decision.
    approach_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def for_protocol(cls, protocol: str, **changes: Any) -> "ExperimentConfig":
        """A config that starts from ``protocol``'s own budget (then ``changes``)."""
        _refuse_unknown(cls, changes)
        task = {"task": PROTOCOLS[protocol].tasks[0]} if protocol in PROTOCOLS and "task" not in changes else {}
        return cls(**{**schema.budget(protocol), "protocol": protocol, **task, **changes})

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
    def dataset_record(self) -> Dataset:
        """The dataset's declaration (``vaeimb.declarations.datasets``)."""
        return dataset(self.dataset)

    @property
    def dataset_prefix(self) -> str:
        """How a label names the dataset: nothing for MNIST (the default), else ``Fashion-MNIST: ``."""
        return "" if self.dataset == DEFAULT_DATASET else f"{self.dataset_record.title}: "

    @property
    def task_kind(self) -> TaskKind:
        try:
            return TASK_KINDS[self.task]
        except KeyError:
            raise ConfigError(f"Unknown task {self.task!r}; choose one of {', '.join(TASK_KINDS)}.") from None

    @property
    def classes(self) -> tuple[int, ...]:
        """The class (its number in the dataset) of each label (0 = the head, the pair's majority)."""
        return self.task_kind.classes(self)

    @property
    def class_counts(self) -> tuple[int, ...]:
        """Training images of each label."""
        return self.task_kind.counts(self)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def fill(self) -> tuple[int, ...]:
        """The minority labels (every label but the head's): what generators fill."""
        return tuple(range(1, self.n_classes))

    @property
    def test_plan(self) -> TestPlan:
        return self.task_kind.test_plan(self)

    @property
    def leaky(self) -> bool:
        return self.protocol_record.leaky

    @property
    def output_logits(self) -> int:
        """The classifier's outputs: the protocol's (1 or 2) for two classes, else K."""
        k = self.n_classes
        return self.protocol_record.output_logits if k == 2 else k

    @property
    def ratio(self) -> float:
        """Smallest over largest training count (the pair: n_minority / n_majority)."""
        if self.task == "pair":
            return self.n_minority / self.n_majority
        counts = self.class_counts
        return counts[-1] / counts[0]

    @property
    def is_reference(self) -> bool:
        """The blog post's setup (0 vs 6, 5000 / 100), where its numbers apply."""
        return self.dataset == DEFAULT_DATASET and self.task == "pair" and (self.majority, self.minority, self.n_majority, self.n_minority) == (0, 6, 5000, 100)

    def label(self) -> str:
        tag = " [LEAKY: generators trained on test images]" if self.leaky else ""
        return f"{self.task_kind.describe(self)}, {self.classifier}, {self.steps} steps, protocol {self.protocol}{tag}"

    def replace(self, **changes: Any) -> "ExperimentConfig":
        return dataclasses.replace(self, **changes)

    # ---- identity ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["approach_params"] = {k: dict(sorted(v.items())) for k, v in sorted(self.approach_params.items())}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ExperimentConfig":
        """A config from ``to_dict``'s output; old setting names (``vae_steps``) are read too."""
        d = schema.current_names(d)
        _refuse_unknown(cls, d)
        return cls(**d)

    def data_dict(self) -> dict[str, Any]:
        """What decides the classifier's real training images and its output head.

        ``blog`` and ``blog-clean`` differ only in the generators' images
        (``generator_data_dict``), so a recipe without a generator shares its runs.
        """
        p = self.protocol_record
        d = self.task_kind.data_dict(self)
        if self.dataset != DEFAULT_DATASET:  # MNIST's keys stay what they were
            d["dataset"] = self.dataset
        d["draw"] = p.draw
        d["output_logits"] = self.output_logits
        return d

    def generator_data_dict(self) -> dict[str, Any]:
        """What decides a generator's training images (the leak lives here)."""
        return {**self.data_dict(), "generator_images": self.protocol_record.generator_images}

    def classifier_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("classifier", "steps", "batch_size", "lr", "n_checkpoints")}

    def generator_budget_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("latent_dim", "generator_steps", "generator_batch_size", "generator_lr")}
        d["batching"] = self.protocol_record.generator_batching
        return d

    # ---- validation ----------------------------------------------------------------
    def _check_settings(self, *names: str) -> None:
        """Each setting (or those named) against its declaration."""
        for s in schema.SETTINGS:
            if names and s.name not in names:
                continue
            if not hasattr(self, s.name):
                raise ConfigError(f"The setting {s.name!r} has no field in {type(self).__name__}: add one.")
            value = getattr(self, s.name)
            s.check(value, "")
            if s.kind == "int" and not isinstance(value, int):  # 5.0 would pass the check, and hash apart from 5
                raise ConfigError(f"{s.name} must be {s.describe()}, got {value!r}.")

    def validate(self) -> "ExperimentConfig":
        """Refuse anything that cannot run, saying what is allowed. Returns self.

        Each setting is checked against its declaration (``vaeimb.declarations.schema``: one wording
        everywhere); the rules between settings are written here. A count is checked
        against what the dataset holds of its class first, which says more than the schema's range."""
        self._check_settings("dataset", "task", "majority", "minority", "order")
        kind = self.task_kind
        kind.plan(self)  # counts against what the dataset holds first: that says more than the schema's range
        self._check_settings()
        kind.check(self)
        if self.task not in self.protocol_record.tasks:
            p = self.protocol_record
            serves = [n for n, q in PROTOCOLS.items() if self.task in q.tasks]
            raise ConfigError(f"The {p.name} protocol serves the {' / '.join(p.tasks)} task, not {self.task}: "
                              f"choose {' or '.join(serves)}.")
        protocol = self.protocol_record
        ds = self.dataset_record
        if protocol.leaky and self.n_minority > ds.test_counts[self.minority]:
            raise ConfigError(
                f"The leaky '{protocol.name}' protocol trains generators on test images, and {ds.title} "
                f"test holds only {ds.test_counts[self.minority]} {ds.holds(self.minority)}: use "
                f"n_minority <= {ds.test_counts[self.minority]}."
            )
        if not isinstance(self.approach_params, Mapping) or not all(
            isinstance(p, Mapping) for p in self.approach_params.values()
        ):
            raise ConfigError("approach_params must map approach names to {part.param: value}.")
        return self


def from_settings(values: Mapping[str, Any]) -> ExperimentConfig:
    """The config the faces' setting values describe (the CLI's flags, the sidebar's
    widgets; ``approach_params`` may be among them): the protocol's budget for the settings
    not given. Not validated: call ``validate``."""
    values = dict(values)
    protocol = values.pop("protocol", None)
    if protocol is None:  # the task's own protocol (the long tail: deepsmote's budget)
        task = values.get("task", schema.get("task").default)
        protocol = TASK_KINDS[task].default_protocol if task in TASK_KINDS else schema.get("protocol").default
    elif "task" not in values and protocol in PROTOCOLS:  # a protocol implies its first task
        values["task"] = PROTOCOLS[protocol].tasks[0]
    return ExperimentConfig.for_protocol(protocol, **values)


def _refuse_unknown(cls, d: Mapping[str, Any]) -> None:
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ConfigError(f"Unknown config field(s): {sorted(unknown)}.")


def stable_hash(*parts: Any) -> str:
    """A short, stable hash of JSON-able parts plus the schema version, the package
    version and the fingerprint of the code that decides results (the cache key)."""
    payload = json.dumps([SCHEMA_VERSION, __version__, provenance.code_fingerprint(), *parts], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]
