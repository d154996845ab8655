"""Minority-image generators, one module each, all behind ``base.Generator``'s contract."""

from __future__ import annotations

from typing import Any

from ...declarations.part import lookup, registry
from .augment import AugmentGenerator
from .base import FitBudget, FitData, Generator, GeneratorError, LatentGenerator
from .cvae import CvaeGenerator
from .deepsmote import DeepSmoteGenerator
from .latent_smote import LatentSmoteGenerator
from .smote import SmoteGenerator
from .vae import VaeGenerator

#: ``{name: class}`` in display order.
GENERATORS = registry(
    VaeGenerator,
    CvaeGenerator,
    LatentSmoteGenerator,
    DeepSmoteGenerator,
    SmoteGenerator,
    AugmentGenerator,
)
#: Generators that learn a model with a latent space (the others copy or interpolate
#: real images): the Latent page explores them, the findings judge them.
LEARNED = tuple(name for name, cls in GENERATORS.items() if cls.has_latent)


def get_generator(name: str) -> type[Generator]:
    """The generator class called ``name``; a ConfigError listing the choices otherwise."""
    return lookup(GENERATORS, name, "generator")


def make_generator(name: str, **values: Any) -> Generator:
    """An unfitted generator with its parameters checked (ConfigError if one is wrong)."""
    return get_generator(name)(**values)


__all__ = [
    "GENERATORS", "AugmentGenerator", "CvaeGenerator", "DeepSmoteGenerator", "FitBudget", "FitData", "Generator",
    "GeneratorError", "LatentGenerator", "LatentSmoteGenerator", "SmoteGenerator", "VaeGenerator", "get_generator",
    "make_generator",
]
