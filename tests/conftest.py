"""Shared fixtures: the MNIST folder, an isolated cache, and tiny configs that train in seconds."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # vaeimb/ and bench/ (the scripts' shared bench/browser.py) import from the root
    sys.path.insert(0, str(ROOT))

from tiny_setup import TINY  # noqa: E402

from vaeimb.declarations.config import ExperimentConfig  # noqa: E402
from vaeimb.parts.data import find_raw_files  # noqa: E402
from vaeimb.running.cache import ResultCache  # noqa: E402


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
def unreachable_mnist_mirror(monkeypatch):
    """Point torchvision's real MNIST download at a loopback port that refuses connections.

    The download code runs for real and fails the way it does offline, at once (a socket
    that is bound but never listens refuses every connection).
    """
    import torchvision.datasets

    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        mirror = f"http://127.0.0.1:{s.getsockname()[1]}/mnist/"
        monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [mirror])
        yield mirror


@pytest.fixture
def cache(tmp_path) -> ResultCache:
    return ResultCache(tmp_path / "cache")


@pytest.fixture
def tiny_config() -> ExperimentConfig:
    """0 vs 6 at a small size and budget: every approach trains in well under a second."""
    return ExperimentConfig(**TINY)




@pytest.fixture
def count_training(monkeypatch):
    """How many classifiers train in the test (``{"clf": n}``)."""
    import vaeimb.parts.training as T

    counts = {"clf": 0}
    real = T.train_classifier

    def clf(*a, **k):
        counts["clf"] += 1
        return real(*a, **k)

    monkeypatch.setattr(T, "train_classifier", clf)
    return counts


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if anything trains (bad input must be refused first)."""
    import vaeimb.parts.training as T

    monkeypatch.setattr(T, "train_classifier", lambda *a, **k: pytest.fail("trained before refusing the input"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, mnist_dir):
    """One tiny experiment with every approach and two seeds, shared by read-only tests."""
    from vaeimb.studies.experiment import run_experiment

    c = ResultCache(tmp_path_factory.mktemp("shared-cache"))
    cfg = ExperimentConfig(**TINY)
    return run_experiment(cfg, seeds=[0, 1], cache=c, data_dir=mnist_dir), c


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """pytest-randomly (requirements-dev.txt) shuffles the test order on every run; print
    its seed even under -q, so an order-dependent failure can be replayed."""
    if config.pluginmanager.hasplugin("randomly"):
        seed = config.getoption("randomly_seed", None)
        terminalreporter.write_line(
            f"random test order: rerun it with -p randomly --randomly-seed={seed} (file order: -p no:randomly)")


@pytest.fixture(scope="session")
def _torch_state():
    """torch's thread count and the training precision as the session found them."""
    import torch

    import vaeimb.parts.training as T

    return torch.get_num_threads(), T._precision


@pytest.fixture(autouse=True)
def _restore_torch_threads_and_precision(_torch_state):
    """A test that trains sets this process's torch threads (the runner applies each job's
    identity) and maybe the precision; keys come from the job's identity, but every test
    still starts from the session's own values so no test depends on another's order."""
    import torch

    import vaeimb.parts.training as T

    torch.set_num_threads(_torch_state[0])
    T._precision = _torch_state[1]
    yield
    torch.set_num_threads(_torch_state[0])
    T._precision = _torch_state[1]
