"""Class counts as the count-based losses read them, checked once."""

from __future__ import annotations

from ..errors import ConfigError
from .base import LossContext


def train_counts(ctx: LossContext, owner: str) -> tuple[int, int]:
    """``(n_majority, n_minority)`` of the training set (minority incl. generated images)."""
    if ctx.n_majority < 1 or ctx.n_minority < 1:
        raise ConfigError(
            f"{owner} needs at least one training image of each class, got "
            f"{ctx.n_majority} majority and {ctx.n_minority} minority."
        )
    return ctx.n_majority, ctx.n_minority
