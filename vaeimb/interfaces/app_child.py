"""The child process of ``vaeimb.interfaces.app_runs``: it runs one request and exits.

A request is an experiment, a sweep or an atlas extension (``app_runs.experiment_request``,
``sweep_request``, ``atlas_request``). The child is the executor's driver *and* one of its
trainers (``executor.SelfAndWorkers``): it trains one job at a time in a thread of this
process and hands the others to worker processes, so a Run with N jobs at once holds N
copies of torch, not N + 1 (a driver that only waited would hold one more, about 0.6 GB
resident with the default wheel). What it finished is exported into the request's ``out``
folder, whole or not at all, for the server to read without torch.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

from ..declarations.config import ExperimentConfig
from ..declarations.errors import VaeimbError
from ..declarations.jobs import generator_job
from ..running.cache import ResultCache
from ..running.executor import PROGRESS_EVERY_S, SelfAndWorkers
from ..running.resources import fix_mmap_threshold
from ..running.result_files import made_here, save_result
from ..running.runner import plan
from ..studies.atlas.runs import run_atlas
from ..studies.experiment import job_names, run_experiment
from ..studies.sweep import run_sweep
from .app_runs import SWEEP_JSON, event_message
from .children import export_folder


def _terminated(signum, frame):
    raise SystemExit(128 + signum)


def _cell_jobs(config: ExperimentConfig, approaches) -> list[str]:
    """One atlas cell's jobs in run order (an atlas runs no twins)."""
    chosen, _ = plan(config, approaches, twins=False)
    return list(dict.fromkeys(generator_job(a.recipe.gen) for a in chosen if a.recipe.gen)) + [a.name for a in chosen]


def run(req: dict, conn, progress) -> None:
    """Run one request, its plan and progress sent on ``conn``, its export in ``req["out"]``."""
    out = Path(req["out"])
    kind = req.get("kind", "experiment")
    config = ExperimentConfig.from_dict(req["config"])
    common = {"cache": ResultCache(req["cache_root"]), "data_dir": req["data_dir"],
              "executor": SelfAndWorkers(req["workers"])}
    if kind == "experiment":
        conn.send(("plan", job_names(config, req["approaches"])))
        result = run_experiment(config, req["approaches"], req["seeds"], progress=progress, **common)
        export_folder(out, lambda folder: save_result(result, folder, made_here("the app's Run")))
    elif kind == "sweep":
        conn.send(("plan", job_names(config, req["approaches"])))
        sweep = run_sweep(config, req["ratios"], req["approaches"], req["seeds"],
                          progress=lambda i, n, ratio, e: progress(e), **common)

        def write(folder: Path) -> None:
            points = []
            for i, (ratio, result) in enumerate(sweep.points):
                save_result(result, folder / f"point-{i}", made_here("the app's Sweep"))
                points.append({"ratio": ratio, "folder": f"point-{i}"})
            (folder / SWEEP_JSON).write_text(json.dumps({"points": points}, indent=1))

        export_folder(out, write)
    elif kind == "atlas":
        conn.send(("plan", _cell_jobs(config, req["approaches"])))
        atlas, _ = run_atlas(config, [tuple(p) for p in req["pairs"]], req["ratios"], req["approaches"], req["seeds"],
                             progress=progress, command=req.get("command", ""), **common)
        export_folder(out, atlas.write)
    else:
        raise VaeimbError(f"unknown request kind {kind!r}")


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
        run(req, conn, progress)
        conn.send(("done", str(req["out"])))
    except VaeimbError as err:
        conn.send(("error", type(err).__name__, str(err)))
    except Exception:
        conn.send(("error", "crash", traceback.format_exc()))
    finally:
        conn.close()
