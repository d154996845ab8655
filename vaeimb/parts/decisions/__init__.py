"""Decision rules: per-class offsets on the logits (two classes: where to cut the minority
log-odds), one module each (see ``base.Decision``)."""

from __future__ import annotations

from typing import Any

from ...declarations.part import lookup, registry
from .argmax import Argmax
from .base import Decision, DecisionContext, predict
from .posthoc import PostHoc
from .tuned import TunedOnValidation

DECISIONS = registry(Argmax, PostHoc, TunedOnValidation)

__all__ = ["DECISIONS", "Decision", "DecisionContext", "get_decision", "make_decision", "predict",
           "Argmax", "PostHoc", "TunedOnValidation"]


def get_decision(name: str) -> type[Decision]:
    return lookup(DECISIONS, name, "decision")  # type: ignore[return-value]


def make_decision(name: str, **values: Any) -> Decision:
    """The decision rule ``name`` with its parameters checked."""
    return get_decision(name)(**values)
