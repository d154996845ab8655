"""``pip install .`` makes a ``vaeimb`` command: installed into a fresh virtual environment,
it answers --help and runs a tiny experiment, importing the installed package (not this
source tree). Offline: the fresh environment sees this one's packages through a .pth file,
and pip installs the project alone (--no-deps --no-build-isolation --no-index)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args, cwd, env=None, timeout=300):
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv with vaeimb installed from a copy of the project (a build writes build/
    and *.egg-info beside the sources, which must not land in the repository)."""
    tmp = tmp_path_factory.mktemp("console-script")
    src = tmp / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copytree(ROOT / "vaeimb", src / "vaeimb", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env_dir = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", env_dir], cwd=tmp)
    assert made.returncode == 0, made.stderr
    python = env_dir / "bin" / "python"
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp).stdout.strip()
    # this environment's packages (torch, ..., pip and setuptools) after the fresh one's own
    (Path(purelib) / "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    has_setuptools = _run([python, "-c", "import setuptools.build_meta"], cwd=tmp)
    assert has_setuptools.returncode == 0, "setuptools is missing: pip install -r requirements-dev.txt"
    installed = _run([python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                      "--disable-pip-version-check", "--quiet", src], cwd=tmp)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return env_dir


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return {**env, **extra}


def test_the_console_script_answers_help_from_the_installed_package(venv, tmp_path):
    where = _run([venv / "bin" / "python", "-c", "import vaeimb; print(vaeimb.__file__)"], cwd=tmp_path, env=_env())
    assert Path(where.stdout.strip()).resolve().is_relative_to(venv.resolve()), where.stdout + where.stderr
    out = _run([venv / "bin" / "vaeimb", "run", "--help"], cwd=tmp_path, env=_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: vaeimb run") and "--generator-steps" in out.stdout


def test_the_console_script_runs_a_tiny_experiment(venv, tmp_path, mnist_dir):
    out = _run([venv / "bin" / "vaeimb", "run", "--approaches", "baseline", "--seeds", "0", "--n-majority", "300",
                "--n-minority", "20", "--steps", "5", "--in-process", "--quiet"], cwd=tmp_path,
               env=_env(VAEIMB_DATA_DIR=str(mnist_dir), VAEIMB_CACHE_DIR=str(tmp_path / "cache")))
    assert out.returncode == 0, out.stderr[-2000:]
    assert re.search(r"^baseline\b", out.stdout, re.M), out.stdout
    assert "300/20" in out.stdout and "error" not in out.stderr


def test_the_declared_dependencies_are_requirements_txt():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [ln.split("#")[0].strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()]
    assert project["dependencies"] == [ln for ln in lines if ln and not ln.startswith("-")]
    cluster = [ln.split("#")[0].strip() for ln in (ROOT / "requirements-cluster.txt").read_text().splitlines()]
    assert project["optional-dependencies"]["cluster"] == [ln for ln in cluster if ln]
    assert project["scripts"]["vaeimb"] == "vaeimb.interfaces.cli:main_entry"
