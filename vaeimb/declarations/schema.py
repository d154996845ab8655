"""The experiment's settings: for each, its name, type, range, default, help, CLI flag, URL
key, sidebar widget, and whether a protocol's budget sets it (the one place they are declared).

``ExperimentConfig``'s fields validate against these records (``tests/test_schema.py``
checks the two agree); the CLI's config flags, the app's links and sidebar widgets, the
protocols' whole budgets and the Atlas page's cell settings are generated from them. Adding
a setting is one ``Setting`` here plus its config field; its old names (``aliases``) keep
old flags, links and saved configs working.

Which settings a choice uses is declared here too: a setting belongs to the task kinds that
list it (``TaskKind.settings``) and may need another setting's value (``Setting.requires``:
rho and n_head the exponential profile, counts the counts profile). ``applicability`` reads
that for every face: the CLI refuses a flag the chosen task, profile or protocol would ignore
(or applies what it implies: ``--counts`` alone selects the counts profile, and says so),
links leave such a key out with a warning, the sidebar draws only the widgets that apply.

The faces read ``SETTINGS`` when they run (``schema.SETTINGS``, not a copy taken at import),
so a test can add a setting to a copy of the schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from . import own
from .datasets import DATASETS, DEFAULT_DATASET
from .digits import TEST_COUNTS, TRAIN_COUNTS
from .errors import ConfigError
from .params import Param
from .protocols import PROTOCOLS
from .task_kinds import PROFILES, TASK_KINDS

__all__ = ["CLASSIFIERS", "SETTINGS", "Applicability", "Setting", "TEST_COUNTS", "TRAIN_COUNTS", "applicability",
           "applies", "budget", "check_applicable", "defaults", "get", "requirements"]

#: The classifiers (``vaeimb.parts.models``): the original's MLP, a small CNN, and torchvision's
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
    #: Used only when each named setting has one of these values, e.g. ``(("profile",
    #: ("exponential",)),)``: otherwise a value given for it is refused, or, where one value
    #: would do, implies it (``applicability``). The task a setting belongs to is not written
    #: here: it is the task kind's (``TaskKind.settings``).
    requires: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    #: A choice setting's values besides its choices (the dataset: the analyst's own file,
    #: ``file:<hash>``), and how ``describe`` names them.
    also: Callable[[Any], bool] | None = None
    also_text: str = ""

    def check(self, value: Any, owner: str) -> Any:
        if self.also is not None and self.also(value):
            return value
        return super().check(value, owner)

    def describe(self) -> str:
        return super().describe() + (f" | {self.also_text}" if self.also_text else "")

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


#: The schema's bound on a count; the dataset's own (what its train split holds of the
#: class) is checked first, with a better message (``TaskKind.plan``).
_MAX_COUNT = 1_000_000

#: The settings, in ExperimentConfig's field order. ``approach_params`` (per-approach part
#: parameters, ``vaeimb.declarations.params``) is not a setting: each part declares its own.
SETTINGS: tuple[Setting, ...] = (
    Setting("dataset", DEFAULT_DATASET, "choice", choices=tuple(DATASETS), labels=tuple(d.label for d in DATASETS.values()),
            help="the images: " + "; ".join(f"{d.name}: {d.description.rstrip('.')}" for d in DATASETS.values()),
            label="Dataset", widget=None, also=lambda v: own.parse(v) is not None,
            also_text="file:<hash> (your .npz, once given)"),
    Setting("task", "pair", "choice", choices=tuple(TASK_KINDS), labels=tuple(k.label for k in TASK_KINDS.values()),
            help="; ".join(f"{k.name}: {k.description.rstrip('.')}" for k in TASK_KINDS.values()), label="Task", widget=None,
            implied=True),
    Setting("majority", 0, "int", 0, 9, help="majority class 0-9 (a digit of MNIST)", label="Majority class", widget=None),
    Setting("minority", 6, "int", 0, 9, help="minority class 0-9 (not the majority's)", label="Minority class",
            widget=None),
    Setting("n_majority", 5000, "int", 1, _MAX_COUNT, help="majority training images (at most what the "
            "training split holds of the class)", label="Majority count", widget=None, step=100),
    Setting("n_minority", 100, "int", 1, _MAX_COUNT, help="minority training images (at most n_majority)",
            label="Minority count", widget=None, step=10),
    Setting("profile", "deepsmote", "choice", choices=tuple(PROFILES),
            help="long tail: the training counts; " + "; ".join(f"{k}: {h}" for k, (_, h) in PROFILES.items()),
            label="Long-tail profile", widget=None),
    Setting("rho", 100.0, "float", 1.0, 10_000.0, help="long tail, exponential profile: imbalance ratio rho = "
            "head count / tail count (at least 1)", label="Imbalance ratio ρ", widget=None,
            requires=(("profile", ("exponential",)),)),
    Setting("n_head", 4000, "int", 1, _MAX_COUNT, help="long tail, exponential profile: training images of the "
            "head digit", label="Head count", widget=None, step=100, requires=(("profile", ("exponential",)),)),
    Setting("order", "0123456789", "text", help="long tail: the classes, head first (2 to 10 distinct class numbers 0-9)",
            label="Class order (head first)", widget=None),
    Setting("counts", "", "text", help="long tail, counts profile: one training count per class of the order, "
            "comma separated", label="Counts", widget=None, requires=(("profile", ("counts",)),)),
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


# ---- which settings apply ---------------------------------------------------------------
# A setting belongs to the task kinds that list it (``TaskKind.settings``) and may need other
# settings' values (``Setting.requires``: the long tail's rho and n_head the exponential
# profile, counts the counts profile). Every face reads these two declarations through the
# functions below: the CLI and links refuse (or imply) what the user gave but the chosen
# task, profile or protocol would ignore, the sidebar shows only the widgets that apply.

def requirements(name: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """What setting ``name`` needs to be used, as (setting, allowed values): the task kinds
    that list it, then its own ``requires``."""
    tasks = tuple(k.name for k in TASK_KINDS.values() if name in k.settings)
    return ((("task", tasks),) if tasks else ()) + get(name).requires


def _resolved(name: str, values: Mapping[str, Any]) -> Any:
    """The value of ``name`` in ``values``, else the one ``config.from_settings`` fills in
    (the task: the protocol's first one; anything else: its default)."""
    if name in values:
        return values[name]
    if name == "task" and values.get("protocol") in PROTOCOLS:
        return PROTOCOLS[values["protocol"]].tasks[0]
    return get(name).default


def applies(name: str, values: Mapping[str, Any]) -> bool:
    """Whether setting ``name`` is used under the settings ``values`` (name -> value; those
    left out as the config fills them in): the sidebar draws its widget, a link carries it."""
    return all(_resolved(other, values) in allowed for other, allowed in requirements(name))


@dataclass(frozen=True)
class Applicability:
    """What ``applicability`` found: the settings the given ones imply (name -> value),
    one note per setting that implied something, and the given settings refused (name ->
    one line saying what it needs)."""

    implied: dict[str, Any]
    notes: tuple[str, ...]
    refused: dict[str, str]


class _Spell:
    """How a face writes a setting: the CLI ``--profile counts``, a link ``profile=counts``."""

    def __init__(self, face: str, names: Mapping[str, str] | None):
        if face not in ("cli", "link"):
            raise ValueError(f"unknown face {face!r}")
        self.face, self.names = face, dict(names or {})

    def __call__(self, name: str, value: Any = None) -> str:
        s = get(name)
        key = self.names.get(name) or (s.cli_flags[0] if self.face == "cli" else s.url_keys[0])
        if value is None:
            return key
        return f"{key} {_text(value)}" if self.face == "cli" else f"{key}={_text(value)}"

    def either(self, name: str, values: tuple[Any, ...]) -> str:
        return " or ".join(self(name, v) for v in values)

    def chose(self, name: str, value: Any) -> str:
        return f"you gave {self(name, value)}" if self.face == "cli" else f"the link has {self(name, value)}"

    def refuse(self, name: str, needs: str, fix: str) -> str:
        if self.face == "link":
            return f"link setting {self(name)} applies only to {needs}; ignored."
        return f"{self(name)} applies only to {needs}: {fix}."


def _and(items: list[str], word: str = "and") -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def _or(items: list[str]) -> str:
    return _and(items, "or")


def applicability(given: Mapping[str, Any], face: str = "cli", names: Mapping[str, str] | None = None) -> Applicability:
    """Check that every setting the user gave (``given``: name -> value, the ones typed, not
    the defaults) is used by the task, profile and protocol chosen, given or implied.

    A setting whose requirement was left unset implies it where one value would do, and
    that value changes nothing else the user gave (``--counts`` alone: the counts profile and
    the long tail; ``--rho``: the exponential profile); it is refused where the user chose
    otherwise (``--task longtail --majority 3``), where the protocol rules it out
    (``--protocol deepsmote --majority 3``), or where two given settings need different
    values (``--majority 3 --order 123``). ``face`` words the lines for the CLI (flags) or a
    link (URL keys); ``names`` spells a setting as the face was given it (``--ratio``)."""
    spell = _Spell(face, names)
    given = {k: v for k, v in given.items() if v is not None}
    held: dict[str, tuple[Any, str]] = {}  # a requirement's value the given settings fixed: (value, by whom)
    implied: dict[str, Any] = {}
    roots: dict[str, str] = {}  # an implied setting -> the given one behind it
    notes: dict[str, list[str]] = {}
    refused: dict[str, str] = {}
    queue = [s.name for s in SETTINGS if s.name in given]
    while queue:
        name = queue.pop(0)
        root = roots.get(name, name)
        new_held, new_implied, problem = {}, {}, None
        for other, allowed in requirements(name):
            needs = spell.either(other, allowed)
            if other in given:
                if given[other] not in allowed:
                    problem = spell.refuse(name, f"{needs} ({spell.chose(other, given[other])})",
                                           f"drop {spell(name)} or use {needs}")
                    break
                continue
            if other in held or other in new_held:
                value, by = new_held.get(other) or held[other]
                if value not in allowed:
                    problem = spell.refuse(name, f"{needs}, but {spell(by)} applies only to {spell(other, value)}",
                                           f"drop one of them, or give {spell(other)}")
                    break
                continue
            options = allowed
            protocol = given.get("protocol")
            if other == "task" and protocol in PROTOCOLS:
                runs = PROTOCOLS[protocol].tasks
                options = tuple(t for t in allowed if t in runs)
                if not options:
                    serving = [p for p, rec in PROTOCOLS.items() if set(allowed) & set(rec.tasks)]
                    problem = spell.refuse(
                        name, f"{needs}, and {spell('protocol', protocol)} runs only {spell.either('task', runs)}",
                        f"drop {spell(name)} or choose {spell('protocol', _or(serving))}")
                    break
            current = _resolved(other, {**given, **implied, **new_implied})
            if current in options:  # what it is anyway: the others given must leave it so
                new_held[other] = (current, name)
            elif len(options) == 1:
                new_implied[other] = options[0]
                new_held[other] = (options[0], root)
            else:
                problem = spell.refuse(name, needs, f"add {needs}")
                break
        if problem:
            refused[name] = problem
            continue
        held.update(new_held)
        for other, value in new_implied.items():
            implied[other], roots[other] = value, root
            notes.setdefault(root, []).append(spell(other, value))
            queue.append(other)
    lines = tuple((f"{spell(root)} implies {_and(what)}." if face == "cli" else
                   f"link setting {spell(root)} implies {_and(what)}; using {'them' if len(what) > 1 else 'it'}.")
                  for root, what in notes.items())
    return Applicability(implied, lines, refused)


def check_applicable(given: Mapping[str, Any], face: str = "cli",
                     names: Mapping[str, str] | None = None) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``applicability`` for a face that refuses: (the implied settings, the notes to show),
    or a ConfigError with the first refusal's one line."""
    found = applicability(given, face, names)
    if found.refused:
        raise ConfigError(next(iter(found.refused.values())))
    return found.implied, found.notes
