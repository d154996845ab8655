"""Results that ship with the app: a finished experiment (and a fitted generator) as files.

The app's first page should answer at once on a fresh install, where nothing is cached and
nobody has trained anything (Streamlit Community Cloud). Cache entries would not do: their
keys hold the code fingerprint, so any code change would hide them. This module writes the
finished ``ExperimentResult`` itself instead — one JSON (config, approaches, seeds, recipes,
twins, every run's metrics, threshold and info, generator quality, provenance) and one
compressed ``.npz`` (checkpoint steps and test logits, test labels and positions, validation
curves) — and reads it back without torch, whichever code is running.
``bench/ship_default.py`` makes ``vaeimb/shipped/default/`` from the app's default settings.

A fitted generator (the Latent space page's reference VAE) ships as ``Generator.state()``:
its meta as JSON and its arrays (weights, latent means) as ``.npz``.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np

from ..declarations.config import ExperimentConfig
from ..declarations.errors import VaeimbError
from ..declarations.locations import FIRST_VIEW_DIR
from ..declarations.provenance import code_fingerprint, cpu_name, utc_now
from ..declarations.version import __version__
from .recipes import Approach, parse_recipe, part_class
from .results import ExperimentResult, RunResult

#: Where the shipped results live (one folder per setup; ``default``: the app's defaults).
DEFAULT_DIR = FIRST_VIEW_DIR
RESULT_JSON = "result.json"
RESULT_ARRAYS = "result.npz"
FORMAT = 1


def json_default(o):
    """numpy scalars and arrays as JSON (``json.dumps(..., default=json_default)``)."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def made_here(command: str) -> dict:
    """The provenance of results made now by ``command`` on this machine."""
    return {"made": utc_now(), "cpu": cpu_name(), "machine": platform.machine(), "command": command,
            "code": code_fingerprint(), "vaeimb": __version__}


def save_result(result: ExperimentResult, folder: str | os.PathLike, provenance: dict) -> list[Path]:
    """Write ``result`` to ``folder`` (``result.json`` + ``result.npz``); returns the paths.

    An array several runs share (the test labels and positions; the logits of approaches
    that share one trained model) is stored once. A pair's log-odds stay float32, so every
    count the pages show is the one computed (float16 moved one learning-curve count); a
    K-class run's logits are float16 in the result cache already (``runner``), so they are
    written as float16, exactly, at half the size. A K-class run's decision offsets and its
    other test sets travel with it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    shared: dict[bytes, str] = {}

    def put(name: str, value: np.ndarray) -> str:
        value = np.ascontiguousarray(value)
        tag = value.dtype.str.encode() + str(value.shape).encode() + value.tobytes()
        if tag not in shared:
            shared[tag] = f"{name}_{len(shared)}"
            arrays[shared[tag]] = value
        return shared[tag]

    runs = []
    for name, by_seed in result.runs.items():
        for seed, r in sorted(by_seed.items()):
            runs.append({
                "approach": name, "seed": int(seed), "threshold": float(r.threshold),
                "metrics": {k: float(v) for k, v in r.metrics.items()}, "info": r.info,
                "steps": put("steps", np.asarray(r.checkpoint_steps, np.int64)),
                "logits": put("logits", np.asarray(r.checkpoint_logits,  # a shared model's once
                                                   np.float32 if r.offsets is None else np.float16)),
                "test_y": put("test_y", np.asarray(r.test_y, np.int64)),
                "test_index": put("test_index", np.asarray(r.test_index, np.int64)),
                "val_curve": None if r.val_curve is None else put("val_curve", np.asarray(r.val_curve)),
                "offsets": None if r.offsets is None else [float(o) for o in r.offsets],
                "test_subsets": {k: put(f"subset_{k}", np.asarray(v, np.int64)) for k, v in r.test_subsets.items()},
            })
    doc = {
        "format": FORMAT,
        "provenance": provenance,
        "config": result.config.to_dict(),
        "approaches": list(result.approaches),
        "seeds": [int(s) for s in result.seeds],
        "recipes": {n: {"recipe": a.recipe.text(), "values": {k: dict(v) for k, v in a.values.items()},
                        "blurb": a.blurb} for n, a in result.recipes.items()},
        "twins": dict(result.twins),
        "failures": [{"approach": a, "seed": int(s), "error": m} for a, d in result.failures.items() for s, m in d.items()],
        "quality": [{"generator": g, "seed": int(s), "figures": q} for (g, s), q in sorted(result.quality.items())],
        "cached": int(result.cached),
        "runs": runs,
    }
    json_path, npz_path = folder / RESULT_JSON, folder / RESULT_ARRAYS
    json_path.write_text(json.dumps(doc, indent=1, default=json_default) + "\n")
    np.savez_compressed(npz_path, **arrays)
    return [json_path, npz_path]


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise VaeimbError(f"shipped results {path} are missing or unreadable ({err}); "
                          "remake them with python bench/ship_default.py.") from None
    if doc.get("format") != FORMAT:
        raise VaeimbError(f"shipped results {path} have format {doc.get('format')!r}, not {FORMAT}; "
                          "remake them with python bench/ship_default.py.")
    return doc


def exists(folder: str | os.PathLike = DEFAULT_DIR) -> bool:
    folder = Path(folder)
    return (folder / RESULT_JSON).is_file() and (folder / RESULT_ARRAYS).is_file()


def load_provenance(folder: str | os.PathLike = DEFAULT_DIR) -> dict:
    """Where, when, by what command and by which code id the shipped result was made."""
    return _read_json(Path(folder) / RESULT_JSON)["provenance"]


def load_result(folder: str | os.PathLike = DEFAULT_DIR) -> ExperimentResult:
    """The ``ExperimentResult`` written by ``save_result`` (no torch needed: recipes come
    back from their text and values, not from the part registries)."""
    folder = Path(folder)
    doc = _read_json(folder / RESULT_JSON)
    try:
        with np.load(folder / RESULT_ARRAYS, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as err:
        raise VaeimbError(f"shipped arrays {folder / RESULT_ARRAYS} are missing or unreadable ({err}).") from None
    recipes = {n: Approach(n, parse_recipe(r["recipe"]), r["values"], r.get("blurb", ""))
               for n, r in doc["recipes"].items()}
    runs: dict[str, dict[int, RunResult]] = {n: {} for n in doc["approaches"]}
    for r in doc["runs"]:
        runs.setdefault(r["approach"], {})[int(r["seed"])] = RunResult(
            approach=r["approach"], seed=int(r["seed"]), threshold=float(r["threshold"]),
            checkpoint_steps=arrays[r["steps"]], checkpoint_logits=arrays[r["logits"]],
            test_y=arrays[r["test_y"]], test_index=arrays[r["test_index"]],
            metrics=dict(r["metrics"]), info=r["info"],
            val_curve=None if r["val_curve"] is None else arrays[r["val_curve"]],
            offsets=None if r.get("offsets") is None else np.asarray(r["offsets"], np.float64),
            test_subsets={k: arrays[v] for k, v in r.get("test_subsets", {}).items()},
        )
    failures: dict[str, dict[int, str]] = {}
    for f in doc["failures"]:
        failures.setdefault(f["approach"], {})[int(f["seed"])] = f["error"]
    return ExperimentResult(
        config=ExperimentConfig.from_dict(doc["config"]), approaches=tuple(doc["approaches"]),
        seeds=tuple(int(s) for s in doc["seeds"]), runs=runs, failures=failures, cached=int(doc.get("cached", 0)),
        recipes=recipes, twins=dict(doc["twins"]),
        quality={(q["generator"], int(q["seed"])): q["figures"] for q in doc["quality"]},
    )


def made_by(provenance: dict) -> str:
    """"made <date> on <cpu> by `<command>`, code <id>": where shipped files come from."""
    return (f"made {provenance.get('made', 'at an unknown date')} on {provenance.get('cpu', 'an unknown machine')} "
            f"by `{provenance.get('command', 'an unknown command')}`, code {provenance.get('code', 'unknown')}")


def label(provenance: dict) -> str:
    """The sentence the Experiment page shows above shipped results."""
    return f"Shipped results: {made_by(provenance)}."


# --------------------------------------------------------------------------------------
# A fitted generator
# --------------------------------------------------------------------------------------
def generator_stem(name: str, seed: int) -> str:
    return f"generator-{name}-seed{int(seed)}"


def save_generator_state(meta: dict, arrays: dict[str, np.ndarray], folder: str | os.PathLike, name: str,
                         seed: int) -> list[Path]:
    """Write one fitted generator's ``Generator.state()`` beside a shipped result."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = generator_stem(name, seed)
    paths = [folder / f"{stem}.json", folder / f"{stem}.npz"]
    paths[0].write_text(json.dumps(meta, indent=1, default=json_default) + "\n")
    np.savez_compressed(paths[1], **arrays)
    return paths


def has_generator(folder: str | os.PathLike, name: str, seed: int) -> bool:
    stem = generator_stem(name, seed)
    return (Path(folder) / f"{stem}.json").is_file() and (Path(folder) / f"{stem}.npz").is_file()


def load_generator_state(folder: str | os.PathLike, name: str, seed: int) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, arrays) as ``Generator.load_state`` takes them."""
    stem = generator_stem(name, seed)
    folder = Path(folder)
    try:
        meta = json.loads((folder / f"{stem}.json").read_text())
        with np.load(folder / f"{stem}.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as err:
        raise VaeimbError(f"shipped generator {folder / stem} is missing or unreadable ({err}).") from None
    return meta, arrays


def load_generator(folder: str | os.PathLike, name: str, seed: int):
    """The shipped fitted generator ``name`` of ``seed``, ready to sample and decode (its
    part class, and so torch, is loaded here)."""
    meta, arrays = load_generator_state(folder, name, seed)
    return part_class("gen", name)(**meta.get("values", {})).load_state(meta, arrays)
