"""An experiment run in a child process: the same numbers as in-process, progress on the way,
errors with their own class, a stop that ends the child and its workers, and a caller that
never loads torch."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tiny_setup import TINY

from vaeimb.declarations.config import ExperimentConfig
from vaeimb.declarations.errors import ConfigError
from vaeimb.interfaces.app_runs import run_in_child
from vaeimb.running.cache import ResultCache

ROOT = Path(__file__).resolve().parents[1]
APPROACHES = ("baseline", "threshold", "vae")


def _children_of(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":  # exited, waiting for its (init) parent to reap it
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("workers", [1, 2])
def test_the_child_computes_what_in_process_computes(tmp_path, mnist_dir, workers):
    from vaeimb.studies.experiment import run_experiment

    cfg = ExperimentConfig(**{**TINY, "steps": 23})  # a config of its own
    events, plans = [], []
    got = run_in_child(cfg, APPROACHES, (0, 1), tmp_path / "out", cache_root=str(tmp_path / "cache"),
                       data_dir=str(mnist_dir), workers=workers, progress=events.append, on_plan=plans.append)
    assert plans == [["generator:vae", "baseline", "threshold", "vae"]]
    done = {(e.job, e.seed) for e in events if e.status in ("done", "cached")}
    assert {(t, s) for t in plans[0] for s in (0, 1)} <= done
    # the same entries again, in this process, from the cache the child wrote: identical numbers
    cache = ResultCache(tmp_path / "cache")
    here = run_experiment(cfg, APPROACHES, (0, 1), cache=cache, data_dir=mnist_dir)
    assert here.cached == len(APPROACHES) * 2  # nothing trained twice
    assert got.per_seed() == here.per_seed() and got.summary() == here.summary()
    for name in APPROACHES:
        for seed in (0, 1):
            np.testing.assert_array_equal(got.runs[name][seed].checkpoint_logits, here.runs[name][seed].checkpoint_logits)
    assert got.cached == 2  # threshold reuses baseline's model
    threads = {json.loads(json.dumps(r.info["environment"]))["threads"] for by in got.runs.values() for r in by.values()}
    assert threads == {1}


def test_a_bad_approach_is_the_childs_config_error(tmp_path, mnist_dir):
    with pytest.raises(ConfigError, match="Unknown approach 'nope'"):
        run_in_child(ExperimentConfig(**TINY), ("baseline", "nope"), (0,), tmp_path / "out",
                     cache_root=str(tmp_path / "cache"), data_dir=str(mnist_dir))


def test_an_error_raised_by_progress_stops_the_child_and_its_workers(tmp_path, mnist_dir, monkeypatch):
    import vaeimb.interfaces.app_runs as O

    started = []
    spawn = O.spawn_child
    monkeypatch.setattr(O, "spawn_child", lambda *a: started.append(spawn(*a)) or started[-1])
    cfg = ExperimentConfig(**{**TINY, "steps": 400})  # long enough to be stopped mid-way
    workers = []

    def progress(e):
        if e.status == "running" and e.done > 0:
            workers.extend(_children_of(started[0][0].pid))
            raise KeyboardInterrupt  # a closed browser tab raises Streamlit's StopException here

    with pytest.raises(KeyboardInterrupt):
        run_in_child(cfg, ("baseline", "oversample"), (0,), tmp_path / "out", cache_root=str(tmp_path / "cache"),
                     data_dir=str(mnist_dir), workers=2, progress=progress)
    child = started[0][0]
    assert child.returncode is not None  # ended and reaped
    assert len(workers) == 1 and all(_gone(w) for w in workers)  # its one worker process ended with it
    assert not (tmp_path / "out").exists()


def test_the_caller_never_loads_torch(tmp_path, mnist_dir):
    code = (
        "import sys; from vaeimb.declarations.config import ExperimentConfig; from vaeimb.interfaces.app_runs import run_in_child; "
        f"r = run_in_child(ExperimentConfig(n_majority=300, n_minority=20, steps=21, batch_size=32, n_checkpoints=3), "
        f"('baseline',), (0,), {str(tmp_path / 'out')!r}, cache_root={str(tmp_path / 'cache')!r}, "
        f"data_dir={str(mnist_dir)!r}); r.summary(); print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_sweep_in_the_child_computes_what_in_process_computes(tmp_path, mnist_dir):
    from vaeimb.interfaces.app_runs import sweep_in_child
    from vaeimb.studies.sweep import run_sweep

    cfg = ExperimentConfig(**{**TINY, "steps": 24})
    events, plans = [], []
    got = sweep_in_child(cfg, (0.1, 0.05), ("baseline", "oversample"), (0,), tmp_path / "out",
                         cache_root=str(tmp_path / "cache"), data_dir=str(mnist_dir), workers=2,
                         progress=events.append, on_plan=plans.append)
    assert plans == [["baseline", "oversample"]]
    assert {e.where for e in events} == {"ratio 0.05", "ratio 0.1"}  # each point named in its progress
    here = run_sweep(cfg, (0.05, 0.1), ("baseline", "oversample"), (0,), cache=ResultCache(tmp_path / "cache"),
                     data_dir=mnist_dir)
    assert [r for r, _ in got] == [0.05, 0.1]
    assert all(res.cached == 2 for _, res in here.points)  # nothing trained twice
    for (_, mine), (_, theirs) in zip(got, here.points):
        assert mine.per_seed() == theirs.per_seed() and mine.config == theirs.config


def test_a_bad_sweep_is_the_childs_config_error(tmp_path, mnist_dir):
    from vaeimb.interfaces.app_runs import sweep_in_child

    with pytest.raises(ConfigError, match="Unknown approach 'nope'"):
        sweep_in_child(ExperimentConfig(**TINY), (0.05,), ("baseline", "nope"), (0,), tmp_path / "out",
                       cache_root=str(tmp_path / "cache"), data_dir=str(mnist_dir))
