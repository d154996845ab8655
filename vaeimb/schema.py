"""Every experiment setting declared once: name, type, range, default, help, CLI flag, URL
key, sidebar widget, and whether a protocol's budget sets it.

``ExperimentConfig``'s fields validate against these records (``tests/test_schema.py``
checks the two agree); the CLI's config flags, the app's links and sidebar widgets, the
protocols' whole budgets and the Atlas page's cell settings are generated from them. Adding
a setting is one ``Setting`` here plus its config field; its old names (``aliases``) keep
old flags, links and saved configs working.

The faces read ``SETTINGS`` when they run (``schema.SETTINGS``, not a copy taken at import),
so a test can add a setting to a copy of the schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .errors import ConfigError
from .digits import TEST_COUNTS, TRAIN_COUNTS
from .params import Param
from .protocols import PROTOCOLS
from .task_kinds import PROFILES, TASK_KINDS

__all__ = ["CLASSIFIERS", "SETTINGS", "Setting", "TEST_COUNTS", "TRAIN_COUNTS", "budget", "defaults", "get"]

#: The classifiers (``vaeimb.models``): the original's MLP, a small CNN, and torchvision's
#: ResNet-18 (first convolution taking one channel), DeepSMOTE's classifier.
CLASSIFIERS = ("mlp", "cnn", "resnet18")
#: Where the app's sidebar shows a setting: the main list, or the "Advanced" expander.
SECTIONS = ("main", "advanced")
#: Sidebar widgets: "number" (number_input, min/max from the range), "select" (selectbox),
#: "radio"; None: the sidebar draws it by hand (the digit pair, the minority count/ratio).
WIDGETS = ("number", "select", "radio", None)


@dataclass(frozen=True)
class Setting(Param):
    """One experiment setting: a ``Param`` (name, default, kind, range or choices, help) plus
    where it shows. The config field, the CLI destination and the app's state key
    (``cfg_<name>``) are its name."""

    #: The sidebar's label.
    label: str = ""
    #: CLI flag; default ``--`` + the name with dashes.
    flag: str = ""
    #: URL query key; default the name.
    url: str = ""
    #: Old names still read: in saved configs and atlases, as URL keys and (dashed) as flags.
    aliases: tuple[str, ...] = ()
    widget: str | None = "number"
    section: str = "main"
    #: Settings of one section with the same non-empty row share a line of the sidebar.
    row: str = ""
    #: The number widget's step (None: Streamlit's).
    step: float | None = None
    #: A protocol's budget sets it (``Protocol.budget``), and switching protocol family resets it.
    budget: bool = False
    #: How the picker shows each choice, in the order of ``choices`` (empty: the choice itself).
    labels: tuple[str, ...] = ()
    #: Left unset, it follows from another setting (the task from the protocol, the protocol
    #: from the task: ``config.from_settings``), so a face leaves it out rather than send its default.
    implied: bool = False

    @property
    def state_key(self) -> str:
        return f"cfg_{self.name}"

    @property
    def cli_flags(self) -> tuple[str, ...]:
        return (self.flag or _dashed(self.name), *(_dashed(a) for a in self.aliases))

    @property
    def url_keys(self) -> tuple[str, ...]:
        return (self.url or self.name, *self.aliases)

    def choice_label(self, value: Any) -> str:
        if self.labels and value in self.choices:
            return self.labels[self.choices.index(value)]
        return str(value)

    def protocol_values(self) -> dict[str, Any]:
        """Protocol name -> its value, for the protocols whose budget differs from the default."""
        return {p.name: p.budget[self.name] for p in PROTOCOLS.values()
                if self.budget and self.name in p.budget and p.budget[self.name] != self.default}

    def describe_default(self) -> str:
        """``500; blog, blog-clean: 1000`` (a budget setting), or ``0.2``."""
        by_value: dict[Any, list[str]] = {}
        for name, value in self.protocol_values().items():
            by_value.setdefault(value, []).append(name)
        return "; ".join([_text(self.default), *(f"{', '.join(ns)}: {_text(v)}" for v, ns in by_value.items())])


def _dashed(name: str) -> str:
    return "--" + name.replace("_", "-")


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_MAX_COUNT = max(TRAIN_COUNTS)

#: The settings, in ExperimentConfig's field order. ``approach_params`` (per-approach part
#: parameters, ``vaeimb.params``) is not a setting: each part declares its own.
SETTINGS: tuple[Setting, ...] = (
    Setting("task", "pair", "choice", choices=tuple(TASK_KINDS), labels=tuple(k.label for k in TASK_KINDS.values()),
            help="; ".join(f"{k.name}: {k.description.rstrip('.')}" for k in TASK_KINDS.values()), label="Task", widget=None,
            implied=True),
    Setting("majority", 0, "int", 0, 9, help="majority digit 0-9", label="Majority digit", widget=None),
    Setting("minority", 6, "int", 0, 9, help="minority digit 0-9 (not the majority's)", label="Minority digit",
            widget=None),
    Setting("n_majority", 5000, "int", 1, _MAX_COUNT, help="majority training images (at most what MNIST train "
            "holds of the digit)", label="Majority count", widget=None, step=100),
    Setting("n_minority", 100, "int", 1, _MAX_COUNT, help="minority training images (at most n_majority)",
            label="Minority count", widget=None, step=10),
    Setting("profile", "deepsmote", "choice", choices=tuple(PROFILES),
            help="long tail: the training counts; " + "; ".join(f"{k}: {h}" for k, (_, h) in PROFILES.items()),
            label="Long-tail profile", widget=None),
    Setting("rho", 100.0, "float", 1.0, 10_000.0, help="long tail, exponential profile: imbalance ratio rho = "
            "head count / tail count (at least 1)", label="Imbalance ratio ρ", widget=None),
    Setting("n_head", 4000, "int", 1, _MAX_COUNT, help="long tail, exponential profile: training images of the "
            "head digit", label="Head count", widget=None, step=100),
    Setting("order", "0123456789", "text", help="long tail: the digits, head first (2 to 10 distinct digits)",
            label="Digit order (head first)", widget=None),
    Setting("counts", "", "text", help="long tail, counts profile: one training count per digit of the order, "
            "comma separated", label="Counts", widget=None),
    Setting("protocol", "clean", "choice", choices=tuple(PROTOCOLS),
            labels=tuple(p.label or p.name for p in PROTOCOLS.values()),
            help=" ".join(f"{k}: {p.description}" for k, p in PROTOCOLS.items()), label="Protocol", widget="select",
            implied=True),
    Setting("classifier", "mlp", "choice", choices=CLASSIFIERS, help="the classifier: mlp, cnn (small) or resnet18 (torchvision's, one input channel)",
            label="Classifier", widget="radio", row="training", budget=True),
    Setting("steps", 500, "int", 1, 200_000, help="classifier training steps", label="Training steps", step=100,
            row="training", budget=True),
    Setting("batch_size", 64, "int", 2, 4096, help="classifier batch size", label="Batch size", section="advanced",
            budget=True),
    Setting("lr", 1e-3, "float", 1e-6, 1.0, help="classifier Adam learning rate", label="Learning rate",
            section="advanced", step=1e-4, budget=True),
    Setting("latent_dim", 20, "int", 1, 256, help="generators' latent size", label="Generator latent size",
            budget=True),
    Setting("generator_steps", 400, "int", 1, 200_000, help="generators' training steps",
            label="Generator training steps", aliases=("vae_steps",), section="advanced", step=100, budget=True),
    Setting("generator_batch_size", 64, "int", 1, 4096, help="generators' batch size", label="Generator batch size",
            aliases=("vae_batch_size",), section="advanced", budget=True),
    Setting("generator_lr", 1e-3, "float", 1e-6, 1.0, help="generators' Adam learning rate",
            label="Generator learning rate", aliases=("vae_lr",), section="advanced", step=1e-4, budget=True),
    Setting("n_checkpoints", 20, "int", 1, 200, help="test-set evaluations during training, for the learning curve",
            label="Learning-curve checkpoints", flag="--checkpoints", url="checkpoints", section="advanced"),
    Setting("validation_fraction", 0.2, "float", 0.01, 0.99,
            help="share of the training draw held out (stratified) by recipes that tune a value, e.g. the tuned "
            "threshold; those recipes train on the rest", label="Validation fraction", url="validation",
            section="advanced", step=0.05),
)


def get(name: str) -> Setting:
    for s in SETTINGS:
        if s.name == name:
            return s
    raise KeyError(name)


def budget(protocol: str) -> dict[str, Any]:
    """The whole budget a protocol starts from: every budget setting, the protocol's own
    value where its record sets one, else the default. A record naming anything but a
    budget setting, or a value out of range, is refused."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"Unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}.")
    own = dict(PROTOCOLS[protocol].budget)
    settings = {s.name: s for s in SETTINGS if s.budget}
    stray = sorted(set(own) - set(settings))
    if stray:
        raise ConfigError(f"Protocol {protocol!r} sets {', '.join(stray)}, which is not a budget setting "
                          f"({', '.join(settings)}).")
    return {name: s.check(own.get(name, s.default), f"protocol {protocol}") for name, s in settings.items()}


def defaults(protocol: str | None = None) -> dict[str, Any]:
    """Every setting's default under ``protocol`` (its budget; None: the schema's defaults)."""
    out = {s.name: s.default for s in SETTINGS}
    if protocol is not None:
        out.update(budget(protocol), protocol=protocol)
    return out


def current_names(d: Mapping[str, Any]) -> dict[str, Any]:
    """``d`` with settings' old names (``vae_steps``) read as their names (``generator_steps``):
    saved configs and atlases keep loading. An old and a new name that disagree are refused."""
    out = dict(d)
    for s in SETTINGS:
        for old in s.aliases:
            if old in out:
                value = out.pop(old)
                if s.name in out and out[s.name] != value:
                    raise ConfigError(f"{old} (the old name of {s.name}) is {value!r} but {s.name} is {out[s.name]!r}.")
                out[s.name] = value
    return out

