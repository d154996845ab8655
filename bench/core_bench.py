"""Core benchmark: timings and peak memory for one seed of the reference setup.

Speed is measured here, never in timed tests. ``python bench/core_bench.py`` writes the
table into BENCHMARKS.md's "core" section with the date and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.common import (  # noqa: E402
    Failed,
    check_writable,
    markdown_table,
    one_line,
    peak_rss_mb,
    write_section,
)
from vaeimb.declarations import schema  # noqa: E402
from vaeimb.declarations.config import ExperimentConfig  # noqa: E402
from vaeimb.declarations.errors import VaeimbError  # noqa: E402
from vaeimb.declarations.provenance import cpu_name, utc_now  # noqa: E402
from vaeimb.parts.data import _load_cached, load_images  # noqa: E402
from vaeimb.parts.training import pick_device  # noqa: E402
from vaeimb.presentation.figures import png_bytes  # noqa: E402
from vaeimb.presentation.latent import decode, mean_code  # noqa: E402
from vaeimb.running.cache import ResultCache  # noqa: E402
from vaeimb.running.recipes import CLASSIC  # noqa: E402
from vaeimb.studies.experiment import load_generator, run_experiment  # noqa: E402

PROCESS_HIT = "cache hit as a whole process: python -m vaeimb run (reference setup, 5 approaches, 1 seed)"
TARGETS = {
    "oversample + vae (VAE training included)": 25.0,
    "all five approaches, one seed": 60.0,
    "first default app Run: classic approaches, 3 seeds": 60.0,
    "cache hit (all five, one seed)": 1.0,
    PROCESS_HIT: 1.5,
    "MNIST load (gz files)": 2.0,
    "latent slider redraw (decode + 224 px PNG)": 0.1,
}


def measure(config: ExperimentConfig, data_dir=None) -> dict[str, float | Failed]:
    """Run everything once on an empty temporary cache and return seconds per item.

    An approach (or the VAE) that fails gives a ``Failed`` row instead of a time; the rest
    is still measured.
    """
    out: dict[str, float | Failed] = {}
    _load_cached.cache_clear()
    t = time.perf_counter()
    load_images(data_dir)
    out["MNIST load (gz files)"] = time.perf_counter() - t

    with tempfile.TemporaryDirectory() as tmp:
        cache = ResultCache(tmp)
        t = time.perf_counter()
        res = run_experiment(config, seeds=[0], cache=cache, data_dir=data_dir)
        out["all five approaches, one seed"] = time.perf_counter() - t
        try:
            art = load_generator(config, "vae", 0, cache=cache, data_dir=data_dir)  # cached by the run above
            out["VAE training"] = art.info["seconds"]
        except Exception as err:  # the VAE's failure is a row, like any approach's
            art = None
            out["VAE training"] = Failed(f"{type(err).__name__}: {err}")
        trained_by: dict[str, str] = {}  # a model's training identity -> the approach that trained it
        for name in res.approaches:
            if 0 not in res.runs[name]:
                out[f"{name} classifier"] = Failed(res.failures.get(name, {}).get(0, "no result"))
                continue
            model = repr(res.recipes[name].key(training=True)) if name in res.recipes else name
            owner = trained_by.setdefault(model, name)
            if owner != name:  # differs only in its decision: one model, trained once
                out[f"{name} classifier (reuses {owner}'s model)"] = 0.0
            else:
                out[f"{name} classifier"] = res.run(name, 0).info["seconds"]
        parts = [out.get("oversample classifier"), out.get("vae classifier"), out["VAE training"]]
        complete = all(p is not None and not isinstance(p, Failed) for p in parts)
        out["oversample + vae (VAE training included)"] = sum(parts) if complete else Failed("a part of it failed")

        finished = [name for name in res.approaches if 0 in res.runs[name]]
        if finished:  # a cache hit of what finished (failed ones would be retried, not hit)
            t = time.perf_counter()
            run_experiment(config, finished, seeds=[0], cache=cache, data_dir=data_dir)
            out["cache hit (all five, one seed)"] = time.perf_counter() - t
        else:
            out["cache hit (all five, one seed)"] = Failed("no approach finished")
        out[PROCESS_HIT] = (process_hit(config, finished, cache, data_dir) if finished
                            else Failed("no approach finished"))

        with tempfile.TemporaryDirectory() as tmp3:  # what the app's first Run trains: 3 seeds, cold cache
            t = time.perf_counter()
            run_experiment(config, CLASSIC, seeds=[0, 1, 2], cache=ResultCache(tmp3), data_dir=data_dir)
            out["first default app Run: classic approaches, 3 seeds"] = time.perf_counter() - t

        if art is None:
            out["latent slider redraw (decode + 224 px PNG)"] = Failed("no VAE")
        else:
            z = mean_code(art)
            decode(art, z)
            t = time.perf_counter()
            for i in range(50):
                z[0] = i / 10
                png_bytes(decode(art, z), 8)  # what the page sends: 8x upscaled PNG
            out["latent slider redraw (decode + 224 px PNG)"] = (time.perf_counter() - t) / 50
    return out


def run_command(config: ExperimentConfig, approaches, data_dir=None) -> list[str]:
    """``python -m vaeimb run`` for seed 0 of ``approaches`` with the flags that describe
    ``config`` (every setting of ``vaeimb.declarations.schema`` its task and profile use, and its
    ``--param`` overrides; the CLI refuses a flag the config would not use)."""
    cmd = [sys.executable, "-m", "vaeimb", "run", "--quiet", "--seeds", "0", "--approaches", *approaches]
    values = config.to_dict()
    for s in schema.SETTINGS:
        if schema.applies(s.name, values):
            cmd += [s.cli_flags[0], str(getattr(config, s.name))]
    for name, values in config.approach_params.items():
        cmd += [arg for key, value in values.items() for arg in ("--param", f"{name}.{key}={value}")]
    return cmd + (["--data-dir", str(data_dir)] if data_dir is not None else [])


def process_hit(config: ExperimentConfig, approaches, cache: ResultCache, data_dir=None,
                repeats: int = 3) -> float | Failed:
    """Wall time (median of ``repeats``) of ``run_command`` as a new process on ``cache``
    (VAEIMB_CACHE_DIR), which already holds every entry it reads: start-up, imports, MNIST,
    the cache reads and the printed table. A run that writes an entry was no hit: FAILED."""
    cmd = run_command(config, approaches, data_dir)
    env = {**os.environ, "VAEIMB_CACHE_DIR": str(cache.root)}
    before = len(list(cache.root.glob("*/*.npz")))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if done.returncode != 0:
            return Failed(f"exit {done.returncode}: {(done.stderr.strip().splitlines() or ['no message'])[-1]}")
    trained = len(list(cache.root.glob("*/*.npz"))) - before
    if trained:
        return Failed(f"no cache hit: the command computed {trained} entries the benchmark's run had cached")
    return statistics.median(times)


def format_markdown(config: ExperimentConfig, timings: dict[str, float | Failed], peak_mb: float) -> str:
    now = utc_now()
    threads = torch.get_num_threads()
    lines = [
        "## Core",
        "",
        f"Measured {now} by `python bench/core_bench.py` on {cpu_name()}, {threads} torch threads, "
        f"device `{pick_device()}`, torch {torch.__version__}, Python {platform.python_version()}.",
        f"Config: {config.label()}; classifier {config.steps} steps of {config.batch_size}, "
        f"VAE {config.generator_steps} steps of {config.generator_batch_size}; one seed, empty cache.",
        "",
    ]
    rows = []
    for k, v in timings.items():
        tgt = TARGETS.get(k)
        target = "" if tgt is None else f"< {tgt:g}"
        if isinstance(v, Failed):
            rows.append((k, f"FAILED: {one_line(v)}", target, "NO"))
        else:
            rows.append((k, f"{v:.3f}", target, "" if tgt is None else ("yes" if v < tgt else "NO")))
    rows.append(("peak RSS of the whole benchmark process (MB)", f"{peak_mb:.0f}", "< 1536",
                 "yes" if peak_mb < 1536 else "NO"))
    return "\n".join(lines + markdown_table(["what", "seconds", "target", "ok"], rows, "lrrc")) + "\n"


def run_benchmark(config: ExperimentConfig, data_dir=None, output: str | os.PathLike | None = "BENCHMARKS.md") -> int:
    """Measure, print the markdown table and write it to ``output`` (None or '-': print only).

    Returns 0, or 1 when a row FAILED (the table is written all the same).
    """
    write = output is not None and str(output) != "-"
    if write:
        check_writable(output)
    timings = measure(config, data_dir)
    text = format_markdown(config, timings, peak_rss_mb())
    print(text)
    if write:
        try:
            write_section(output, "core", text)
        except OSError as err:
            raise VaeimbError(f"Cannot write the benchmark table to {output} ({err.strerror or err}).") from None
        print(f"wrote {output}", file=sys.stderr)
    failed = [k for k, v in timings.items() if isinstance(v, Failed)]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", help="folder holding MNIST/raw/*.gz (default: $VAEIMB_DATA_DIR)")
    p.add_argument("--output", default="BENCHMARKS.md", help="markdown file to write (default %(default)s; '-' = stdout only)")
    p.add_argument("--protocol", default="clean", help="protocol to time (default clean)")
    a = p.parse_args(argv)
    try:
        return run_benchmark(ExperimentConfig.for_protocol(a.protocol), data_dir=a.data_dir, output=a.output)
    except VaeimbError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
