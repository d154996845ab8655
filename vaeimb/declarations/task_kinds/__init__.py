"""Task kinds: the digit pair and the long tail, one module each behind ``base.TaskKind``.
A new kind is one module and one line here; nothing else names a kind."""

from __future__ import annotations

from .base import TaskKind, TestPlan
from .longtail import (
    DEEPSMOTE_COUNTS,
    DEEPSMOTE_DIFFERENCES,
    DEEPSMOTE_REPORTED,
    PROFILES,
    LongTail,
)
from .pair import DigitPair

#: ``{name: instance}`` in the order the faces offer them.
TASK_KINDS: dict[str, TaskKind] = {k.name: k for k in (DigitPair(), LongTail())}

__all__ = ["DEEPSMOTE_COUNTS", "DEEPSMOTE_DIFFERENCES", "DEEPSMOTE_REPORTED", "PROFILES", "TASK_KINDS", "DigitPair", "LongTail", "TaskKind", "TestPlan"]
