"""The child process of ``vaeimb.interfaces.app_runs.run_in_child``: it runs one experiment and exits.

It is the executor's driver *and* one of its trainers (``executor.SelfAndWorkers``): it
trains one job at a time in a thread of this process and hands the others to worker
processes, so a Run with N jobs at once holds N copies of torch, not N + 1 (a driver that
only waited would hold one more, about 0.6 GB resident with the default wheel).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

from ..declarations.config import ExperimentConfig
from ..declarations.errors import VaeimbError
from ..running.cache import ResultCache
from ..running.executor import PROGRESS_EVERY_S, SelfAndWorkers
from ..running.resources import fix_mmap_threshold
from ..running.result_files import made_here, save_result
from ..studies.experiment import job_names, run_experiment
from .app_runs import event_message

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
