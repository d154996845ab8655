"""Batch policies: which training rows each step sees (see ``base.BatchPolicy``)."""

from __future__ import annotations

from typing import Any

from ...declarations.part import lookup, registry
from .balanced import BalancedBatches
from .base import BatchPolicy
from .deferred import DeferredBatches
from .random_batches import RandomBatches

BATCHES = registry(RandomBatches, BalancedBatches, DeferredBatches)

__all__ = ["BATCHES", "BatchPolicy", "get_batches", "make_batches", "BalancedBatches", "DeferredBatches",
           "RandomBatches"]


def get_batches(name: str) -> type[BatchPolicy]:
    return lookup(BATCHES, name, "batch policy")  # type: ignore[return-value]


def make_batches(name: str, **values: Any) -> BatchPolicy:
    """The batch policy ``name`` with its parameters checked."""
    return get_batches(name)(**values)
