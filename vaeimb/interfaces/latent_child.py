"""The Latent space page's torch work, in a child process: one request in, files out.

The app's server never loads torch (about 0.5 GB resident with the default wheel). What
the Latent page needs of a fitted generator is exported once as files
(``vaeimb.presentation.latent_view``) by ``call``, which starts one child process
(``python -c ... vaeimb-latent FD``, like ``vaeimb.interfaces.app_runs``), sends it one
request over a socket, gets its progress events live and its answer, and returns the
answer. Requests (``handle`` does each; ``call(..., in_process=True)`` runs it here, for
a server that trains in-process anyway, ``VAEIMB_APP_WORKERS=0``):

- ``{"kind": "view", config, name, seed, out, cache_root, data_dir, train, shipped}``: the
  fitted generator (from the cache; trained first when ``train``; ``shipped``: from the
  shipped first-view state) exported to the folder ``out``; ``{"status": "absent"}`` when
  it is not cached and ``train`` is false;
- ``{"kind": "tsne", folder, stem, label, out}``: the t-SNE map of a view's codes, stored
  as ``out``;
- ``{"kind": "quality", config, name, seed, out, cache_root, data_dir}``: the generator's
  quality figures (``studies.quality.generator_quality_of``) as the JSON file ``out``;
- ``{"kind": "measure", result, out, cache_root, data_dir}``: the quality of every
  generator of the exported result in the folder ``result`` (``measure_quality``), with
  ``report.quality_points`` and ``report.class_gains`` of it, as the JSON file ``out``.

The child's ``VaeimbError``s are raised by ``call`` with their message. This module
imports no torch; the child imports it inside ``handle``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path

from ..declarations.config import ExperimentConfig
from ..declarations.errors import ConfigError, DataUnavailableError, VaeimbError
from ..declarations.jobs import ProgressCallback, ProgressEvent
from ..parts.data import load_images, make_experiment_data
from ..presentation.latent import project
from ..presentation.latent_view import (
    LatentViewError,
    load_view,
    write_projection,
    write_view,
)
from ..presentation.report import class_gains, quality_points
from ..running import result_files
from ..running.cache import ResultCache
from ..running.resources import fix_mmap_threshold
from .children import end_child, export_folder, spawn_child

#: Marks the child's command line (to find it, e.g. in a test or a benchmark).
CHILD_MARK = "vaeimb-latent"
KINDS = ("view", "tsne", "quality", "measure")
#: A running progress event is sent at most this often (seconds).
PROGRESS_EVERY_S = 0.25
_ERRORS = {c.__name__: c for c in (VaeimbError, ConfigError, DataUnavailableError, LatentViewError)}


# --------------------------------------------------------------------------------------
# The work (in the child, or here for a server that trains in-process)
# --------------------------------------------------------------------------------------
def _write_json(doc, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, out)


def _view(req: dict, progress: ProgressCallback) -> dict:
    from ..studies.experiment import (  # torch: the child's own work
        generator_is_cached,
        load_generator,
    )

    config = ExperimentConfig.from_dict(req["config"]).validate()
    name, seed, out = req["name"], int(req["seed"]), Path(req["out"])
    cache = ResultCache(req["cache_root"])
    if req.get("shipped"):
        gen = result_files.load_generator(result_files.DEFAULT_DIR, name, seed)
        provenance = result_files.load_provenance(result_files.DEFAULT_DIR)
    else:
        if not req.get("train") and not generator_is_cached(config, name, seed, cache):
            return {"status": "absent"}
        gen = load_generator(config, name, seed, cache=cache, data_dir=req.get("data_dir"), progress=progress)
        provenance = result_files.made_here("the app's Latent space page")
    if not gen.has_latent:
        raise ConfigError(f"the {name} generator has no latent space to explore.")
    data = make_experiment_data(config, seed, load_images(req.get("data_dir"), dataset=config.dataset))
    majority = data.train_x[data.train_y == 0]
    images = {label: (data.generator_by_class[label], majority) for label in gen.fill}
    export_folder(out, lambda folder: write_view(gen, images, folder, seed=seed, provenance=provenance,
                                                 config=config.to_dict()))
    return {"status": "written", "folder": str(out)}


def _tsne(req: dict) -> dict:
    view = load_view(req["folder"], req.get("stem", "view"))
    label = int(req["label"])
    if label not in view:
        raise LatentViewError(f"the latent view in {req['folder']} has no label {label}.")
    coords, _ = project(view[label].map_codes, "tsne", view[label].seed)
    return {"status": "written", "file": str(write_projection(coords, req["out"]))}


def _quality(req: dict) -> dict:
    from ..studies.quality import generator_quality_of  # torch: the child's own work

    config = ExperimentConfig.from_dict(req["config"]).validate()
    figures = generator_quality_of(config, req["name"], int(req["seed"]), cache=ResultCache(req["cache_root"]),
                                   data_dir=req.get("data_dir"))
    _write_json(figures, Path(req["out"]))
    return {"status": "written", "file": req["out"]}


def _measure(req: dict) -> dict:
    from ..studies.quality import measure_quality  # torch: the child's own work

    result = result_files.load_result(req["result"])
    measure_quality(result, cache=ResultCache(req["cache_root"]), data_dir=req.get("data_dir"))
    doc = {"quality": [{"generator": g, "seed": int(s), "figures": q} for (g, s), q in sorted(result.quality.items())],
           "points": quality_points(result), "gains": class_gains(result)}
    _write_json(doc, Path(req["out"]))
    return {"status": "written", "file": req["out"]}


def handle(req: dict, progress: ProgressCallback = None) -> dict:
    """Do one request (see the module's doc); returns its answer."""
    kind = req.get("kind")
    if kind == "view":
        return _view(req, progress)
    if kind == "tsne":
        return _tsne(req)
    if kind == "quality":
        return _quality(req)
    if kind == "measure":
        return _measure(req)
    raise ConfigError(f"unknown latent request {kind!r}; one of {', '.join(KINDS)}.")


# --------------------------------------------------------------------------------------
# The child process
# --------------------------------------------------------------------------------------
def _terminated(signum, frame):
    raise SystemExit(128 + signum)


def main() -> None:
    """``python -c ... vaeimb-latent FD``: one request in, progress and then "done" (or "error") out."""
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    fix_mmap_threshold()  # it may train: keep its heap from fragmenting (vaeimb.running.resources)
    conn = Connection(int(sys.argv[2]))
    parent = os.getppid()
    req = conn.recv()
    last = [0.0]

    def progress(event: ProgressEvent) -> None:
        if os.getppid() != parent:  # the app server is gone: stop
            raise SystemExit(1)
        now = time.monotonic()
        if event.status == "running" and event.done < event.total and now - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = now
        conn.send(("progress", asdict(event)))

    try:
        conn.send(("done", handle(req, progress)))
    except VaeimbError as err:
        conn.send(("error", type(err).__name__, str(err)))
    except Exception:
        conn.send(("error", "crash", traceback.format_exc()))
    finally:
        conn.close()


# --------------------------------------------------------------------------------------
# The caller's side (no torch)
# --------------------------------------------------------------------------------------
def _gone(proc: subprocess.Popen) -> VaeimbError:
    return VaeimbError(f"the Latent page's process exited with code {proc.returncode} before answering; "
                       "what it finished is cached: try again.")


def call(req: dict, *, progress: ProgressCallback = None, in_process: bool = False) -> dict:
    """Do ``req`` in a child process (or here with ``in_process``) and return its answer;
    ``progress`` gets its progress events live. Anything raised from ``progress`` ends the
    child. A ``VaeimbError`` of the child is raised here with its message; a crash as a
    ``VaeimbError`` holding the end of its traceback."""
    if req.get("kind") not in KINDS:
        raise ConfigError(f"unknown latent request {req.get('kind')!r}; one of {', '.join(KINDS)}.")
    if in_process:
        return handle(req, progress)
    proc, conn = spawn_child("vaeimb.interfaces.latent_child", CHILD_MARK)
    try:
        conn.send(req)
        while True:
            if not conn.poll(0.5):
                if proc.poll() is not None and not conn.poll(0):
                    raise _gone(proc)
                continue
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                proc.wait()
                raise _gone(proc) from None
            if msg[0] == "progress":
                if progress is not None:
                    progress(ProgressEvent(**msg[1]))
            elif msg[0] == "done":
                answer = msg[1]
                break
            elif msg[0] == "error":
                kind, text = msg[1], msg[2]
                if kind == "crash":
                    tail = "\n".join(text.strip().splitlines()[-6:])
                    raise VaeimbError(f"the Latent page's process failed:\n{tail}")
                raise _ERRORS.get(kind, VaeimbError)(text)
    except BaseException:
        end_child(proc)
        raise
    finally:
        conn.close()
    proc.wait()
    return answer
