"""Every balancing approach behind one interface; look them up by name."""

from __future__ import annotations

from ..errors import ConfigError
from .base import Approach
from .decision import Threshold
from .generative import VaeAugment
from .resampling import Baseline, Oracle, Oversample

#: Registry, in display order.
APPROACHES: dict[str, Approach] = {a.name: a for a in (Baseline(), Threshold(), Oversample(), VaeAugment(), Oracle())}
DEFAULT_APPROACHES = tuple(APPROACHES)


def get_approach(name: str) -> Approach:
    try:
        return APPROACHES[name]
    except KeyError:
        raise ConfigError(f"Unknown approach {name!r}; choose from {', '.join(APPROACHES)}.") from None


def check_approaches(names) -> tuple[str, ...]:
    """Validate a list of approach names, keeping the registry's order and dropping repeats."""
    names = list(names)
    if not names:
        raise ConfigError(f"Choose at least one approach from {', '.join(APPROACHES)}.")
    for n in names:
        get_approach(n)
    return tuple(n for n in APPROACHES if n in names)


__all__ = ["Approach", "APPROACHES", "DEFAULT_APPROACHES", "get_approach", "check_approaches"]
