"""Batch-level mixing of images and labels, one module each (see ``base.Mixing``)."""

from __future__ import annotations

from typing import Any

from ...declarations.part import lookup, registry
from .base import Mixed, Mixing
from .mixup import Mixup
from .none import NoMixing
from .remix import Remix

MIXINGS = registry(NoMixing, Mixup, Remix)

__all__ = ["MIXINGS", "Mixed", "Mixing", "Mixup", "NoMixing", "Remix", "get_mixing", "make_mixing"]


def get_mixing(name: str) -> type[Mixing]:
    return lookup(MIXINGS, name, "mixing")  # type: ignore[return-value]


def make_mixing(name: str, **values: Any) -> Mixing:
    """The mixing ``name`` with its parameters checked."""
    return get_mixing(name)(**values)
