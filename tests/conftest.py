"""Shared fixtures: the MNIST folder, an isolated cache, and tiny configs that train in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vaeimb.cache import ResultCache
from vaeimb.config import ExperimentConfig
from vaeimb.data import find_raw_files

ROOT = Path(__file__).resolve().parents[1]


def _mnist_dir() -> Path | None:
    for cand in (os.environ.get("VAEIMB_DATA_DIR"), ROOT.parent / "shared" / "data" / "mnist"):
        if cand and find_raw_files(Path(cand)) is not None:
            return Path(cand).resolve()
    return None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder holding MNIST's four gz files; integration tests skip without it (CI has it)."""
    d = _mnist_dir()
    if d is None:
        if os.environ.get("CI"):
            pytest.fail("MNIST not found: set VAEIMB_DATA_DIR to the folder holding MNIST/raw/*.gz")
        pytest.skip("MNIST not found: set VAEIMB_DATA_DIR")
    return d


@pytest.fixture
def cache(tmp_path) -> ResultCache:
    return ResultCache(tmp_path / "cache")


@pytest.fixture
def tiny_config() -> ExperimentConfig:
    """0 vs 6 at a small size and budget: every approach trains in well under a second."""
    return ExperimentConfig(**TINY)


TINY = dict(
    n_majority=300, n_minority=20, steps=30, batch_size=32, vae_steps=20, vae_batch_size=16, n_checkpoints=3,
)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, mnist_dir):
    """One tiny experiment with every approach and two seeds, shared by read-only tests."""
    from vaeimb.experiment import run_experiment

    c = ResultCache(tmp_path_factory.mktemp("shared-cache"))
    cfg = ExperimentConfig(**TINY)
    return run_experiment(cfg, seeds=[0, 1], cache=c, data_dir=mnist_dir), c
