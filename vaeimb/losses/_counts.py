"""Class counts as the count-based losses read them, checked once."""

from __future__ import annotations

from ..errors import ConfigError
from .base import LossContext


def train_counts(ctx: LossContext, owner: str) -> tuple[int, ...]:
    """Training images per class in label order (minority classes incl. generated images):
    ``(n_majority, n_minority)`` for two classes."""
    counts = ctx.counts
    if min(counts) < 1:
        if len(counts) == 2:
            got = f"{counts[0]} majority and {counts[1]} minority"
        else:
            empty = ", ".join(str(k) for k, n in enumerate(counts) if n < 1)
            got = f"none of class {empty} (counts {', '.join(map(str, counts))})"
        raise ConfigError(f"{owner} needs at least one training image of each class, got {got}.")
    return counts
