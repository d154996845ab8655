"""Train in a child process, for a caller that must stay small: an experiment, a sweep or
an atlas extension.

The app's server draws results with numpy and plotly; torch alone holds about 0.5 GB
resident with the default wheel, so the server never loads it to train: a request
(``experiment_request``, ``sweep_request``, ``atlas_request``) goes to one child process
(``vaeimb.interfaces.app_child``) that plans the jobs, trains one at a time itself and hands
the others to ``workers - 1`` worker processes, exports what it finished into the
request's ``out`` folder and exits. The caller gets every progress event live and reads the
export back without torch (``run_in_child``, ``sweep_in_child``, ``atlas_in_child``).

One child per request at a time in this process: a second caller asking for the same
request while it runs (a second browser tab pressing Run on the same settings) follows the
first one's child, its progress from the start and its result, instead of starting another
(``running_requests``). Anything raised from ``progress`` (a closed browser tab, a changed
setting) stops following; when the last follower is gone the child and its workers end; the
entries they finished stay in the cache. Across processes (two servers, a CLI run on the
same cache) the executor's per-job claims keep each job trained once
(``vaeimb.running.executor.execute``).

No torch here, nor in what this module imports.
"""

from __future__ import annotations

import bisect
import json
import os
import subprocess
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable

from ..declarations.config import ExperimentConfig
from ..declarations.errors import ConfigError, DataUnavailableError, VaeimbError
from ..declarations.jobs import ProgressCallback, ProgressEvent
from ..running.result_files import load_result
from ..running.results import ExperimentResult
from ..studies.atlas import Atlas, load_atlas
from .children import end_child, spawn_child

#: Marks the child's command line (to find it, e.g. in a test or a benchmark).
CHILD_MARK = "vaeimb-run"
#: The file a sweep's export lists its points in (one result folder per ratio beside it).
SWEEP_JSON = "sweep.json"
_ERRORS = {c.__name__: c for c in (VaeimbError, ConfigError, DataUnavailableError)}
#: A shared run keeps every message for the followers that join late; past this many it
#: drops the progress events a later one of the same bar superseded.
_COMPACT_AT = 4000
_EXITED = ("the training process exited with code {} before finishing; the entries it finished are cached: "
           "press Run again to continue.")


def event_message(event: ProgressEvent) -> tuple:
    """A progress event as plain data for the socket (no classes unpickled on our side)."""
    return ("progress", asdict(event))


# --------------------------------------------------------------------------------------
# Requests: what the child runs (plain JSON-able data)
# --------------------------------------------------------------------------------------
def _common(out, cache_root, data_dir, workers) -> dict:
    return {"out": str(out), "cache_root": str(cache_root), "data_dir": None if data_dir is None else str(data_dir),
            "workers": max(1, int(workers))}


def experiment_request(config: ExperimentConfig, approaches: Iterable[str], seeds: Iterable[int], out, *,
                       cache_root, data_dir=None, workers: int = 1) -> dict:
    """``run_experiment(config, approaches, seeds)``, its result exported to ``out``."""
    return {"kind": "experiment", "config": config.to_dict(), "approaches": list(approaches),
            "seeds": [int(s) for s in seeds], **_common(out, cache_root, data_dir, workers)}


def sweep_request(config: ExperimentConfig, ratios: Iterable[float], approaches: Iterable[str], seeds: Iterable[int],
                  out, *, cache_root, data_dir=None, workers: int = 1) -> dict:
    """``run_sweep(config, ratios, approaches, seeds)``, each point's result exported to a
    folder of ``out`` (listed in ``SWEEP_JSON``)."""
    return {"kind": "sweep", "config": config.to_dict(), "ratios": sorted({float(r) for r in ratios}),
            "approaches": list(approaches), "seeds": [int(s) for s in seeds],
            **_common(out, cache_root, data_dir, workers)}


def atlas_request(base: ExperimentConfig, pairs, ratios: Iterable[float], approaches: Iterable[str],
                  seeds: Iterable[int], out, *, cache_root, data_dir=None, workers: int = 1, command: str = "") -> dict:
    """``run_atlas(base, pairs, ratios, approaches, seeds)``, the new cells written to
    ``out`` as an atlas (``Atlas.write``; its failures in its meta)."""
    return {"kind": "atlas", "config": base.to_dict(), "pairs": [[int(a), int(b)] for a, b in pairs],
            "ratios": sorted({float(r) for r in ratios}), "approaches": list(approaches),
            "seeds": [int(s) for s in seeds], "command": str(command), **_common(out, cache_root, data_dir, workers)}


def _same_request(request: dict) -> str:
    """What makes two requests one run: everything but how many processes it trains in."""
    return json.dumps({k: v for k, v in request.items() if k != "workers"}, sort_keys=True)


# --------------------------------------------------------------------------------------
# The child process
# --------------------------------------------------------------------------------------
class _SharedRun:
    """One child running one request, and the callers following it. A thread of this
    process reads the child's messages and keeps them (numbered) for every follower."""

    def __init__(self, key: str, request: dict):
        self.key, self.request = key, request
        self.workers = int(request["workers"])
        self.messages: list[tuple[int, tuple]] = []  # (number, message), numbers rising
        self.count = 0
        self.outcome: tuple | None = None  # ("done", out) | ("error", class name, text) | ("exited", code)
        self.followers = 0
        self.cond = threading.Condition()
        self.cancelled = threading.Event()
        self.proc: subprocess.Popen | None = None
        self.thread = threading.Thread(target=self._pump, name=f"vaeimb-run {request['kind']}", daemon=True)

    def _keep(self, msg: tuple) -> None:
        with self.cond:
            self.count += 1
            self.messages.append((self.count, msg))
            if len(self.messages) > _COMPACT_AT:
                self._compact()
            self.cond.notify_all()

    def _compact(self) -> None:
        """Drop each progress event a later event of the same bar superseded (a follower
        that joins late sees where every bar is, not how it got there)."""
        latest: dict = {}
        for n, msg in self.messages:
            if msg[0] == "progress":
                e = msg[1]
                latest[(e["job"], e["seed"], e["where"])] = n
        self.messages = [(n, msg) for n, msg in self.messages
                         if msg[0] != "progress" or msg[1]["status"] != "running"
                         or latest[(msg[1]["job"], msg[1]["seed"], msg[1]["where"])] == n]

    def _pump(self) -> None:
        outcome: tuple = ("exited", None)
        try:
            self.proc, conn = spawn_child("vaeimb.interfaces.app_child", CHILD_MARK)
            try:
                conn.send(self.request)
                while True:
                    if self.cancelled.is_set():
                        outcome = ("cancelled",)
                        break
                    if not conn.poll(0.2):
                        if self.proc.poll() is not None and not conn.poll(0):
                            outcome = ("exited", self.proc.returncode)
                            break
                        continue
                    try:
                        msg = conn.recv()
                    except (EOFError, OSError):
                        self.proc.wait()
                        outcome = ("exited", self.proc.returncode)
                        break
                    if msg[0] in ("progress", "plan"):
                        self._keep(msg)
                    elif msg[0] in ("done", "error"):
                        outcome = tuple(msg)
                        break
            finally:
                conn.close()
                if outcome[0] == "done":
                    self.proc.wait()
                else:
                    end_child(self.proc)
        except BaseException as err:  # could not start the child at all
            outcome = ("error", "crash", f"{type(err).__name__}: {err}")
        finally:
            with _RUNS_LOCK:
                if _RUNS.get(self.key) is self:
                    del _RUNS[self.key]
            with self.cond:
                self.outcome = outcome
                self.cond.notify_all()

    def follow(self, progress: ProgressCallback, on_plan) -> str:
        """Deliver every message to this follower, from the first, until the child ends;
        returns the out folder, or raises the child's error. Whatever ``progress`` or
        ``on_plan`` raise ends this follower (and the child, if it was the last)."""
        last = 0
        try:
            while True:
                with self.cond:
                    while (not self.messages or self.messages[-1][0] <= last) and self.outcome is None:
                        self.cond.wait(0.5)
                    start = bisect.bisect_right(self.messages, last, key=lambda m: m[0])
                    new = self.messages[start:]
                    outcome = self.outcome if not new or new[-1][0] == self.count else None
                for n, msg in new:
                    last = n
                    if msg[0] == "progress":
                        if progress is not None:
                            progress(ProgressEvent(**msg[1]))
                    elif on_plan is not None:
                        on_plan(list(msg[1]))
                if outcome is not None and last == self.count:
                    break
        except BaseException:
            self._leave(stop_if_last=True)
            raise
        self._leave(stop_if_last=False)
        kind = outcome[0]
        if kind == "done":
            return outcome[1]
        if kind == "error":
            if outcome[1] in _ERRORS:
                raise _ERRORS[outcome[1]](outcome[2])
            raise RuntimeError(f"the training process failed:\n{outcome[2]}")
        raise VaeimbError(_EXITED.format(None if kind == "cancelled" else outcome[1]))

    def _leave(self, *, stop_if_last: bool) -> None:
        with _RUNS_LOCK:
            self.followers -= 1
            last = self.followers == 0
            if last and stop_if_last and _RUNS.get(self.key) is self:
                del _RUNS[self.key]  # nobody may join a run that is being stopped
        if last and stop_if_last:
            self.cancelled.set()
            self.thread.join()


_RUNS: dict[str, _SharedRun] = {}
_RUNS_LOCK = threading.Lock()


def running_requests() -> list[dict]:
    """The requests whose child runs now in this process (each with its ``workers``)."""
    with _RUNS_LOCK:
        return [dict(run.request) for run in _RUNS.values()]


def training_processes() -> int:
    """How many processes the children of this process train in now (each child and its
    workers): what a new request shares the machine with."""
    with _RUNS_LOCK:
        return sum(run.workers for run in _RUNS.values())


def run_request(request: dict, *, progress: ProgressCallback = None,
                on_plan: Callable[[list[str]], None] | None = None) -> Path:
    """Run ``request`` in a child process, or follow the child already running the same
    request (``workers`` aside) here; returns its ``out`` folder once it is exported.
    ``on_plan`` gets the names of one experiment's jobs in run order (generators first,
    then every approach) before the first progress event. The child's ``VaeimbError``s
    are raised here with their own class and message."""
    key = _same_request(request)
    with _RUNS_LOCK:
        run = _RUNS.get(key)
        start = run is None
        if start:
            run = _RUNS[key] = _SharedRun(key, request)
        run.followers += 1
    if start:
        run.thread.start()
    return Path(run.follow(progress, on_plan))


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
    written to the folder ``out`` and read back here (``run_request``)."""
    request = experiment_request(config, approaches, seeds, out, cache_root=cache_root, data_dir=data_dir,
                                 workers=workers)
    return load_result(run_request(request, progress=progress, on_plan=on_plan))


def load_sweep(folder: str | os.PathLike) -> list[tuple[float, ExperimentResult]]:
    """A sweep's export: (ratio, its result) per point, in ratio order."""
    folder = Path(folder)
    try:
        points = json.loads((folder / SWEEP_JSON).read_text())["points"]
    except (OSError, ValueError, KeyError) as err:
        raise VaeimbError(f"no sweep export in {folder} ({type(err).__name__}: {err})") from None
    return [(float(p["ratio"]), load_result(folder / p["folder"])) for p in points]


def sweep_in_child(config: ExperimentConfig, ratios, approaches, seeds, out, *, cache_root: str, data_dir=None,
                   workers: int = 1, progress: ProgressCallback = None,
                   on_plan: Callable[[list[str]], None] | None = None) -> list[tuple[float, ExperimentResult]]:
    """``run_sweep`` in a child process (``sweep_request``): every point's (ratio, result).
    Progress events name their point in ``where`` (``"ratio 0.05"``)."""
    request = sweep_request(config, ratios, approaches, seeds, out, cache_root=cache_root, data_dir=data_dir,
                            workers=workers)
    return load_sweep(run_request(request, progress=progress, on_plan=on_plan))


def atlas_in_child(base: ExperimentConfig, pairs, ratios, approaches, seeds, out, *, cache_root: str,
                   data_dir=None, workers: int = 1, command: str = "", progress: ProgressCallback = None,
                   on_plan: Callable[[list[str]], None] | None = None) -> Atlas:
    """``run_atlas`` in a child process (``atlas_request``): the new cells as an atlas
    (their failures in ``meta["failures"]``). Progress events name their cell in ``where``."""
    request = atlas_request(base, pairs, ratios, approaches, seeds, out, cache_root=cache_root, data_dir=data_dir,
                            workers=workers, command=command)
    return load_atlas(run_request(request, progress=progress, on_plan=on_plan))
