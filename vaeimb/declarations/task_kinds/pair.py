"""Two digits: the original experiment (0 vs 6, 5000 / 100), and any other pair."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import TaskKind, TestPlan


class DigitPair(TaskKind):
    """Majority digit (label 0) against minority digit (label 1), tested on every MNIST test
    image of both digits."""

    name = "pair"
    label = "two digits"
    description = "One digit against another: n_majority images of the majority digit, n_minority of the minority."
    default_protocol = "clean"
    settings = ("majority", "minority", "n_majority", "n_minority")
    #: The approaches the original experiment compared, plus the bound.
    default_approaches = ("baseline", "threshold", "oversample", "vae", "oracle")
    reference_approaches = default_approaches

    def plan(self, cfg) -> tuple[tuple[int, int], ...]:
        if cfg.majority == cfg.minority:
            raise ConfigError(f"Majority and minority must be two different {cfg.dataset_record.noun}s "
                              f"(both are {cfg.majority}).")
        ds = cfg.dataset_record
        for digit, count, role in ((cfg.majority, cfg.n_majority, "majority"), (cfg.minority, cfg.n_minority, "minority")):
            ds.check_class(digit)
            avail = ds.train_counts[digit]
            if isinstance(count, int) and not isinstance(count, bool) and not 1 <= count <= avail:
                raise ConfigError(f"n_{role} must be an integer from 1 to {avail} ({ds.title} train holds {avail} "
                                  f"images {ds.holds(digit)}), got {count!r}.")
        return ((cfg.majority, cfg.n_majority), (cfg.minority, cfg.n_minority))

    def check(self, cfg) -> None:
        self.plan(cfg)
        if cfg.n_minority > cfg.n_majority:
            raise ConfigError(f"n_minority ({cfg.n_minority}) must not exceed n_majority ({cfg.n_majority}): "
                              "swap the digits to study the other direction.")

    def test_plan(self, cfg) -> TestPlan:
        ds = cfg.dataset_record
        n = ds.test_counts[cfg.majority] + ds.test_counts[cfg.minority]
        return TestPlan("all", None, {}, f"every {ds.title} test image of {ds.class_label(cfg.majority)} and "
                                         f"{ds.class_label(cfg.minority)} ({n})")

    def data_dict(self, cfg) -> dict[str, Any]:
        return {k: getattr(cfg, k) for k in ("majority", "minority", "n_majority", "n_minority")}

    def describe(self, cfg) -> str:
        ds = cfg.dataset_record
        return (f"{cfg.dataset_prefix}{ds.class_label(cfg.majority)} vs {ds.class_label(cfg.minority)}, "
                f"{cfg.n_majority}/{cfg.n_minority} ({100 * cfg.n_minority / cfg.n_majority:.2g}% minority)")
