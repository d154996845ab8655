"""What a parameter is (``Param``): name, type, range, default, one line of help.

Every part of a recipe (generator, loss, decision, ...) lists its parameters as ``Param``s.
Validation, CLI ``--param`` parsing, sidebar widgets and cache keys all read that one
declaration, so an out-of-range value gets the same wording wherever it comes from. The
experiment's own settings (steps, batch size, ...) are ``Param``s too: ``vaeimb.declarations.schema``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .errors import ConfigError


@dataclass(frozen=True)
class Param:
    """One hyper-parameter. ``kind`` is "int", "float", "bool", "choice" or "text" (a short
    string its owner parses, e.g. a digit order)."""

    name: str
    default: Any
    kind: str = "float"
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    help: str = ""
    #: ``None`` allowed (e.g. "n_generate: None = fill up to the majority count").
    optional: bool = False
    #: The bounds themselves excluded (e.g. a probability to reach, strictly inside (0, 1)).
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        if self.kind == "choice":
            allowed = " | ".join(map(str, self.choices))
        elif self.kind == "bool":
            allowed = "true | false"
        elif self.kind == "text":
            allowed = "text"
        else:
            number = (lambda v: str(int(v))) if self.kind == "int" else (lambda v: f"{v:g}")  # 1000000, not 1e+06
            lo = "-inf" if self.low is None else number(self.low)
            hi = "inf" if self.high is None else number(self.high)
            allowed = f"{self.kind} in {'(' if self.low_open else '['}{lo}, {hi}{')' if self.high_open else ']'}"
        if self.optional:
            allowed += " | none"
        return allowed

    def parse(self, text: str, owner: str) -> Any:
        """A value typed on the command line or in a URL, checked."""
        t = str(text).strip()
        if self.optional and t.lower() in ("none", "null", ""):
            return None
        try:
            if self.kind == "int":
                value: Any = int(t)
            elif self.kind == "float":
                value = float(t)
            elif self.kind == "bool":
                if t.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                value = t.lower() in ("true", "1", "yes")
            else:
                value = t
        except ValueError:
            raise ConfigError(f"{_prefix(owner)}{self.name} must be {self.describe()}, got {text!r}.") from None
        return self.check(value, owner)

    def check(self, value: Any, owner: str) -> Any:
        """The value, normalised (int for "int", float for "float"), or a ConfigError
        (``owner`` names where the value came from; empty: the name alone)."""
        bad = ConfigError(f"{_prefix(owner)}{self.name} must be {self.describe()}, got {value!r}.")
        if value is None:
            if self.optional:
                return None
            raise bad
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise bad
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise bad
            return value
        if self.kind == "text":
            if not isinstance(value, str) or len(value) > 200:
                raise bad
            return value.strip()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if self.kind == "int":
            if float(value) != int(value):
                raise bad
            value = int(value)
        else:
            value = float(value)
            if value != value:  # NaN
                raise bad
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise bad
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            raise bad
        return value


def _prefix(owner: str) -> str:
    return f"{owner}: " if owner else ""


def resolve(params: Sequence[Param], overrides: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """Defaults overlaid with ``overrides``, every value checked; unknown names refused."""
    known = {p.name: p for p in params}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        allowed = ", ".join(known) or "none"
        raise ConfigError(f"{owner}: unknown parameter(s) {', '.join(unknown)}; allowed: {allowed}.")
    return {p.name: p.check(overrides.get(p.name, p.default), owner) for p in params}
