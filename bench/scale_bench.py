"""Scale benchmarks of the executor (issue #8's targets), each a whole CLI process on a cold cache:

- ``sweep``: 7 ratios x 3 approaches x 3 seeds, in-process against local worker processes;
- ``blog``: the original protocol's work (oversample + vae, 1000 classifier steps of 128, VAE
  1000 steps of 100, one seed), before this change (``--before COMMIT``, run from a git
  worktree) and now;
- ``ray``: a 200-task atlas slice on a local two-node Ray cluster (``ray start --head`` plus a
  second ``ray start --address``, both started and stopped here) with one Ray worker process
  killed mid-way, checked against the in-process backend's numbers.

- ``precision``: fp32 against bf16 autocast, time and paired errors over three seeds;
- ``reference``: the classic approaches now against the shipped reference results, seed by seed.

Each refreshes its own section of BENCHMARKS.md (``scale-sweep``, ``scale-blog``, ``scale-ray``,
``scale-precision``, ``scale-reference``).

    .venv/bin/python bench/scale_bench.py sweep blog ray precision [--before 4535136] [--output BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import markdown_table, publish  # noqa: E402

SWEEP_BUDGET = ["--steps", "250", "--generator-steps", "200"]


def _header(what: str, how: str = "whole `python -m vaeimb` processes, each on an empty cache.") -> str:
    import torch

    from vaeimb.declarations.provenance import code_fingerprint, cpu_name, utc_now
    from vaeimb.parts.training import usable_cores

    return (f"Measured {utc_now()} by `python bench/scale_bench.py {what}` on {cpu_name()} ({usable_cores()} cores), "
            f"torch {torch.__version__}, vaeimb code {code_fingerprint()}; {how}")


def timed(cmd: list[str], cwd=ROOT, env=None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def bench_sweep(data_dir: str) -> str:
    base = [sys.executable, "-m", "vaeimb", "sweep", "--seeds", "0", "1", "2", "--quiet", "--data-dir", data_dir,
            *SWEEP_BUDGET]
    rows = []
    for label, flags in (("in-process (2 torch threads)", ["--in-process"]),
                         ("local processes (2 workers x 1 thread)", ["--workers", "2"])):
        with tempfile.TemporaryDirectory() as cache:
            rows.append((label, timed([*base, *flags, "--cache-dir", cache])))
    speedup = rows[0][1] / rows[1][1]
    return "\n".join([
        "## Scale: sweep on local processes", "", _header("sweep"),
        f"`python -m vaeimb sweep --seeds 0 1 2 {' '.join(SWEEP_BUDGET)}`: the 7 default ratios x baseline, "
        "oversample, vae x 3 seeds (21 VAE fits + 63 classifiers; the vae recipe's twin is the baseline).", "",
        *markdown_table(["backend", "seconds"], [(label, f"{s:.1f}") for label, s in rows]), "",
        f"Speedup {speedup:.2f}x; target >= 1.8x: {'met' if speedup >= 1.8 else 'MISSED'}.",
    ])


def bench_blog(data_dir: str, before: str | None) -> str:
    args = ["reproduce", "--protocol", "blog", "--approaches", "oversample", "vae", "--seeds", "0", "--quiet",
            "--data-dir", data_dir]
    rows = []
    if before:
        tree = Path(tempfile.mkdtemp(prefix="vaeimb-before-"))
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), before], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            with tempfile.TemporaryDirectory() as cache:
                rows.append((f"before (code at {before}, in-process, 2 threads)",
                             timed([sys.executable, "-m", "vaeimb", *args, "--cache-dir", cache], cwd=tree)))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    for label, flags in (("now, in-process (2 threads)", ["--in-process"]),
                         ("now, default: local processes (2 workers x 1 thread)", [])):
        with tempfile.TemporaryDirectory() as cache:
            rows.append((label, timed([sys.executable, "-m", "vaeimb", *args, *flags, "--cache-dir", cache])))
    lines = ["## Scale: the original protocol's work", "", _header("blog"),
             f"`python -m vaeimb {' '.join(a for a in args if a != data_dir and a != '--data-dir')}`: one VAE fit "
             "(1000 steps of 100) and two classifiers (1000 steps of 128), including Python start-up and imports.", ""]
    ref = rows[0][1] if before else None
    lines += markdown_table(["run", "seconds", "vs before"],
                            [(label, f"{s:.1f}", "" if ref is None else f"{s / ref:.2f}x") for label, s in rows])
    if ref is not None:
        best = min(s for _, s in rows[1:])
        lines += ["", f"Best now / before = {best / ref:.2f}; target <= 0.6: {'met' if best / ref <= 0.6 else 'MISSED'}."]
    return "\n".join(lines)


def bench_precision(data_dir: str) -> str:
    """fp32 against bf16 autocast: wall time and paired errors over the same seeds."""
    import csv
    import io

    from vaeimb.statistics.verdict import paired_difference

    seeds = ["0", "1", "2"]
    per = {}
    rows = []
    for prec in ("fp32", "bf16"):
        with tempfile.TemporaryDirectory() as cache:
            out = Path(cache) / "r.csv"
            s = timed([sys.executable, "-m", "vaeimb", "run", "--approaches", "baseline", "--seeds", *seeds,
                       "--in-process", "--precision", prec, "--quiet", "--data-dir", data_dir, "--cache-dir", cache,
                       "--csv", str(out)], env={"VAEIMB_THREADS": "1"})
            per[prec] = {int(r["seed"]): float(r["misclassified"]) for r in csv.DictReader(io.StringIO(out.read_text()))}
            rows.append((prec, s, sum(per[prec].values()) / len(per[prec])))
    d = paired_difference(per["bf16"], per["fp32"])
    return "\n".join([
        "## Precision: fp32 against bf16 autocast", "", _header("precision"),
        f"`python -m vaeimb run --approaches baseline --seeds {' '.join(seeds)} --in-process --precision P` "
        "(reference setup, MLP, 500 steps of 64, one torch thread).", "",
        *markdown_table(["precision", "seconds (3 trainings + start-up)", "mean misclassified"],
                        [(p, f"{s:.1f}", f"{m:.1f}") for p, s, m in rows]), "",
        f"bf16 − fp32, paired over {d.n_seeds} seeds: {d.mean:+.1f} misclassified (95 % interval "
        f"{d.ci_low:+.1f} to {d.ci_high:+.1f}). `auto` picks bf16 only where it is faster with equal errors: "
        f"{'faster here' if rows[1][1] < rows[0][1] else 'slower here, so auto = fp32'}.",
    ])


def bench_reference_check(data_dir: str) -> str:
    """The classic approaches on the reference setup (5 seeds, one thread per job) against
    the shipped reference results, measured before the fused-Adam and channels-last changes."""
    import csv
    import io
    import json

    from vaeimb.presentation.reference import REFERENCE_FILE
    from vaeimb.statistics.verdict import paired_difference

    shipped = json.loads(Path(REFERENCE_FILE).read_text())["classifiers"]["mlp"]
    with tempfile.TemporaryDirectory() as cache:
        out = Path(cache) / "r.csv"
        s = timed([sys.executable, "-m", "vaeimb", "reproduce", "--seeds", "0", "1", "2", "3", "4", "--workers", "2",
                   "--quiet", "--data-dir", data_dir, "--cache-dir", cache, "--csv", str(out)])
        now: dict = {}
        for r in csv.DictReader(io.StringIO(out.read_text())):
            now.setdefault(r["approach"], {})[int(r["seed"])] = float(r["misclassified"])
    lines = ["## Reference after the speed-ups", "", _header("reference"),
             "`python -m vaeimb reproduce --seeds 0 1 2 3 4 --workers 2` (clean protocol, MLP, one torch thread per "
             f"task, {s:.0f} s) against the shipped reference results (code "
             f"{shipped['environment']['code']}, before fused Adam and channels-last), seed by seed:", ""]
    rows = []
    for name, by_seed in now.items():
        before = {int(k): v for k, v in shipped["per_seed"].get(name, {}).items()}
        if not before:
            continue
        d = paired_difference(by_seed, before)
        fmt = lambda m: " ".join(f"{m[k]:.0f}" for k in sorted(m))  # noqa: E731
        rows.append((name, fmt(before), fmt(by_seed), f"{d.mean:+.1f} ({d.ci_low:+.1f} to {d.ci_high:+.1f})"))
    header = ["approach", "before (per seed)", "now (per seed)", "now − before, paired 95 % interval"]
    return "\n".join(lines + markdown_table(header, rows, "llll"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_ray(data_dir: str) -> str:
    from vaeimb.declarations.config import ExperimentConfig
    from vaeimb.running.cache import ResultCache
    from vaeimb.running.executor import InProcess, RayCluster
    from vaeimb.studies.atlas.runs import run_atlas

    ray = str(Path(sys.executable).parent / "ray") if (Path(sys.executable).parent / "ray").exists() else shutil.which("ray")
    base = ExperimentConfig(n_majority=300, steps=60, batch_size=32, generator_steps=40, generator_batch_size=16, n_checkpoints=2)
    pairs = [(a, b) for a in range(10) for b in range(10) if a != b][:25]
    approaches, seeds = ["baseline", "oversample", "vae"], [0, 1]  # 25 pairs x 2 seeds x (VAE + 3 classifiers) = 200
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    subprocess.run([ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                    "--include-dashboard", "false", *common], check=True, capture_output=True, env=env)
    killed: list[str] = []
    try:
        subprocess.run([ray, "start", "--address", f"127.0.0.1:{port}", *common], check=True, capture_output=True, env=env)
        done = [0]

        def progress(e):
            if e.status == "done" and e.total and e.done == e.total:
                done[0] += 1
                if done[0] == 100 and not killed:
                    out = subprocess.run(["pgrep", "-f", "ray::_ray_job"], capture_output=True, text=True).stdout.split()
                    if out:
                        os.kill(int(out[0]), signal.SIGKILL)
                        killed.append(f"pid {out[0]} after {done[0]} jobs")

        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            atlas_ray, failures = run_atlas(base, pairs, [0.05], approaches, seeds, cache=ResultCache(cache),
                                            data_dir=data_dir, executor=RayCluster(f"127.0.0.1:{port}", threads=1),
                                            progress=progress)
            ray_s = time.perf_counter() - t0
            entries = len(list(Path(cache).glob("*/*.npz")))
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, env=env)
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        atlas_local, _ = run_atlas(base, pairs, [0.05], approaches, seeds, cache=ResultCache(cache), data_dir=data_dir,
                                   executor=InProcess(threads=1))
        local_s = time.perf_counter() - t0
    same = atlas_ray.to_csv() == atlas_local.to_csv()
    return "\n".join([
        "## Scale: Ray, a 200-task atlas slice on a local two-node cluster", "",
        _header("ray", "`vaeimb.studies.atlas.runs.run_atlas` in one driver process, each backend on an empty cache."),
        f"25 ordered pairs x ratio 5% x {', '.join(approaches)} x seeds {seeds} = 50 VAE fits + 150 classifiers "
        f"(tiny budget: {base.n_majority} majority images, {base.steps} classifier steps, {base.generator_steps} VAE steps). "
        "Two Ray nodes with one CPU each (`ray start --head` and `ray start --address`, same machine), one torch "
        "thread per job; one Ray worker process killed with SIGKILL mid-way.", "",
        *markdown_table(["what", "value"], [
            ("killed", killed[0] if killed else "NOTHING (no busy worker found)"),
            ("failures", len(failures)),
            ("cache entries written by the driver", f"{entries} (200 expected)"),
            ("atlas table identical to the in-process backend's", "yes" if same else "NO"),
            ("Ray wall time (s)", f"{ray_s:.1f}"),
            ("in-process wall time, 1 thread (s)", f"{local_s:.1f}"),
        ], "ll"),
    ])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("which", nargs="+", choices=["sweep", "blog", "ray", "precision", "reference"])
    p.add_argument("--before", help="commit to time the original protocol's work on (e.g. 4535136)")
    p.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"), help="markdown file ('-': print only)")
    p.add_argument("--data-dir", default=os.environ.get("VAEIMB_DATA_DIR") or str(ROOT.parent / "shared/data/mnist"))
    a = p.parse_args()
    for which in a.which:
        text = {"sweep": lambda: bench_sweep(a.data_dir), "blog": lambda: bench_blog(a.data_dir, a.before),
                "ray": lambda: bench_ray(a.data_dir), "precision": lambda: bench_precision(a.data_dir),
                "reference": lambda: bench_reference_check(a.data_dir)}[which]()
        publish(a.output, f"scale-{which}", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
