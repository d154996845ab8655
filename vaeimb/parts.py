"""The base of every recipe part: a name, a description, declared parameters.

After imbalanced-learn's estimators: the base validates parameters (``Param``) and gives
the part its identity for cache keys; a subclass only says what is new about it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

from .params import Param, resolve
from .errors import ConfigError


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
