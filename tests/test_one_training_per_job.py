"""One computation per job at a time, across processes and across browser tabs.

The cache's claims (a kernel lock per entry, let go when its holder dies), the executor's
driver that trains what nobody holds and reads what another trained, two Runs of the same
settings sharing one child process, two drivers on one cache training each job once, and
the Sweep page and the Atlas page's extension training in a child process as a Run does.
Computations are counted (trainings in this process, or the training progress each
session saw), never timed.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from tiny_setup import TINY

from vaeimb.declarations.config import ExperimentConfig
from vaeimb.running.cache import ResultCache
from vaeimb.running.executor import ELSEWHERE, TRAINED_ELSEWHERE

ROOT = Path(__file__).resolve().parents[1]
#: How long a test waits for an event it expects before failing (a failsafe, not a measure).
PATIENCE_S = 240


# --------------------------------------------------------------------------------------
# The cache's claims
# --------------------------------------------------------------------------------------
def test_a_claim_has_one_holder_and_its_progress_reaches_the_others(tmp_path):
    mine, theirs = ResultCache(tmp_path), ResultCache(tmp_path)  # two drivers: two objects, one folder
    held = mine.claim("classifier", "k")
    assert held is not None
    assert theirs.claim("classifier", "k") is None  # taken, by another object of this very process too
    assert mine.claim("classifier", "k") is None  # and by its own holder a second time
    assert theirs.claim("classifier", "other") is not None  # one lock per entry
    held.report(7, 30, force=True)
    assert theirs.progress_of("classifier", "k") == (7, 30)
    calls = []
    # the holder computes through its own object without waiting for its own lock
    rec, cached = mine.get_or_compute("classifier", "k", lambda: calls.append(1) or ({"v": 1}, {"x": np.ones(2)}))
    assert not cached and calls == [1]
    held.release()
    assert theirs.progress_of("classifier", "k") is None
    again = theirs.claim("classifier", "k")
    assert again is not None and theirs.exists("classifier", "k")  # a later claimant finds the entry
    again.release()


def test_a_killed_holder_lets_go_of_its_claim(tmp_path):
    code = ("import sys, time; from vaeimb.running.cache import ResultCache; "
            f"c = ResultCache({str(tmp_path)!r}).claim('classifier', 'k'); print('held' if c else 'refused', flush=True); "
            "time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        cache = ResultCache(tmp_path)
        assert cache.claim("classifier", "k") is None
        holder.kill()  # SIGKILL: no finally, no atexit
        holder.wait()
        claim = cache.claim("classifier", "k")
        assert claim is not None  # the kernel let go of the dead holder's lock
        claim.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_tidying_old_lock_files_keeps_the_held_ones(tmp_path):
    import os

    cache, other = ResultCache(tmp_path), ResultCache(tmp_path)
    held = cache.claim("classifier", "busy")
    free = other.claim("classifier", "idle")
    free.release()
    locks = tmp_path / ".locks"
    old = 1_000_000_000  # 2001: older than any max age
    for p in locks.glob("*.lock"):
        os.utime(p, (old, old))
    assert other.clean_stale_locks(max_age_s=3600) == 1
    assert (locks / "classifier-busy.lock").exists() and not (locks / "classifier-idle.lock").exists()
    assert other.claim("classifier", "busy") is None  # still held, still exclusive
    held.release()


# --------------------------------------------------------------------------------------
# The executor's driver beside another holder
# --------------------------------------------------------------------------------------
def _jobs(cache: ResultCache, config: ExperimentConfig, approaches, seeds):
    from vaeimb.running.runner import Runner, plan
    from vaeimb.running.executor import InProcess

    chosen, _ = plan(config, approaches, twins=False)
    return Runner(config, cache, InProcess().identity).jobs(chosen, seeds)


class Driver(threading.Thread):
    """``execute`` in a thread of this process, on its own cache object (as another
    process would be): its progress events in a queue, its failures when it ends."""

    def __init__(self, jobs, root: Path, mnist_dir):
        super().__init__(daemon=True)
        self.jobs, self.root, self.mnist_dir = jobs, root, mnist_dir
        self.events: queue.Queue = queue.Queue()
        self.seen: list = []
        self.outcome = None
        self.error = None

    def run(self) -> None:
        from vaeimb.parts.data import load_images
        from vaeimb.running.executor import InProcess, execute

        try:
            self.outcome = execute(self.jobs, InProcess(), cache=ResultCache(self.root), images={"mnist": load_images(self.mnist_dir)},
                                  progress=self.events.put)
        except BaseException as err:  # reported by the test
            self.error = err
        finally:
            self.events.put(None)

    def wait_for(self, found) -> None:
        """Read events until ``found(event)``; fails if the driver ends first."""
        while True:
            e = self.events.get(timeout=PATIENCE_S)
            assert e is not None, f"the driver ended first ({self.error!r})"
            self.seen.append(e)
            if found(e):
                return

    def finish(self) -> list:
        while (e := self.events.get(timeout=PATIENCE_S)) is not None:
            self.seen.append(e)
        self.join(PATIENCE_S)
        assert self.error is None, self.error
        return self.seen


def test_a_driver_trains_what_nobody_holds_and_reads_what_another_trained(tmp_path, mnist_dir, count_training):
    from vaeimb.running.runner import compute_job

    root = tmp_path / "cache"
    config = ExperimentConfig(**{**TINY, "steps": 31})
    theirs, ours = _jobs(ResultCache(root), config, ("baseline", "oversample"), (0,))
    other = ResultCache(root)  # the other process's driver
    held = other.claim(theirs.kind, theirs.key)
    driver = Driver([theirs, ours], root, mnist_dir)
    driver.start()
    driver.wait_for(lambda e: e.job == theirs.label and e.message == ELSEWHERE)
    driver.wait_for(lambda e: e.job == ours.label and e.status == "done")  # trained meanwhile
    assert count_training["clf"] == 1
    held.report(12, 31, force=True)
    driver.wait_for(lambda e: e.job == theirs.label and e.message == ELSEWHERE and e.done == 12)  # followed
    compute_job(theirs, other, data_dir=mnist_dir)  # the holder trains and saves it
    saved = other.path(theirs.kind, theirs.key).stat().st_mtime_ns
    held.release()
    events = driver.finish()
    assert driver.outcome.failed == {} and driver.outcome.elsewhere == {theirs.key}  # read, not computed here
    assert count_training["clf"] == 2  # one each: nothing trained twice
    mine = [(e.status, e.message) for e in events if e.job == theirs.label]
    assert ("cached", TRAINED_ELSEWHERE) in mine and not any(s == "done" for s, _ in mine)
    assert other.path(theirs.kind, theirs.key).stat().st_mtime_ns == saved  # the holder's entry, untouched
    assert ResultCache(root).exists(ours.kind, ours.key)


def test_a_holder_that_dies_leaves_the_job_to_the_driver(tmp_path, mnist_dir, count_training):
    root = tmp_path / "cache"
    config = ExperimentConfig(**{**TINY, "steps": 32})
    (job,) = _jobs(ResultCache(root), config, ("baseline",), (0,))
    code = ("import sys, time; from vaeimb.running.cache import ResultCache; "
            f"c = ResultCache({str(root)!r}).claim({job.kind!r}, {job.key!r}); print('held' if c else 'refused', "
            "flush=True); time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        driver = Driver([job], root, mnist_dir)
        driver.start()
        driver.wait_for(lambda e: e.message == ELSEWHERE)
        assert count_training["clf"] == 0
        holder.kill()  # it crashed mid-training: no entry, and its lock is gone with it
        holder.wait()
        events = driver.finish()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert driver.outcome.failed == {} and not driver.outcome.elsewhere and count_training["clf"] == 1
    assert events[-1].status == "done" and ResultCache(root).exists(job.kind, job.key)


# --------------------------------------------------------------------------------------
# Two sessions
# --------------------------------------------------------------------------------------
def _trained(events) -> set:
    """The jobs a session trained itself: those it saw training steps of (a job another
    driver trains shows as ELSEWHERE)."""
    return {(e.job, e.seed) for e in events if e.status == "running" and e.done >= 1 and not e.message}


def _in_threads(*calls):
    """Run each call in a thread at once; their results (or what they raised)."""
    out = [None] * len(calls)

    def run(i, call):
        try:
            out[i] = ("ok", call())
        except BaseException as err:  # the test inspects it
            out[i] = ("raised", err)

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PATIENCE_S * 2)
    return out


def _counting_spawns(monkeypatch) -> list:
    import vaeimb.interfaces.app_runs as O

    started = []
    spawn = O.spawn_child
    monkeypatch.setattr(O, "spawn_child", lambda *a: started.append(spawn(*a)) or started[-1])
    return started


APPROACHES = ("baseline", "oversample", "vae")


def test_two_tabs_running_the_same_settings_share_one_child(tmp_path, mnist_dir, monkeypatch):
    from vaeimb.interfaces.app_runs import run_in_child, running_requests

    started = _counting_spawns(monkeypatch)
    cfg = ExperimentConfig(**{**TINY, "steps": 150})
    events = [[], []]
    plans = [[], []]

    def tab(i):
        return lambda: run_in_child(cfg, APPROACHES, (0, 1), tmp_path / "out", cache_root=str(tmp_path / "cache"),
                                    data_dir=str(mnist_dir), workers=2, progress=events[i].append,
                                    on_plan=plans[i].append)

    (a, b) = _in_threads(tab(0), tab(1))
    assert a[0] == b[0] == "ok", (a, b)
    assert len(started) == 1  # one child for both tabs
    assert a[1].per_seed() == b[1].per_seed() and a[1].summary() == b[1].summary()
    assert plans[0] == plans[1] == [["generator:vae", "baseline", "oversample", "vae"]]
    for seen in events:  # each tab saw every job finish
        assert {(j, s) for j in plans[0][0] for s in (0, 1)} <= {(e.job, e.seed) for e in seen if e.status == "done"}
    assert running_requests() == []


def test_a_tab_that_leaves_does_not_stop_the_other_ones_run(tmp_path, mnist_dir, monkeypatch):
    from vaeimb.interfaces.app_runs import run_in_child

    started = _counting_spawns(monkeypatch)
    cfg = ExperimentConfig(**{**TINY, "steps": 200})
    joined = threading.Event()

    def leaving(e):
        if e.status == "running" and e.done > 0:
            assert joined.wait(PATIENCE_S)  # the other tab follows the run too
            raise KeyboardInterrupt  # this tab closed (Streamlit's StopException)

    def staying(e):
        joined.set()

    common = {"cache_root": str(tmp_path / "cache"), "data_dir": str(mnist_dir), "workers": 1}
    (gone, stayed) = _in_threads(
        lambda: run_in_child(cfg, ("baseline",), (0,), tmp_path / "out", progress=leaving, **common),
        lambda: run_in_child(cfg, ("baseline",), (0,), tmp_path / "out", progress=staying, **common))
    assert gone[0] == "raised" and isinstance(gone[1], KeyboardInterrupt)
    assert stayed[0] == "ok", stayed
    assert len(started) == 1 and set(stayed[1].runs["baseline"]) == {0}


def test_two_drivers_on_one_cache_train_each_job_once(tmp_path, mnist_dir, monkeypatch):
    """Two Runs of the same settings that do not share a child (two servers, or a CLI run
    beside the app): the drivers' claims split the jobs between them."""
    from vaeimb.interfaces.app_runs import run_in_child
    from vaeimb.studies.experiment import job_names

    started = _counting_spawns(monkeypatch)
    cfg = ExperimentConfig(**{**TINY, "steps": 300})
    events = [[], []]

    def session(i):
        return lambda: run_in_child(cfg, APPROACHES, (0, 1, 2), tmp_path / f"out-{i}", cache_root=str(tmp_path / "cache"),
                                    data_dir=str(mnist_dir), workers=1, progress=events[i].append)

    (a, b) = _in_threads(session(0), session(1))
    assert a[0] == b[0] == "ok", (a, b)
    assert len(started) == 2  # two drivers
    jobs = {(j, s) for j in job_names(cfg, APPROACHES) for s in (0, 1, 2)}
    mine, theirs = _trained(events[0]), _trained(events[1])
    assert not mine & theirs  # nothing trained twice
    assert mine | theirs == jobs  # and everything trained once
    assert a[1].per_seed() == b[1].per_seed() and a[1].summary() == b[1].summary()
    # what the other driver trained counts as loaded from the cache, not as trained here
    assert a[1].cached + b[1].cached == len(APPROACHES) * 3 and a[1].cached and b[1].cached
    cache = ResultCache(tmp_path / "cache")
    assert len(list(cache.root.glob("classifier/*.npz"))) == 3 * 3 and len(list(cache.root.glob("generator/*.npz"))) == 3


# --------------------------------------------------------------------------------------
# The Sweep page and the Atlas page's extension train in a child
# --------------------------------------------------------------------------------------
def test_the_sweep_page_trains_in_a_child(monkeypatch, tmp_path, mnist_dir):
    from streamlit.testing.v1 import AppTest

    import vaeimb.parts.training as T
    from test_app import button, plotly_figures

    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VAEIMB_DATA_DIR", str(mnist_dir))
    monkeypatch.delenv("VAEIMB_APP_PRESET", raising=False)
    monkeypatch.setenv("VAEIMB_APP_WORKERS", "1")
    monkeypatch.setattr(T, "train_classifier", lambda *a, **k: pytest.fail("trained in the server process"))
    at = AppTest.from_file("../app.py", default_timeout=300)
    for key, value in {**TINY, "steps": 33}.items():
        at.session_state[key] = value
    at.session_state["sweep_ratios"] = [0.05, 0.1]
    at.session_state["sweep_approaches"] = ["baseline", "oversample"]
    at.run()
    at.switch_page("pages/3_sweep.py").run()
    button(at, "Run sweep").click().run()
    assert not at.exception, at.exception
    (fig,) = plotly_figures(at)
    lines = [t for t in fig["data"] if t.get("mode") == "lines+markers"]
    assert [t["name"] for t in lines] == ["baseline", "oversample"] and all(t["x"] == [0.05, 0.1] for t in lines)
    assert len(at.dataframe[0].value) == 4
    exported = list((tmp_path / "cache" / "app-results").glob("*/sweep.json"))
    assert len(exported) == 1
    for entry in (tmp_path / "cache" / "classifier").glob("*.npz"):
        entry.unlink()  # what the next session shows can only come from the export
    again = AppTest.from_file("../app.py", default_timeout=300)  # a new session reads the export
    for key, value in {**TINY, "steps": 33}.items():
        again.session_state[key] = value
    again.session_state["sweep_ratios"] = [0.05, 0.1]
    again.session_state["sweep_approaches"] = ["baseline", "oversample"]
    again.run()
    again.switch_page("pages/3_sweep.py").run()
    assert not again.exception and len(again.dataframe[0].value) == 4


def test_the_atlas_extension_trains_in_a_child_and_two_merges_keep_both(monkeypatch, tmp_path, mnist_dir):
    from vaeimb.interfaces.app_runs import atlas_in_child
    from vaeimb.studies import atlas as atl
    from vaeimb.studies.atlas.runs import run_atlas
    from vaeimb_app import atlas as app_atlas

    tiny = atl.load_atlas(ROOT / "tests" / "data" / "atlas_tiny")
    base = atl.base_config(tiny)
    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path / "cache"))
    common = {"cache_root": str(tmp_path / "cache"), "data_dir": str(mnist_dir), "workers": 2}
    events = []
    (one, two) = _in_threads(
        lambda: atlas_in_child(base, [(1, 7)], [0.05], ["baseline", "oversample"], [0, 1], tmp_path / "a",
                               progress=events.append, **common),
        lambda: atlas_in_child(base, [(2, 4)], [0.05], ["baseline", "oversample"], [0, 1], tmp_path / "b", **common))
    assert one[0] == two[0] == "ok", (one, two)
    assert {e.where for e in events} == {"1 vs 7 at 0.05"}  # its progress, named by its cell
    # the same cells in this process, from the cache the children wrote: the same rows
    here, failures = run_atlas(base, [(1, 7)], [0.05], ["baseline", "oversample"], [0, 1],
                               cache=ResultCache(tmp_path / "cache"), data_dir=mnist_dir)
    here = atl.load_atlas(here.write(tmp_path / "here"))  # as written (six significant digits)
    assert failures == [] and sorted(map(str, here.rows)) == sorted(map(str, one[1].rows))
    # two tabs merging their new cells at once: neither's cells are lost
    _in_threads(lambda: app_atlas._merge_into_user(one[1]), lambda: app_atlas._merge_into_user(two[1]))
    mine = atl.load_atlas(app_atlas.user_dir())
    assert sorted(mine.pairs) == [(1, 7), (2, 4)] and len(mine.rows) == 2 * 2 * 2
