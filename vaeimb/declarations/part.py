"""The base of every recipe part: a name, a description, declared parameters.

After imbalanced-learn's estimators: the base validates parameters (``Param``) and gives
the part its identity for cache keys; a subclass only says what is new about it.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Mapping, Sequence

from .errors import ConfigError
from .params import Param, resolve


class Part:
    """A named, parameterised piece of a recipe. ``kind`` is the family ("generator", ...)."""

    kind: ClassVar[str] = "part"
    name: ClassVar[str]
    description: ClassVar[str]
    #: Declared hyper-parameters (validation, CLI, sidebar and cache keys read these).
    params: ClassVar[tuple[Param, ...]] = ()
    #: Where the method comes from (paper), shown in help texts.
    cite: ClassVar[str] = ""

    def __init__(self, **values: Any):
        self.values: dict[str, Any] = resolve(self.params, values, f"{self.kind} '{self.name}'")

    @classmethod
    def unsupported(cls, n_classes: int) -> str | None:
        """Why this part cannot serve a task of ``n_classes`` classes (None when it can).
        Checked when a run is planned, before anything trains."""
        return None

    def key(self) -> dict[str, Any]:
        """What identifies this part in a cache key: its name and every parameter value."""
        return {"name": self.name, **self.values}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{type(self).__name__}({args})"

    @classmethod
    def param(cls, name: str) -> Param:
        return next(p for p in cls.params if p.name == name)


def each_class(counts: Sequence[int], owner: str) -> Sequence[int]:
    """``counts`` (training images per class, label order) when every class has one, else a
    ConfigError naming the gap: the one check of every part that reads class counts."""
    if min(counts) < 1:
        if len(counts) == 2:
            got = f"{counts[0]} majority and {counts[1]} minority"
        else:
            empty = ", ".join(str(k) for k, n in enumerate(counts) if n < 1)
            got = f"none of class {empty} (counts {', '.join(map(str, counts))})"
        raise ConfigError(f"{owner} needs at least one training image of each class, got {got}.")
    return counts


def registry(*classes: type[Part]) -> dict[str, type[Part]]:
    """``{name: class}`` in the given (display) order."""
    return {c.name: c for c in classes}


def lookup(table: Mapping[str, type[Part]], name: str, kind: str) -> type[Part]:
    try:
        return table[name]
    except KeyError:
        raise ConfigError(f"Unknown {kind} {name!r}; choose from {', '.join(table)}.") from None


#: Deferred schedules (Cao et al., "Learning imbalanced datasets with label-distribution-aware
#: margin loss", NeurIPS 2019: DRW and DRS): a remedy switched on after this fraction of the
#: training steps, so the features are first learned on the natural distribution.
#: Declared once for every part that defers (the weighted loss, the deferred batches).
SWITCH = Param("switch", None, "float", 0.0, 1.0, optional=True,
               help="Deferred (DRW/DRS): the remedy starts after this fraction of the steps, strictly between "
                    "0 and 1; none = from the first step.")


def check_switch(value: float | None, owner: str) -> float | None:
    """A switch point strictly inside (0, 1) (0 would be "from the start", 1 "never": say so)."""
    if value is not None and not 0.0 < value < 1.0:
        raise ConfigError(f"{owner}: switch must lie strictly between 0 and 1 (a fraction of the training steps), "
                          f"got {value:g}; leave it none to start at the first step.")
    return value


def first_switched_step(switch: float | None, steps: int) -> int:
    """The first 1-based step of ``steps`` at which a part deferred to ``switch`` acts: the
    first step past ``switch * steps`` (1 with no switch, ``steps + 1`` = never)."""
    if switch is None:
        return 1
    return min(steps + 1, math.floor(switch * steps + 1e-9) + 1)


def switched_on(switch: float | None, step: int, steps: int) -> bool:
    """Whether a part deferred to ``switch`` acts at 1-based ``step`` of ``steps``."""
    return step >= first_switched_step(switch, steps)
