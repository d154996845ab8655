"""Run an experiment in a child process, for a caller that must stay small.

The app's server draws results with numpy and plotly; torch alone holds about 0.5 GB
resident with the default wheel, so the server never loads it for a Run: ``run_in_child``
starts one child process (``vaeimb.interfaces.app_child``) that plans the jobs, trains one at a
time itself and hands the others to ``workers - 1`` worker processes, writes the finished
result with ``vaeimb.running.result_files.save_result`` and exits. The caller gets every progress event
live and reads the result back with ``result_files.load_result`` (no torch). Anything raised
from ``progress`` (a closed browser tab, a changed setting) ends the child and its
workers; the entries they finished stay in the cache.

No torch here, nor in what this module imports.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import asdict
from multiprocessing.connection import Connection
from typing import Callable, Iterable

from ..declarations.config import ExperimentConfig
from ..declarations.errors import ConfigError, DataUnavailableError, VaeimbError
from ..declarations.jobs import ProgressCallback, ProgressEvent
from ..declarations.locations import SOURCE_ROOT
from ..running.result_files import load_result
from ..running.results import ExperimentResult

#: Marks the child's command line (to find it, e.g. in a test or a benchmark).
CHILD_MARK = "vaeimb-run"
_ERRORS = {c.__name__: c for c in (VaeimbError, ConfigError, DataUnavailableError)}


def event_message(event: ProgressEvent) -> tuple:
    """A progress event as plain data for the socket (no classes unpickled on our side)."""
    return ("progress", asdict(event))


def _spawn() -> tuple[subprocess.Popen, Connection]:
    ours, theirs = socket.socketpair()
    root = str(SOURCE_ROOT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-c", "from vaeimb.interfaces.app_child import main; main()", CHILD_MARK, str(theirs.fileno())]
    try:
        proc = subprocess.Popen(cmd, pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL, close_fds=True)
    finally:
        theirs.close()
    return proc, Connection(ours.detach())


def _end(proc: subprocess.Popen) -> None:
    """Stop the child (it stops its workers on SIGTERM) and reap it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_in_child(
    config: ExperimentConfig,
    approaches: Iterable[str],
    seeds: Iterable[int],
    out: str | os.PathLike,
    *,
    cache_root: str,
    data_dir: str | None = None,
    workers: int = 1,
    progress: ProgressCallback = None,
    on_plan: Callable[[list[str]], None] | None = None,
) -> ExperimentResult:
    """``run_experiment(config, approaches, seeds)`` in a child process training
    ``workers`` jobs at once (itself and ``workers - 1`` worker processes), the result
    written to the folder ``out`` and read back here. ``on_plan`` gets the names of the
    jobs in run order (generators first, then every approach, twins too) before the first
    progress event. The child's ``VaeimbError``s are raised here with their own class and
    message."""
    request = {"config": config.to_dict(), "approaches": list(approaches), "seeds": [int(s) for s in seeds],
               "out": str(out), "cache_root": str(cache_root), "data_dir": None if data_dir is None else str(data_dir),
               "workers": max(1, int(workers))}
    proc, conn = _spawn()
    try:
        conn.send(request)
        while True:
            if not conn.poll(0.5):
                if proc.poll() is not None and not conn.poll(0):
                    raise VaeimbError(f"the training process exited with code {proc.returncode} before finishing; "
                                      "the entries it finished are cached: press Run again to continue.")
                continue
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                proc.wait()
                raise VaeimbError(f"the training process exited with code {proc.returncode} before finishing; "
                                  "the entries it finished are cached: press Run again to continue.") from None
            if msg[0] == "progress":
                if progress is not None:
                    progress(ProgressEvent(**msg[1]))
            elif msg[0] == "plan":
                if on_plan is not None:
                    on_plan(list(msg[1]))
            elif msg[0] == "done":
                break
            elif msg[0] == "error":
                kind, text = msg[1], msg[2]
                if kind in _ERRORS:
                    raise _ERRORS[kind](text)
                raise RuntimeError(f"the training process failed:\n{text}")
    except BaseException:
        _end(proc)
        raise
    finally:
        conn.close()
    proc.wait()
    return load_result(out)
