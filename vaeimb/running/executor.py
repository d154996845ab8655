"""Running jobs: every generator fit and every classifier training is one job.

Four backends, one contract (``Backend``):

- ``InProcess``: one job after another in this process (the app on a one-core host).
- ``LocalProcesses``: a pool of worker processes on this machine (the CLI's default with
  two or more cores; ``--workers N``).
- ``RayCluster``: jobs on a Ray cluster (``--ray ADDRESS``, ``VAEIMB_RAY_ADDRESS``, or
  ``--ray local`` for a Ray instance started here).
- ``SelfAndWorkers``: one job in a thread of the driver itself and the others in local
  worker processes (the app's Run, whose child process is the driver: N jobs at once hold
  N copies of torch, not N + 1).

Workers return records; the driver alone writes the cache, so a cluster needs no shared
filesystem and a killed driver loses nothing that finished: the same command resumes from
the cache. A worker that dies costs its job only (the pool retries it once on a fresh
worker; Ray retries it itself). Each job carries its ``Identity`` (torch threads,
precision, device), which enters its cache key and which the runner computes with: the
same config, seed and identity give the same numbers on every backend, so a result
computed by one backend is a cache hit for the others.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterable, Mapping

from ..declarations.errors import ConfigError, VaeimbError
from ..declarations.jobs import (
    CLUSTER_REQUIREMENTS,
    RAY_ADDRESS_ENV,
    Identity,
    Job,
    error_text,
    is_stop,
)
from ..declarations.locations import PACKAGE_DIR, SOURCE_ROOT
from ..parts.data import load_images
from ..parts.training import current_identity, usable_cores
from .cache import MemoryCache
from .resources import fix_mmap_threshold, trim_heap
from .runner import compute_job

#: ``emit(kind, key, *payload)``: "progress" (event), "done" (record, saved), "failed" (message).
Emit = Callable[..., None]


def _identity(threads: int | None) -> Identity:
    """This process's identity (``training.current_identity``), with ``threads`` if given."""
    identity = current_identity()
    if threads is not None:
        if isinstance(threads, bool) or int(threads) < 1:
            raise ConfigError(f"torch threads per job must be 1 or more, got {threads}.")
        identity = replace(identity, threads=int(threads))
    return identity


class Backend:
    """Runs jobs. ``slots``: how many at once; ``identity``: the threads, precision and
    device every job it runs is planned (and keyed) with."""

    name = "backend"
    slots = 1
    identity = Identity()
    #: Whether ``submit`` saves the record itself (in-process: under the cache's lock).
    saves = False

    @property
    def threads(self) -> int:
        return self.identity.threads

    def start(self, *, cache, images) -> None:
        """Called once before the first job; ``images`` are the driver's loaded datasets
        (name -> ``parts.data.Images``: workers read the same files, never download)."""

    def submit(self, job: Job, deps: Mapping[str, dict], emit: Emit) -> None:
        raise NotImplementedError

    def poll(self, emit: Emit, timeout: float) -> None:
        """Deliver what arrived (progress, results) through ``emit``; wait up to ``timeout``."""

    def shutdown(self, *, cancel: bool) -> None:
        """Stop the workers (``cancel``: at once, abandoning running jobs)."""

    def describe(self) -> str:
        return f"{self.name}, {self.threads} torch thread(s) per job"


# --------------------------------------------------------------------------------------
# In-process
# --------------------------------------------------------------------------------------
class InProcess(Backend):
    """Jobs run here, one after another; progress reaches the caller live, and the cache's
    per-entry lock makes two callers (two browser tabs) compute an entry once."""

    name = "in-process"
    saves = True

    def __init__(self, threads: int | None = None):
        self.identity = _identity(threads)

    def start(self, *, cache, images) -> None:
        self._cache, self._images = cache, images

    def submit(self, job: Job, deps, emit: Emit) -> None:
        try:
            record, _ = compute_job(job, self._cache, images=self._images,
                                     progress=lambda e: emit("progress", job.key, e))
        except Exception as err:  # one job failing must not lose the others
            if is_stop(err):
                raise
            emit("failed", job.key, error_text(err))
            return
        emit("done", job.key, record, True)


# --------------------------------------------------------------------------------------
# Local worker processes
# --------------------------------------------------------------------------------------
#: Marks a worker's command line (to find the workers of a run, e.g. in a test).
WORKER_MARK = "vaeimb-worker"


def worker_entry() -> None:
    """A pool worker's ``main``: ``python -c ... vaeimb-worker FD FOLDERS`` (FOLDERS: JSON,
    dataset name -> the folder of its files)."""
    fd, folders = sys.argv[2], sys.argv[3]
    _worker_main(Connection(int(fd)), json.loads(folders))


def _worker_main(conn, folders: dict[str, str]) -> None:
    """A pool worker: receives jobs, sends progress and records back. Ctrl-C is the
    driver's to handle; a worker whose driver is gone stops at its next progress step.
    Each dataset is read from the driver's folder, once, never downloaded (the driver made
    sure it is there); each job runs with its own identity (the runner sets threads and precision).
    Its heap is kept compact as the driver's is (``resources.fix_mmap_threshold``, and
    ``trim_heap`` after each job): a worker's peak is what sizes the app's worker count."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fix_mmap_threshold()
    parent = os.getppid()
    images: dict = {}
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "stop":
            return
        _, job, deps = msg
        last = [0.0]

        def progress(event, job=job):
            if os.getppid() != parent:
                os._exit(1)
            now = time.monotonic()
            if event.status == "running" and event.done < event.total and now - last[0] < 0.25:
                return
            last[0] = now
            conn.send(("progress", job.key, event))

        try:
            name = job.config.dataset
            if name not in images:
                images[name] = load_images(folders[name], download=False, dataset=name)
            record, _ = compute_job(job, MemoryCache(deps), images=images, progress=progress)
            conn.send(("done", job.key, record))
        except Exception as err:
            conn.send(("failed", job.key, error_text(err)))
        finally:
            record = deps = None
            trim_heap()  # the next job starts from a compact heap


@dataclass
class _Worker:
    process: Any  # subprocess.Popen
    conn: Any  # multiprocessing.connection.Connection over a socket pair
    job: Job | None = None
    deps: Mapping | None = None


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


class LocalProcesses(Backend):
    """A pool of ``workers`` processes on this machine (default: one per ``threads`` usable
    cores), each job on ``threads`` torch threads (default ``training.threads_from_env``:
    1). A worker that dies is replaced and its job retried once.

    Workers are fresh ``python`` processes talking over a socket pair (not
    ``multiprocessing``'s spawn, which re-runs the caller's ``__main__``: inside Streamlit,
    the page script)."""

    name = "local processes"

    def __init__(self, workers: int | None = None, threads: int | None = None, retries: int = 1):
        if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
            raise ConfigError(f"--workers must be 1 or more, got {workers}.")
        self.identity = _identity(threads)
        self.workers = int(workers) if workers is not None else max(1, usable_cores() // self.threads)
        self.slots = self.workers
        self.retries = retries
        self._pool: list[_Worker] = []
        self._attempts: Counter = Counter()

    def describe(self) -> str:
        return f"{self.workers} local worker process(es), {self.threads} torch thread(s) each"

    def start(self, *, cache, images) -> None:
        self._folders = json.dumps({name: str(loaded.source) for name, loaded in images.items()})
        self._pool = []

    def _spawn(self) -> _Worker:
        ours, theirs = socket.socketpair()
        root = str(SOURCE_ROOT)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        cmd = [sys.executable, "-c", "from vaeimb.running.executor import worker_entry; worker_entry()", WORKER_MARK,
               str(theirs.fileno()), self._folders]
        try:
            proc = subprocess.Popen(cmd, pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL, close_fds=True)
        finally:
            theirs.close()
        worker = _Worker(proc, Connection(ours.detach()))
        self._pool.append(worker)
        return worker

    def worker_pids(self) -> dict[str, int]:
        """Job key -> pid of the worker running it (to kill one in a test)."""
        return {w.job.key: w.process.pid for w in self._pool if w.job is not None}

    def submit(self, job: Job, deps, emit: Emit) -> None:
        worker = next((w for w in self._pool if w.job is None), None) or self._spawn()
        worker.job, worker.deps = job, deps
        self._attempts[job.key] += 1
        try:
            worker.conn.send(("job", job, dict(deps)))
        except OSError:
            pass  # it died already: the next poll buries it and retries the job

    def poll(self, emit: Emit, timeout: float) -> None:
        ready = set(wait([w.conn for w in self._pool], timeout)) if self._pool else set()
        for worker in list(self._pool):
            if worker.conn not in ready:
                continue
            try:
                while worker.conn.poll():
                    self._handle(worker, worker.conn.recv(), emit)
            except (EOFError, OSError):  # its end of the socket closed: it died
                self._buried(worker, emit)

    def _handle(self, worker: _Worker, msg, emit: Emit) -> None:
        kind, key = msg[0], msg[1]
        if kind == "progress":
            emit("progress", key, msg[2])
            return
        worker.job = worker.deps = None
        if kind == "done":
            emit("done", key, msg[2], False)
        else:
            emit("failed", key, msg[2])

    def _buried(self, worker: _Worker, emit: Emit) -> None:
        """A dead worker: replace it and retry its job (once), or report the job failed."""
        try:
            code = worker.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            code = worker.process.wait()
        self._pool.remove(worker)
        worker.conn.close()
        job, deps = worker.job, worker.deps
        if job is None:
            return
        why = _death(code)
        if self._attempts[job.key] > self.retries:
            emit("failed", job.key, f"its worker process died twice ({why})")
            return
        emit("progress", job.key, job.event("running", f"worker {why}; retrying on a new worker"))
        self.submit(job, deps, emit)

    def shutdown(self, *, cancel: bool) -> None:
        for w in self._pool:
            if cancel or w.job is not None:
                w.process.terminate()
            else:
                try:
                    w.conn.send(("stop",))
                except OSError:
                    w.process.terminate()
        for w in self._pool:
            try:
                w.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                w.process.kill()
                w.process.wait()
            w.conn.close()
        self._pool = []


# --------------------------------------------------------------------------------------
# Ray
# --------------------------------------------------------------------------------------
def _ray_job(job: Job, deps: Mapping[str, dict], images) -> dict:
    """What a Ray worker runs: one job (with its own identity), its record returned to
    the driver."""
    record, _ = compute_job(job, MemoryCache(deps), images=images)
    return record


def import_ray():
    try:
        import ray  # optional: requirements-cluster.txt
    except ImportError:
        raise VaeimbError(f"Ray is not installed: pip install -r {CLUSTER_REQUIREMENTS} "
                          "(or run without --ray / VAEIMB_RAY_ADDRESS)") from None
    return ray


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse, before anything trains, a Ray address nothing answers at."""
    text = address.split("://", 1)[-1]
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise VaeimbError(f"--ray {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379), 'local' or 'auto'.")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as err:
        raise VaeimbError(f"cannot reach the Ray cluster at {address} ({err.strerror or err}); "
                          "is 'ray start --head' running there?") from None


class RayCluster(Backend):
    """Jobs on a Ray cluster; each asks for ``threads`` CPUs, and Ray retries a job
    whose worker died (up to ``retries`` times). MNIST travels once, through Ray's object
    store, and the vaeimb package with the job, so the nodes need neither."""

    name = "ray"

    def __init__(self, address: str, threads: int | None = None, retries: int = 3):
        self.ray = import_ray()
        self.address = str(address).strip()
        if self.address not in ("local", "auto"):
            check_reachable(self.address)
        self.identity = _identity(threads)
        self.retries = retries
        self._refs: dict = {}
        self._started = False

    def describe(self) -> str:
        where = "a local Ray instance" if self.address == "local" else f"the Ray cluster at {self.address}"
        return f"{where}, {self.threads} torch thread(s) per job"

    def start(self, *, cache, images) -> None:
        ray = self.ray
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if not ray.is_initialized():
            ray.init(address=None if self.address == "local" else self.address, include_dashboard=False,
                     logging_level=logging.ERROR, log_to_driver=False, configure_logging=False,
                     runtime_env={"py_modules": [str(PACKAGE_DIR)]})
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.slots = max(1, cpus // self.threads) * 2  # one queued behind each running job
        self._images = ray.put(images)
        self._remote = ray.remote(_ray_job).options(num_cpus=self.threads, max_retries=self.retries,
                                                    retry_exceptions=False)

    def submit(self, job: Job, deps, emit: Emit) -> None:
        ref = self._remote.remote(job, dict(deps), self._images)
        self._refs[ref] = job
        emit("progress", job.key, job.event("running", "queued on Ray"))

    def poll(self, emit: Emit, timeout: float) -> None:
        ray = self.ray
        if not self._refs:
            return
        ready, _ = ray.wait(list(self._refs), num_returns=len(self._refs), timeout=timeout)
        for ref in ready:
            job = self._refs.pop(ref)
            try:
                record = ray.get(ref)
            except Exception as err:  # the job raised, or its workers died more than ``retries`` times
                cause = getattr(err, "cause", None)
                emit("failed", job.key, error_text(cause) if isinstance(cause, BaseException) else
                     f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}")
                continue
            emit("done", job.key, record, False)

    def shutdown(self, *, cancel: bool) -> None:
        ray = self.ray
        if cancel:
            for ref in list(self._refs):
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # already finished or gone
                    pass
        self._refs = {}
        if self._started:
            ray.shutdown()
            self._started = False


#: How often a job running in the driver's own thread passes its progress on (the pool's
#: workers send as often).
PROGRESS_EVERY_S = 0.25


class _Stopped(BaseException):
    """The driver is shutting down: the job running in the thread ends here."""


class SelfAndWorkers(Backend):
    """``slots`` jobs at once: one in a thread of this process, the others in
    ``slots - 1`` local worker processes (``executor.LocalProcesses``). Every job runs with
    the same identity (threads from ``$VAEIMB_THREADS``) on both, so the entries are those
    any other backend computes."""

    name = "this process and local processes"

    def __init__(self, slots: int):
        self.slots = max(1, int(slots))
        self.pool = LocalProcesses(self.slots - 1) if self.slots > 1 else None
        self.identity = InProcess().identity
        self._queue: queue.Queue = queue.Queue()
        self._own: str | None = None  # the key of the job running in the thread
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def describe(self) -> str:
        return f"this process and {self.slots - 1} local worker process(es), {self.threads} torch thread(s) each"

    def start(self, *, cache, images) -> None:
        self._images = images
        if self.pool is not None:
            self.pool.start(cache=cache, images=images)

    def submit(self, job: Job, deps, emit: Emit) -> None:
        if self._own is None:
            self._own = job.key
            self._thread = threading.Thread(target=self._run, args=(job, dict(deps)), daemon=True)
            self._thread.start()
        else:
            self.pool.submit(job, deps, emit)

    def _run(self, job: Job, deps) -> None:
        last = [0.0]

        def progress(event) -> None:
            if self._stop.is_set():
                raise _Stopped
            now = time.monotonic()
            if event.status == "running" and event.done < event.total and now - last[0] < PROGRESS_EVERY_S:
                return
            last[0] = now
            self._queue.put(("progress", job.key, event))

        try:
            record, _ = compute_job(job, MemoryCache(deps), images=self._images, progress=progress)
        except _Stopped:
            return
        except Exception as err:  # one job failing must not lose the others
            self._queue.put(("failed", job.key, error_text(err)))
            return
        finally:
            trim_heap()  # the next job starts from a compact heap
        self._queue.put(("done", job.key, record, False))

    def poll(self, emit: Emit, timeout: float) -> None:
        if self.pool is not None:  # the workers and the thread by turns, each a short wait
            timeout = min(timeout, 0.05)
            self.pool.poll(emit, timeout)
        try:
            msg = self._queue.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            if msg[0] in ("done", "failed"):
                self._own = None
            emit(*msg)
            try:
                msg = self._queue.get_nowait()
            except queue.Empty:
                return

    def shutdown(self, *, cancel: bool) -> None:
        self._stop.set()
        if self.pool is not None:
            self.pool.shutdown(cancel=cancel)
        if self._thread is not None and not cancel:
            self._thread.join(timeout=10)


# --------------------------------------------------------------------------------------
# Choosing a backend, and running jobs on it
# --------------------------------------------------------------------------------------
def make_backend(workers: int | None = None, ray: str | None = None, *, in_process: bool = False) -> Backend:
    """The backend for the CLI's flags: ``--ray`` (or ``$VAEIMB_RAY_ADDRESS``), else
    ``--workers N`` processes, else in-process on a one-core machine and one worker per
    core otherwise. Every backend runs jobs with the same identity (threads from
    ``$VAEIMB_THREADS``, default 1), so they share cache entries."""
    if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
        raise ConfigError(f"--workers must be 1 or more, got {workers}.")
    ray = ray or (None if in_process or workers is not None else os.environ.get(RAY_ADDRESS_ENV) or None)
    if ray:
        return RayCluster(ray)
    if in_process or (workers is None and usable_cores() < 2):
        return InProcess()
    return LocalProcesses(workers)


#: How a job another process is training shows in progress events (its own run's bar).
ELSEWHERE = "being trained by another run"
#: How a job another process trained shows when its entry lands.
TRAINED_ELSEWHERE = "trained by another run"
#: How long the driver waits between looks at the jobs other processes hold, when it has
#: nothing of its own running.
ELSEWHERE_POLL_S = 0.25


@dataclass(frozen=True)
class Outcome:
    """What ``execute`` reports: the jobs that failed ({key: message}) and the jobs another
    process trained while this driver waited (their entries were read here, not computed)."""

    failed: dict[str, str]
    elsewhere: frozenset[str] = frozenset()


def execute(jobs: Iterable[Job], backend: Backend, *, cache, images, progress: Callable | None = None) -> Outcome:
    """Run ``jobs`` on ``backend``, each after the generators it reads. The driver writes
    every returned record to ``cache`` the moment it arrives. ``images``: the driver's
    loaded datasets (name -> ``Images``; their folders are what workers read). Returns the ``Outcome``: the jobs that
    failed (a job whose generator failed fails with it) and those trained elsewhere.

    One computation per job at a time, across processes: the driver claims each job's
    entry (``ResultCache.claim``) before it trains it and releases the claim once the
    record is saved. A job another driver holds (a second browser tab, a second CLI run on
    the same cache) is not trained again: this driver trains the jobs nobody holds
    meanwhile, passes the holder's progress on (``ELSEWHERE``) and reads the holder's entry
    when it lands (``TRAINED_ELSEWHERE``). A holder that fails or dies lets go of its claim
    (the kernel releases a dead process's locks) without an entry: the job is then this
    driver's to train."""
    waiting = {t.key: t for t in jobs}
    running: dict[str, Job] = {}
    elsewhere: dict[str, Job] = {}  # jobs another process holds: their entry is awaited
    claims: dict = {}  # key -> Claim, for the jobs this driver trains
    failed: dict[str, str] = {}
    landed: set[str] = set()  # jobs another process trained: read, not computed here
    claim = getattr(cache, "claim", None)  # a cache without claims (a worker's) runs alone

    def tell(job: Job, status: str, message: str = "", done: int | None = None) -> None:
        if progress is not None:
            progress(job.event(status, message, done))

    def let_go(key: str) -> None:
        held = claims.pop(key, None)
        if held is not None:
            held.release()

    def on_event(kind: str, key: str, *payload) -> None:
        if kind == "progress":
            event = payload[0]
            held = claims.get(key)
            if held is not None and event.status == "running" and event.total:
                held.report(event.done, event.total)
            if progress is not None:
                progress(event)
            return
        job = running.pop(key)
        try:
            if kind == "done":
                record, saved = payload
                if not saved:
                    cache.save(job.kind, key, record["meta"], record["arrays"])
                tell(job, "done")
            else:
                failed[key] = payload[0]
                tell(job, "failed", payload[0])
        finally:
            let_go(key)

    def look_elsewhere() -> None:
        """The jobs other processes hold: landed (read theirs), let go of without an
        entry (ours to train), or still training (their progress, passed on)."""
        for key, job in list(elsewhere.items()):
            if cache.exists(job.kind, key):
                del elsewhere[key]
                landed.add(key)
                tell(job, "cached", TRAINED_ELSEWHERE)
                continue
            held = claim(job.kind, key)
            if held is not None:  # its holder finished without an entry, or died
                held.release()
                del elsewhere[key]
                waiting[key] = job
                continue
            seen = cache.progress_of(job.kind, key)
            if seen is not None:
                tell(job, "running", ELSEWHERE, done=min(seen[0], job.total))

    if not waiting:
        return Outcome(failed)
    backend.start(cache=cache, images=images)
    try:
        while waiting or running or elsewhere:
            if elsewhere:
                look_elsewhere()
            for job in list(waiting.values()):
                bad = next((d for d in job.deps if d in failed), None)
                if bad is not None:
                    del waiting[job.key]
                    failed[job.key] = f"its generator failed: {failed[bad]}"
                    tell(job, "failed", failed[job.key])
            ready = [t for t in waiting.values()
                     if not any(d in waiting or d in running or d in elsewhere for d in t.deps)]
            ready.sort(key=lambda t: t.kind != "generator")  # generators first: others wait on them
            free = max(0, backend.slots - len(running))
            for job in ready:
                if free <= 0:
                    break
                if claim is not None:
                    held = claim(job.kind, job.key)
                    if held is None:  # another process trains it: wait for its entry, train others
                        del waiting[job.key]
                        elsewhere[job.key] = job
                        tell(job, "running", ELSEWHERE)
                        continue
                    if cache.exists(job.kind, job.key):  # it landed since the plan was made
                        held.release()
                        del waiting[job.key]
                        landed.add(job.key)
                        tell(job, "cached", TRAINED_ELSEWHERE)
                        continue
                    claims[job.key] = held
                del waiting[job.key]
                deps = {}
                if not backend.saves:
                    for d in job.deps:
                        deps[d] = cache.load("generator", d)
                    missing = [d for d, rec in deps.items() if rec is None]
                    if missing:
                        failed[job.key] = f"its generator entry {missing[0]} vanished from the cache"
                        tell(job, "failed", failed[job.key])
                        let_go(job.key)
                        continue
                running[job.key] = job
                free -= 1
                backend.submit(job, deps, on_event)
            if running:
                backend.poll(on_event, timeout=0.5)
            elif elsewhere:
                time.sleep(ELSEWHERE_POLL_S)
    except BaseException:
        backend.shutdown(cancel=True)
        raise
    finally:
        for key in list(claims):
            let_go(key)
    backend.shutdown(cancel=False)
    return Outcome(failed, frozenset(landed))
