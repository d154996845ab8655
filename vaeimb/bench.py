"""Benchmark: timings and peak memory for one seed of the reference setup.

Speed is measured here, never in timed tests. ``python -m vaeimb bench`` writes the table
into BENCHMARKS.md with the date and the machine.
"""

from __future__ import annotations

import datetime
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from .cache import ResultCache
from .config import ExperimentConfig
from .data import _load_cached, load_mnist
from .errors import VaeimbError
from .experiment import load_generator, run_experiment
from .provenance import cpu_name
from .training import pick_device

TARGETS = {
    "oversample + vae (VAE training included)": 25.0,
    "all five approaches, one seed": 60.0,
    "first default app Run: classic approaches, 3 seeds": 60.0,
    "cache hit (all five, one seed)": 1.0,
    "MNIST load (gz files)": 2.0,
    "latent slider redraw (decode + 224 px PNG)": 0.1,
}


def utc_now() -> str:
    """The timestamp every benchmark section is stamped with."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 1024.0 / 1024.0


class Failed(str):
    """A row that could not be measured; the text says why (shown as FAILED in the table)."""


def _one_line(text: str, limit: int = 160) -> str:
    line = " ".join(str(text).split()).replace("|", "/")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def measure(config: ExperimentConfig, data_dir=None) -> dict[str, float | Failed]:
    """Run everything once on an empty temporary cache and return seconds per item.

    An approach (or the VAE) that fails gives a ``Failed`` row instead of a time; the rest
    is still measured.
    """
    out: dict[str, float | Failed] = {}
    _load_cached.cache_clear()
    t = time.perf_counter()
    load_mnist(data_dir)
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

        with tempfile.TemporaryDirectory() as tmp3:  # what the app's first Run trains: 3 seeds, cold cache
            from .recipes import CLASSIC

            t = time.perf_counter()
            run_experiment(config, CLASSIC, seeds=[0, 1, 2], cache=ResultCache(tmp3), data_dir=data_dir)
            out["first default app Run: classic approaches, 3 seeds"] = time.perf_counter() - t

        if art is None:
            out["latent slider redraw (decode + 224 px PNG)"] = Failed("no VAE")
        else:
            from .figures import png_bytes
            from .latent import decode, mean_code

            z = mean_code(art)
            decode(art, z)
            t = time.perf_counter()
            for i in range(50):
                z[0] = i / 10
                png_bytes(decode(art, z), 8)  # what the page sends: 8x upscaled PNG
            out["latent slider redraw (decode + 224 px PNG)"] = (time.perf_counter() - t) / 50
    return out


def format_markdown(config: ExperimentConfig, timings: dict[str, float | Failed], peak_mb: float) -> str:
    now = utc_now()
    threads = torch.get_num_threads()
    lines = [
        "## Core",
        "",
        f"Measured {now} by `python -m vaeimb bench` on {cpu_name()}, {threads} torch threads, "
        f"device `{pick_device()}`, torch {torch.__version__}, Python {platform.python_version()}.",
        f"Config: {config.label()}; classifier {config.steps} steps of {config.batch_size}, "
        f"VAE {config.vae_steps} steps of {config.vae_batch_size}; one seed, empty cache.",
        "",
        "| what | seconds | target | ok |",
        "|---|---:|---:|:---:|",
    ]
    for k, v in timings.items():
        tgt = TARGETS.get(k)
        target = "" if tgt is None else f"< {tgt:g}"
        if isinstance(v, Failed):
            lines.append(f"| {k} | FAILED: {_one_line(v)} | {target} | NO |")
            continue
        ok = "" if tgt is None else ("yes" if v < tgt else "NO")
        lines.append(f"| {k} | {v:.3f} | {target} | {ok} |")
    lines.append(f"| peak RSS of the whole benchmark process (MB) | {peak_mb:.0f} | < 1536 | {'yes' if peak_mb < 1536 else 'NO'} |")
    return "\n".join(lines) + "\n"


def write_section(path: str | os.PathLike, name: str, text: str) -> None:
    """Put ``text`` into the markdown file between ``<!-- begin NAME -->`` and
    ``<!-- end NAME -->``, replacing what was there (or appending the block), so each
    benchmark script refreshes its own section of BENCHMARKS.md and leaves the others."""
    import re

    path = Path(path)
    block = f"<!-- begin {name} -->\n{text.rstrip()}\n<!-- end {name} -->"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"<!-- begin {re.escape(name)} -->.*?<!-- end {re.escape(name)} -->", re.S)
    new = pattern.sub(lambda m: block, old) if pattern.search(old) else old.rstrip() + "\n\n" + block + "\n"
    path.write_text(new if new.endswith("\n") else new + "\n")


def check_writable(output: str | os.PathLike) -> None:
    """Fail before minutes of measuring when the table could not be written afterwards."""
    path = Path(output)
    existed = path.exists()
    try:
        with open(path, "a"):  # appending changes nothing in an existing file
            pass
    except OSError as err:
        raise VaeimbError(
            f"Cannot write the benchmark table to {output} ({err.strerror or err}); "
            "pass --output a writable file, or '-' to print it only."
        ) from None
    if not existed:
        path.unlink()


def run_benchmark(config: ExperimentConfig, data_dir=None, output: str | os.PathLike | None = "BENCHMARKS.md") -> int:
    """Measure, print the markdown table and write it to ``output`` (None or '-': print only).

    Returns 0, or 1 when a row FAILED (the table is written all the same).
    """
    write = output is not None and str(output) != "-"
    if write:
        check_writable(output)
    timings = measure(config, data_dir)
    text = format_markdown(config, timings, _peak_rss_mb())
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
