"""The contract of a task kind: which digits are the classes, how many training images
each has, and which fixed test sets score them.

After torchvision's datasets (one class per dataset, one constructor contract): a task
kind is one small declaration, and the digit pair is the K = 2 case of the same contract
as the ten-digit long tail. Labels run 0..K-1 in order of training count, the largest
first: label 0 is the head (the pair's majority), labels 1..K-1 are the minority classes
generators fill and augmentations touch. No torch and no data here: the CLI's ``--help``
and the app's first paint read these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class TestPlan:
    """Which MNIST test images score a run: ``per_class`` images of each label (None: every
    test image of its digit), in file order; ``subsets`` name other fixed test sets inside
    it, each as images per label, drawn at random per digit with ``seed`` (the protocol's
    test seed: the same images for every experiment seed). A subset's smaller draw of a
    digit is a prefix of a larger one, so the imbalanced set lies inside the balanced one.

    File order is not a fair sample: MNIST's first 5000 test images (NIST's SD-3, written by
    Census Bureau employees) are cleaner than its last 5000 (SD-1, by students), so a
    file-order subset of a digit would keep mostly the easy half."""

    name: str
    per_class: tuple[int, ...] | None
    subsets: dict[str, tuple[int, ...]]
    #: One line for tables and the About page.
    description: str
    #: The seed the subsets are drawn with (``Protocol.test_seed``); None without subsets.
    seed: int | None = None


class TaskKind:
    """One kind of classification task over MNIST digits (see the module docstring)."""

    name: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str]
    #: The protocol a run of this kind starts from when none is named.
    default_protocol: ClassVar[str]
    #: The experiment settings (``vaeimb.declarations.schema``) that describe this kind's classes and
    #: counts: links, the sidebar and the atlas read them.
    settings: ClassVar[tuple[str, ...]]
    #: Presets (``vaeimb.running.recipes``) a run compares unless told otherwise (the app, ``run``).
    default_approaches: ClassVar[tuple[str, ...]]
    #: Presets ``reproduce`` compares (its reference benchmark).
    reference_approaches: ClassVar[tuple[str, ...]]

    def classes(self, cfg) -> tuple[int, ...]:
        """The digit of each label, label order (largest training count first)."""
        return tuple(d for d, _ in self.plan(cfg))

    def counts(self, cfg) -> tuple[int, ...]:
        """Training images of each label."""
        return tuple(n for _, n in self.plan(cfg))

    def plan(self, cfg) -> tuple[tuple[int, int], ...]:
        """(digit, training count) per label, label order; ConfigError for anything that
        cannot be drawn from MNIST."""
        raise NotImplementedError

    def check(self, cfg) -> None:
        """Refuse a config this kind cannot run (one clear ConfigError)."""
        self.plan(cfg)

    def test_plan(self, cfg) -> TestPlan:
        raise NotImplementedError

    def data_dict(self, cfg) -> dict[str, Any]:
        """What decides the classes, the training draw and the test sets (cache keys)."""
        raise NotImplementedError

    def describe(self, cfg) -> str:
        """One line naming the classes and counts (config labels, page captions)."""
        raise NotImplementedError
