"""The executor: three backends give the same numbers; a killed worker's job is retried;
a killed or interrupted driver keeps every finished result and the command resumes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tiny_setup import TINY

from vaeimb.declarations.config import ExperimentConfig
from vaeimb.declarations.jobs import Identity, Job
from vaeimb.running import executor as X
from vaeimb.running.cache import ResultCache
from vaeimb.studies.experiment import run_experiment

ROOT = Path(__file__).resolve().parents[1]
#: The tiny config of tests/conftest.py (every approach trains in well under a second).

APPROACHES = ("baseline", "oversample", "vae")


def _logits(result):
    return {(n, s): r.checkpoint_logits for n, by in result.runs.items() for s, r in by.items()}


def _same(a, b):
    la, lb = _logits(a), _logits(b)
    assert la.keys() == lb.keys() and la
    for k in la:
        np.testing.assert_array_equal(la[k], lb[k], err_msg=str(k))


@pytest.fixture(scope="module")
def in_process_result(tmp_path_factory, mnist_dir):
    """The reference: in-process, one torch thread (what each pool worker uses)."""
    cfg = ExperimentConfig(**TINY)
    cache = ResultCache(tmp_path_factory.mktemp("inproc"))
    return run_experiment(cfg, APPROACHES, [0, 1], cache=cache, data_dir=mnist_dir, executor=X.InProcess(threads=1))


def test_local_processes_give_the_in_process_numbers_and_the_driver_writes_the_cache(in_process_result, tmp_path, mnist_dir):
    cfg = ExperimentConfig(**TINY)
    events = []
    pool = X.LocalProcesses(workers=2, threads=1)
    cache = ResultCache(tmp_path / "c")
    res = run_experiment(cfg, APPROACHES, [0, 1], cache=cache, data_dir=mnist_dir, executor=pool, progress=events.append)
    _same(in_process_result, res)
    assert not res.failures and res.cached == 0
    # 2 VAE fits + 3 classifiers x 2 seeds, each reported done once by the executor
    done = [e for e in events if e.status == "done" and e.done == e.total and e.total]
    assert len({(e.job, e.seed) for e in done}) == 8
    assert len(list((tmp_path / "c" / "classifier").glob("*.npz"))) == 6
    assert pool._pool == []  # workers stopped
    again = run_experiment(cfg, APPROACHES, [0, 1], cache=cache, data_dir=mnist_dir, executor=X.LocalProcesses(2, 1))
    assert again.cached == 6


def test_a_killed_worker_costs_its_task_only(in_process_result, tmp_path, mnist_dir):
    cfg = ExperimentConfig(**TINY)
    pool = X.LocalProcesses(workers=2, threads=1)
    killed, retried = [], []

    def progress(e):
        if e.status == "running" and not killed and e.job == "oversample":
            pids = pool.worker_pids()
            victim = next(pid for key, pid in pids.items())
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
        if "retrying" in e.message:
            retried.append(e)

    res = run_experiment(cfg, APPROACHES, [0, 1], cache=ResultCache(tmp_path / "c"), data_dir=mnist_dir,
                         executor=pool, progress=progress)
    assert killed and retried and "SIGKILL" in retried[0].message
    assert not res.failures
    _same(in_process_result, res)


def test_the_in_process_backend_fails_one_task_and_keeps_the_rest(tmp_path, mnist_dir, monkeypatch):
    import vaeimb.parts.training as T

    real = T.train_classifier

    def flaky(*args, **kw):
        if kw["batches"].name == "balanced":
            raise RuntimeError("boom")
        return real(*args, **kw)

    monkeypatch.setattr(T, "train_classifier", flaky)
    cfg = ExperimentConfig(**TINY)
    with pytest.warns(RuntimeWarning, match="boom"):
        res = run_experiment(cfg, ("baseline", "oversample"), [0], cache=ResultCache(tmp_path), data_dir=mnist_dir,
                             executor=X.InProcess(threads=1))
    assert res.failures == {"oversample": {0: "RuntimeError: boom"}}
    assert 0 in res.runs["baseline"]


def test_a_failed_generator_fails_the_tasks_that_need_it(tmp_path):
    """The scheduler alone: a dependency's failure reaches its dependents, and nothing runs them."""

    class Failing(X.Backend):
        saves = True

        def submit(self, job, deps, emit):
            self.ran = getattr(self, "ran", []) + [job.key]
            emit("failed", job.key, "diverged")

    gen = Job("generator", "g", None, None, 0, Identity(), label="generator:vae")
    clf = Job("classifier", "c", None, None, 0, Identity(), deps=("g",), label="vae")
    backend = Failing()
    failed = X.execute([clf, gen], backend, cache=ResultCache(tmp_path), images={}).failed
    assert failed == {"g": "diverged", "c": "its generator failed: diverged"}
    assert backend.ran == ["g"]


def test_make_backend_picks_and_refuses(monkeypatch):
    monkeypatch.delenv(X.RAY_ADDRESS_ENV, raising=False)
    monkeypatch.setattr(X, "usable_cores", lambda: 4)
    monkeypatch.delenv("VAEIMB_THREADS", raising=False)
    pool = X.make_backend()
    assert isinstance(pool, X.LocalProcesses) and pool.workers == 4 and pool.threads == 1
    assert X.make_backend(2).threads == 1  # threads per job never depend on the backend
    assert X.make_backend(in_process=True).identity == pool.identity == X.make_backend(2).identity
    monkeypatch.setenv("VAEIMB_THREADS", "2")
    assert X.make_backend().workers == 2 and X.make_backend().threads == 2
    assert isinstance(X.make_backend(in_process=True), X.InProcess)
    monkeypatch.setattr(X, "usable_cores", lambda: 1)
    assert isinstance(X.make_backend(), X.InProcess)
    with pytest.raises(Exception, match="--workers must be 1 or more"):
        X.make_backend(0)
    with pytest.raises(Exception, match="cannot reach the Ray cluster at 127.0.0.1:9"):
        X.make_backend(ray="127.0.0.1:9")
    with pytest.raises(Exception, match="not HOST:PORT"):
        X.make_backend(ray="nowhere")


# --------------------------------------------------------------------------------------
# The CLI: a killed driver resumes, Ctrl-C keeps finished results, bad input is one line
# --------------------------------------------------------------------------------------
#: The tiny budget as flags (``atlas`` takes ratios, so the minority count is added for ``run`` only).
ATLAS_FLAGS = ["--n-majority", "300", "--batch-size", "32", "--generator-steps", "20", "--generator-batch-size", "16",
               "--checkpoints", "3"]
TINY_FLAGS = [*ATLAS_FLAGS, "--n-minority", "20"]


def _cli(args, cache, *, env=None, **kw):
    e = {**os.environ, "VAEIMB_CACHE_DIR": str(cache), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "vaeimb", *args], cwd=ROOT, env=e, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def _wait_for_entries(folder: Path, n: int, proc, timeout=240):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if len(list(folder.glob("*.npz"))) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("no entries appeared")


def _workers_of(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-f", X.WORKER_MARK], capture_output=True, text=True).stdout.split()
    mine = []
    for p in out:
        try:
            if int(Path(f"/proc/{p}/stat").read_text().split()[3]) == pid:
                mine.append(int(p))
        except (OSError, ValueError, IndexError):
            pass
    return mine


def _gone(pids, timeout=20):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not any(Path(f"/proc/{p}").exists() and "Z" not in Path(f"/proc/{p}/stat").read_text().split()[2]
                   for p in pids):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT", "SIGTERM"])
def test_a_killed_or_interrupted_driver_keeps_finished_results_and_resumes(tmp_path, mnist_dir, how):
    cache = tmp_path / "cache"
    args = ["run", *TINY_FLAGS, "--steps", "150", "--seeds", "0", "1", "--approaches", *APPROACHES,
            "--workers", "2", "--data-dir", str(mnist_dir), "--quiet"]
    proc = _cli(args, cache)
    _wait_for_entries(cache / "classifier", 1, proc)
    workers = _workers_of(proc.pid)
    assert workers, "the driver runs its jobs in worker processes"
    os.kill(proc.pid, getattr(signal, how))
    _, err = proc.communicate(timeout=60)
    if how != "SIGKILL":  # Ctrl-C, or a scheduler's SIGTERM: a clean stop
        assert proc.returncode == 130 and "finished (approach, seed) results are kept" in err
        assert "Traceback" not in err
    assert _gone(workers), "workers outlive their driver"
    before = {p.name: p.stat().st_mtime_ns for p in (cache / "classifier").glob("*.npz")}
    assert before
    again = _cli([*args, "--csv", str(tmp_path / "r.csv")], cache)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    rows = (tmp_path / "r.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2 * len(APPROACHES)  # header + every (approach, seed)
    for name, mtime in before.items():  # finished entries were reused, not recomputed
        assert (cache / "classifier" / name).stat().st_mtime_ns == mtime
    assert len(list((cache / "classifier").glob("*.npz"))) == 2 * len(APPROACHES)


@pytest.mark.parametrize("args, message", [
    (["run", "--workers", "0"], "--workers must be 1 or more"),
    (["run", "--ray", "127.0.0.1:9"], "cannot reach the Ray cluster at 127.0.0.1:9"),
    (["atlas", "--pairs", "0-6", "--out", "X"], "'0-6' is not MAJORITY:MINORITY"),
    (["atlas", "--pairs", "3:3", "--out", "X"], "uses digit 3 twice"),
    (["atlas", "--pairs", "0:12", "--out", "X"], "outside 0-9"),
])
def test_bad_executor_and_atlas_input_is_one_line_and_trains_nothing(tmp_path, mnist_dir, args, message):
    args = [a.replace("X", str(tmp_path / "out")) for a in args]
    proc = _cli([*args, "--data-dir", str(mnist_dir)], tmp_path / "cache")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and message in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "cache" / "classifier").exists() and not (tmp_path / "out").exists()


def test_ray_missing_names_the_cluster_requirements(tmp_path, mnist_dir):
    code = ("import sys; sys.modules['ray'] = None; from vaeimb.interfaces.cli import main; "
            f"sys.exit(main(['run', '--ray', 'local', '--data-dir', {str(mnist_dir)!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "VAEIMB_CACHE_DIR": str(tmp_path)}, timeout=120)
    assert proc.returncode == 2
    assert "Ray is not installed: pip install -r requirements-cluster.txt" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------------------
# Ray: a local two-node cluster, started and stopped here, one worker killed mid-way
# --------------------------------------------------------------------------------------
def _ray_cli() -> str | None:
    exe = Path(sys.executable).parent / "ray"
    return str(exe) if exe.exists() else shutil.which("ray")


@pytest.fixture
def ray_cluster(tmp_path):
    pytest.importorskip("ray", reason="Ray is optional (requirements-cluster.txt); CI installs it")
    ray = _ray_cli()
    if ray is None:
        pytest.skip("the ray command is missing")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    subprocess.run([ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                    "--include-dashboard", "false", *common], check=True, capture_output=True, env=env, timeout=180)
    try:
        subprocess.run([ray, "start", "--address", f"127.0.0.1:{port}", *common], check=True, capture_output=True,
                       env=env, timeout=180)
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, env=env, timeout=180)


def test_ray_two_nodes_survive_a_killed_worker_with_the_same_numbers(ray_cluster, in_process_result, tmp_path, mnist_dir):
    cfg = ExperimentConfig(**{**TINY, "steps": 300})
    reference = run_experiment(cfg, APPROACHES, [0, 1], cache=ResultCache(tmp_path / "ref"), data_dir=mnist_dir,
                               executor=X.InProcess(threads=1))
    backend = X.RayCluster(ray_cluster, threads=1)
    killed = []

    def progress(e):
        if e.status == "done" and not killed:  # the first job is back: kill a busy worker
            out = subprocess.run(["pgrep", "-f", "ray::_ray_job"], capture_output=True, text=True).stdout.split()
            if out:
                os.kill(int(out[0]), signal.SIGKILL)
                killed.append(int(out[0]))

    cache = ResultCache(tmp_path / "ray")
    res = run_experiment(cfg, APPROACHES, [0, 1], cache=cache, data_dir=mnist_dir, executor=backend, progress=progress)
    assert not res.failures
    assert killed, "no Ray worker was busy to kill"
    _same(reference, res)
    assert len(list((tmp_path / "ray" / "classifier").glob("*.npz"))) == 6


# --------------------------------------------------------------------------------------
# The atlas command
# --------------------------------------------------------------------------------------
def test_the_atlas_command_writes_its_table_and_provenance_and_resumes(tmp_path, mnist_dir, capsys):
    from vaeimb.interfaces.cli import main
    from vaeimb.studies.atlas import load_atlas

    args = ["atlas", "--pairs", "0:6", "6:0", "--ratios", "5%", "--approaches", "baseline", "oversample",
            "--seeds", "0", "1", *ATLAS_FLAGS, "--steps", "30", "--in-process", "--quiet",
            "--data-dir", str(mnist_dir), "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "atlas")]
    assert main(args) == 0
    out = capsys.readouterr().out
    atlas = load_atlas(tmp_path / "atlas")
    assert len(atlas.rows) == 2 * 1 * 2 * 2 and atlas.pairs == [(0, 6), (6, 0)] and atlas.ratios == [0.05]
    assert {r["n_minority"] for r in atlas.rows} == {15} and {r["n_test"] for r in atlas.rows} == {1938}
    m = atlas.meta
    assert m["budget"]["steps"] == 30 and m["budget"]["n_majority"] == 300 and m["seeds"] == [0, 1]
    assert m["environment"]["torch"] and m["environment"]["cpu"] and m["executor"].startswith("in-process")
    assert m["trained"] == 8 and m["command"].startswith("python -m vaeimb atlas") and not m["failures"]
    assert "2 pair(s) x 1 ratio(s) x 2 approach(es) x 2 seed(s) = 8 rows" in out
    assert "oversample vs baseline (paired t-tests, Holm's correction over the pairs)" in out
    assert main(args) == 0  # again: everything from the cache, the same table
    assert load_atlas(tmp_path / "atlas").meta["trained"] == 0
    assert load_atlas(tmp_path / "atlas").to_csv() == atlas.to_csv()


def test_a_cell_of_the_atlas_is_reproduced_to_the_count_by_its_run_command(tmp_path, mnist_dir):
    """The command the cell detail shows recomputes the cell: the same counts, seed by seed
    (same machine, so the same CPU family), here on another backend than the atlas's."""
    import csv
    import shlex

    from vaeimb.interfaces.cli import main
    from vaeimb.studies.atlas import cell_command, load_atlas

    args = ["atlas", "--pairs", "3:8", "--ratios", "5%", "--approaches", "baseline", "vae", "--seeds", "0", "1",
            *ATLAS_FLAGS, "--steps", "30", "--in-process", "--quiet", "--data-dir", str(mnist_dir),
            "--cache-dir", str(tmp_path / "atlas-cache"), "--out", str(tmp_path / "atlas")]
    assert main(args) == 0
    atlas = load_atlas(tmp_path / "atlas")
    command = cell_command(atlas, 3, 8, 0.05, ["vae", "baseline"])
    env_part, _, run_part = command.partition(" python -m vaeimb ")
    assert env_part == f"VAEIMB_THREADS={atlas.meta['environment']['threads']}" and run_part.startswith("run ")
    env = {"VAEIMB_THREADS": env_part.split("=")[1], "VAEIMB_DATA_DIR": str(mnist_dir)}
    proc = _cli([*shlex.split(run_part), "--workers", "2", "--quiet", "--csv", str(tmp_path / "cell.csv")],
                tmp_path / "fresh-cache", env=env)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    rows = list(csv.DictReader((tmp_path / "cell.csv").open()))
    again = {(r["approach"], int(r["seed"])): float(r["misclassified"]) for r in rows}
    shipped = {(r["approach"], r["seed"]): r["misclassified"] for r in atlas.rows}
    assert again == shipped and len(shipped) == 4

