"""On-the-fly augmentations of the images in each batch (see ``base.Augmentation``)."""

from __future__ import annotations

from typing import Any

from ...declarations.part import lookup, registry
from .affine import RandomAffine
from .base import CLASSES, Augmentation
from .elastic import ElasticAffine
from .flip import FlipAffine
from .none import NoAugmentation

AUGMENTATIONS = registry(NoAugmentation, RandomAffine, ElasticAffine, FlipAffine)

__all__ = ["AUGMENTATIONS", "Augmentation", "CLASSES", "ElasticAffine", "FlipAffine", "get_augmentation",
           "make_augmentation", "NoAugmentation", "RandomAffine"]


def get_augmentation(name: str) -> type[Augmentation]:
    return lookup(AUGMENTATIONS, name, "augmentation")  # type: ignore[return-value]


def make_augmentation(name: str, **values: Any) -> Augmentation:
    """The augmentation ``name`` with its parameters checked."""
    return get_augmentation(name)(**values)
