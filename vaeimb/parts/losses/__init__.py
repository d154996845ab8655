"""Training losses on the K logits (two classes: on the minority log-odds), one module each
(see ``base.Loss``)."""

from __future__ import annotations

from typing import Any

from ...declarations.part import lookup, registry
from .base import Loss, LossContext
from .class_weighted import ClassWeighted
from .cross_entropy import CrossEntropy
from .focal import Focal
from .ldam_drw import LdamDrw
from .logit_adjusted import LogitAdjusted

LOSSES = registry(CrossEntropy, LogitAdjusted, ClassWeighted, Focal, LdamDrw)

__all__ = ["LOSSES", "Loss", "LossContext", "get_loss", "make_loss",
           "ClassWeighted", "CrossEntropy", "Focal", "LdamDrw", "LogitAdjusted"]


def get_loss(name: str) -> type[Loss]:
    return lookup(LOSSES, name, "loss")  # type: ignore[return-value]


def make_loss(name: str, **values: Any) -> Loss:
    """The loss ``name`` with its parameters checked (ConfigError names what is allowed)."""
    return get_loss(name)(**values)
