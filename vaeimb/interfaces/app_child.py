"""The child process of ``vaeimb.interfaces.app_runs.run_in_child``: it runs one experiment and exits.

It is the executor's driver *and* one of its trainers: ``SelfAndWorkers`` trains one job at
a time in a thread of this process and hands the others to worker processes, so a Run with
N jobs at once holds N copies of torch, not N + 1 (a driver that only waited would hold
one more, about 0.6 GB resident with the default wheel).
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

from ..declarations.config import ExperimentConfig
from ..declarations.errors import VaeimbError
from ..declarations.jobs import Job, error_text, generator_job
from ..running.cache import MemoryCache, ResultCache
from ..running.executor import Backend, Emit, InProcess, LocalProcesses
from ..running.resources import fix_mmap_threshold, trim_heap
from ..running.result_files import made_here, save_result
from ..running.runner import compute_job, plan
from ..studies.experiment import run_experiment
from .app_runs import event_message

#: How often a running job's progress is passed on (the pool's workers send as often).
PROGRESS_EVERY_S = 0.25


def job_names(config: ExperimentConfig, approaches) -> list[str]:
    """What a Run trains, in run order: generators first, then every approach (twins too);
    the names progress events carry."""
    chosen, _ = plan(config, approaches)
    gens = [generator_job(a.recipe.gen) for a in chosen if a.recipe.gen]
    return list(dict.fromkeys(gens)) + [a.name for a in chosen]


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

    def start(self, *, cache, mnist) -> None:
        self._mnist = mnist
        if self.pool is not None:
            self.pool.start(cache=cache, mnist=mnist)

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
            record, _ = compute_job(job, MemoryCache(deps), mnist=self._mnist, progress=progress)
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


def _terminated(signum, frame):
    raise SystemExit(128 + signum)


def main() -> None:
    """``python -c ... vaeimb-run FD``: one request in, progress and then "done" (or "error") out."""
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    fix_mmap_threshold()  # it trains: keep its heap from fragmenting (vaeimb.running.resources)
    conn = Connection(int(sys.argv[2]))
    parent = os.getppid()
    req = conn.recv()
    last: dict = {}

    def progress(event) -> None:
        if os.getppid() != parent:  # the app server is gone: stop (workers follow)
            raise SystemExit(1)
        now = time.monotonic()
        key = (event.job, event.seed, event.where)
        if event.status == "running" and event.done < event.total and now - last.get(key, 0.0) < PROGRESS_EVERY_S:
            return
        last[key] = now
        conn.send(event_message(event))

    try:
        out = Path(req["out"])
        config = ExperimentConfig.from_dict(req["config"])
        conn.send(("plan", job_names(config, req["approaches"])))
        result = run_experiment(
            config, req["approaches"], req["seeds"],
            cache=ResultCache(req["cache_root"]), data_dir=req["data_dir"], progress=progress,
            executor=SelfAndWorkers(req["workers"]),
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
        save_result(result, tmp, made_here("the app's Run"))
        for _ in range(3):  # readers see the old folder or the new one, never half of one
            shutil.rmtree(out, ignore_errors=True)
            try:
                os.replace(tmp, out)
                break
            except OSError:  # another Run of the same settings wrote it in between
                continue
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        conn.send(("done", str(out)))
    except VaeimbError as err:
        conn.send(("error", type(err).__name__, str(err)))
    except Exception:
        conn.send(("error", "crash", traceback.format_exc()))
    finally:
        conn.close()
