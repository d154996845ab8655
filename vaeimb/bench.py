"""Benchmark: timings and peak memory for one seed of the reference setup.

Speed is measured here, never in timed tests. ``python -m vaeimb bench`` writes the table
into BENCHMARKS.md with the date and the machine.
"""

from __future__ import annotations

import datetime
import platform
import resource
import sys
import tempfile
import time

import torch

from .cache import ResultCache
from .config import ExperimentConfig
from .data import _load_cached, load_mnist
from .experiment import load_vae, run_experiment
from .training import pick_device

TARGETS = {
    "oversample + vae (VAE training included)": 25.0,
    "all five approaches, one seed": 60.0,
    "cache hit (all five, one seed)": 1.0,
    "MNIST load (gz files)": 2.0,
    "latent slider redraw (decode + 224 px PNG)": 0.1,
}


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 1024.0 / 1024.0


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure(config: ExperimentConfig, data_dir=None) -> dict[str, float]:
    """Run everything once on an empty temporary cache and return seconds per item."""
    out: dict[str, float] = {}
    _load_cached.cache_clear()
    t = time.perf_counter()
    load_mnist(data_dir)
    out["MNIST load (gz files)"] = time.perf_counter() - t

    with tempfile.TemporaryDirectory() as tmp:
        cache = ResultCache(tmp)
        t = time.perf_counter()
        res = run_experiment(config, seeds=[0], cache=cache, data_dir=data_dir)
        out["all five approaches, one seed"] = time.perf_counter() - t
        vae_s = load_vae(config, 0, cache=cache, data_dir=data_dir).info["seconds"]
        out["VAE training"] = vae_s
        for name, by_seed in res.runs.items():
            r = by_seed[0]
            out[f"{name} classifier" + (" (reuses baseline's model)" if "reused_model_of" in r.info else "")] = (
                0.0 if "reused_model_of" in r.info else r.info["seconds"])
        out["oversample + vae (VAE training included)"] = (
            res.run("oversample", 0).info["seconds"] + res.run("vae", 0).info["seconds"] + vae_s)
        t = time.perf_counter()
        run_experiment(config, seeds=[0], cache=cache, data_dir=data_dir)
        out["cache hit (all five, one seed)"] = time.perf_counter() - t

        from .figures import png_bytes
        from .latent import decode, mean_code

        art = load_vae(config, 0, cache=cache, data_dir=data_dir)
        model = art.model()
        z = mean_code(art)
        decode(model, z)
        t = time.perf_counter()
        for i in range(50):
            z[0] = i / 10
            png_bytes(decode(model, z), 8)  # what the page sends: 8x upscaled PNG
        out["latent slider redraw (decode + 224 px PNG)"] = (time.perf_counter() - t) / 50
    return out


def format_markdown(config: ExperimentConfig, timings: dict[str, float], peak_mb: float) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    threads = torch.get_num_threads()
    lines = [
        "# Benchmarks",
        "",
        f"Measured {now} by `python -m vaeimb bench` on {_cpu_name()}, {threads} torch threads, "
        f"device `{pick_device()}`, torch {torch.__version__}, Python {platform.python_version()}.",
        f"Config: {config.label()}; classifier {config.steps} steps of {config.batch_size}, "
        f"VAE {config.vae_steps} steps of {config.vae_batch_size}; one seed, empty cache.",
        "",
        "| what | seconds | target | ok |",
        "|---|---:|---:|:---:|",
    ]
    for k, v in timings.items():
        tgt = TARGETS.get(k)
        ok = "" if tgt is None else ("yes" if v < tgt else "NO")
        lines.append(f"| {k} | {v:.3f} | {'' if tgt is None else f'< {tgt:g}'} | {ok} |")
    lines.append(f"| peak RSS of the whole benchmark process (MB) | {peak_mb:.0f} | < 1536 | {'yes' if peak_mb < 1536 else 'NO'} |")
    return "\n".join(lines) + "\n"


def run_benchmark(config: ExperimentConfig, data_dir=None, output: str = "BENCHMARKS.md") -> int:
    timings = measure(config, data_dir)
    text = format_markdown(config, timings, _peak_rss_mb())
    print(text)
    if output and output != "-":
        with open(output, "w") as f:
            f.write(text)
        print(f"wrote {output}", file=sys.stderr)
    return 0
