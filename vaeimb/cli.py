"""Command line: ``python -m vaeimb {reproduce,run,sweep,bench}``.

Bad input ends with a one-line message and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from .approaches import APPROACHES
from .config import CLASSIFIERS, PROTOCOLS, ExperimentConfig, n_minority_from_ratio
from .errors import ConfigError, VaeimbError
from .experiment import VAE_TASK

REFERENCE_SEEDS = (0, 1, 2, 3, 4)


class _Progress:
    """tqdm bars, one per (task, seed), fed by the runner's progress events."""

    def __init__(self, enabled: bool, prefix: str = ""):
        self.enabled = enabled
        self.prefix = prefix
        self.bars = {}

    def __call__(self, event) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        key = (event.task, event.seed)
        label = f"{self.prefix}{event.task} seed {event.seed}"
        if event.status == "running":
            bar = self.bars.get(key)
            if bar is None:
                bar = self.bars[key] = tqdm(total=event.total, desc=label, unit="step", leave=False, file=sys.stderr)
            bar.update(event.done - bar.n)
            return
        bar = self.bars.pop(key, None)
        if bar is not None:
            bar.close()
        if event.status == "failed":
            tqdm.write(f"{label}: FAILED ({event.message})", file=sys.stderr)
        elif event.status == "done" and event.task != VAE_TASK:
            tqdm.write(f"{label}: trained", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (the usage is one ``--help`` away)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def _int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    return v


def _ratio(text: str) -> float:
    try:
        v = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a ratio like 0.02 or 2%, got {text!r}") from None
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"a ratio must be in (0, 1], got {text!r}")
    return v


def _common(p: argparse.ArgumentParser, default_seeds) -> None:
    p.add_argument("--seeds", type=_int, nargs="+", default=list(default_seeds),
                   help="random seeds, space-separated (default: %(default)s)")
    p.add_argument("--data-dir", help="folder holding MNIST/raw/*.gz (default: $VAEIMB_DATA_DIR, "
                   "else a download into the user cache)")
    p.add_argument("--cache-dir", help="result cache folder (default: $VAEIMB_CACHE_DIR, else "
                   "~/.cache/vaeimb/results)")
    p.add_argument("--json", metavar="FILE", help="also write every result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m vaeimb",
        description="Imbalanced MNIST: does a VAE's synthetic minority data beat oversampling? "
        "Results are cached on disk, so repeating a command is instant.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    rep = sub.add_parser(
        "reproduce",
        help="the reference setup (0 vs 6, 5000/100), all five approaches, 5 seeds",
        description="Run the reference setup (digits 0 vs 6, 5000 zeros and 100 sixes, tested on "
        "all 1938 MNIST test images of 0 and 6) with all five approaches and print a table beside "
        "the originally reported numbers (70 oversample, 30 vae).",
    )
    rep.add_argument("--protocol", choices=list(PROTOCOLS), default="clean",
                     help="clean (default): random draws per seed, VAE on training images, this "
                     "project's budget; blog: the original code faithfully, INCLUDING ITS LEAK "
                     "(VAE trained on test images) and its 1000-step budget; blog-clean: the "
                     "original code with the leak fixed")
    _common(rep, REFERENCE_SEEDS)
    rep.add_argument("--csv", metavar="FILE", help="also write per-(approach, seed) rows as CSV")

    run = sub.add_parser("run", help="any configuration from flags",
                         description="Run any configuration. Unset flags keep the defaults of the "
                         "reference setup.")
    d = ExperimentConfig()
    run.add_argument("--majority", type=_int, default=d.majority, help="majority digit 0-9 (default %(default)s)")
    run.add_argument("--minority", type=_int, default=d.minority, help="minority digit 0-9 (default %(default)s)")
    run.add_argument("--n-majority", type=_int, default=d.n_majority,
                     help="majority training images (default %(default)s)")
    g = run.add_mutually_exclusive_group()
    g.add_argument("--n-minority", type=_int, help=f"minority training images (default {d.n_minority})")
    g.add_argument("--ratio", type=_ratio, help="minority ratio n_minority/n_majority, e.g. 0.02 or 2%%")
    run.add_argument("--approaches", nargs="+", default=list(APPROACHES), metavar="NAME",
                     help=f"approaches, space-separated, from: {', '.join(APPROACHES)} (default: all)")
    run.add_argument("--classifier", choices=CLASSIFIERS, default=d.classifier, help="default %(default)s")
    run.add_argument("--steps", type=_int, default=d.steps, help="classifier training steps (default %(default)s)")
    run.add_argument("--batch-size", type=_int, default=d.batch_size, help="default %(default)s")
    run.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (default %(default)s)")
    run.add_argument("--latent-dim", type=_int, default=d.latent_dim, help="VAE latent size (default %(default)s)")
    run.add_argument("--vae-steps", type=_int, default=d.vae_steps, help="VAE training steps (default %(default)s)")
    run.add_argument("--protocol", choices=list(PROTOCOLS), default="clean",
                     help="clean (default), blog (the original's LEAKY protocol) or blog-clean")
    _common(run, (0,))
    run.add_argument("--csv", metavar="FILE", help="also write per-(approach, seed) rows as CSV")

    sw = sub.add_parser("sweep", help="one config at several minority ratios",
                        description="Run the reference setup at several minority ratios and print "
                        "misclassified (mean ± sd) per ratio and approach.")
    sw.add_argument("--ratios", type=_ratio, nargs="+", default=None, help="default: 0.005 0.01 0.02 0.05 0.1 0.25 0.5")
    sw.add_argument("--approaches", nargs="+", default=["baseline", "oversample", "vae"], metavar="NAME")
    sw.add_argument("--majority", type=_int, default=d.majority)
    sw.add_argument("--minority", type=_int, default=d.minority)
    sw.add_argument("--n-majority", type=_int, default=d.n_majority)
    sw.add_argument("--steps", type=_int, default=d.steps)
    _common(sw, (0,))

    b = sub.add_parser("bench", help="time training, loading and cache hits; write BENCHMARKS.md",
                       description="Benchmark one seed of the reference setup per approach, MNIST "
                       "loading, a cache hit and a latent-slider redraw, with peak memory.")
    b.add_argument("--data-dir")
    b.add_argument("--output", default="BENCHMARKS.md", help="markdown file to write (default %(default)s; '-' = stdout only)")
    b.add_argument("--protocol", choices=list(PROTOCOLS), default="clean")
    return parser


def _config_from_run_args(a) -> ExperimentConfig:
    n_min = a.n_minority if a.n_minority is not None else (
        n_minority_from_ratio(a.n_majority, a.ratio) if a.ratio is not None else ExperimentConfig().n_minority)
    base = ExperimentConfig.blog(leaky=a.protocol == "blog") if a.protocol != "clean" else ExperimentConfig()
    return base.replace(
        majority=a.majority, minority=a.minority, n_majority=a.n_majority, n_minority=n_min,
        classifier=a.classifier, steps=a.steps, batch_size=a.batch_size, lr=a.lr,
        latent_dim=a.latent_dim, vae_steps=a.vae_steps, protocol=a.protocol,
    ).validate()


def reference_config(protocol: str) -> ExperimentConfig:
    if protocol == "clean":
        return ExperimentConfig()
    return ExperimentConfig.blog(leaky=protocol == "blog")


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as err:
        raise VaeimbError(f"cannot write {path}: {err.strerror or err}") from None
    print(f"wrote {path}", file=sys.stderr)


def _run_and_report(config: ExperimentConfig, approaches, a) -> int:
    from . import report
    from .cache import ResultCache
    from .experiment import run_experiment

    if config.leaky:
        print(report.LEAK_WARNING, file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # failures are in the table
        result = run_experiment(config, approaches, a.seeds, cache=ResultCache(a.cache_dir),
                                data_dir=a.data_dir, progress=_Progress(not a.quiet))
    print(report.format_table(result))
    if a.json:
        _write(a.json, report.to_json(result))
    if getattr(a, "csv", None):
        _write(a.csv, report.to_csv(result))
    return 1 if result.failures and not result.runs else 0


def _sweep(a) -> int:
    from .cache import ResultCache
    from .sweep import DEFAULT_RATIOS, run_sweep

    cfg = ExperimentConfig(majority=a.majority, minority=a.minority, n_majority=a.n_majority, steps=a.steps)
    bars = _Progress(not a.quiet)
    res = run_sweep(cfg, a.ratios or DEFAULT_RATIOS, a.approaches, a.seeds, cache=ResultCache(a.cache_dir),
                    data_dir=a.data_dir, progress=lambda i, n, r, e: bars(e))
    rows = res.rows("misclassified")
    print(f"Sweep: {cfg.majority} vs {cfg.minority}, n_majority {cfg.n_majority}, seeds {a.seeds}")
    print(f"{'ratio':>7}  {'n_min':>5}  {'approach':<11} misclassified")
    for r in rows:
        sd = f" ± {r['std']:.1f}" if r["n_seeds"] > 1 else ""
        print(f"{r['ratio']:>7.3g}  {r['n_minority']:>5}  {r['approach']:<11} {r['mean']:.1f}{sd}")
    for f in res.failures():
        print("FAILED:", f)
    if a.json:
        import json

        _write(a.json, json.dumps(rows, indent=2))
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        if a.command == "reproduce":
            return _run_and_report(reference_config(a.protocol), list(APPROACHES), a)
        if a.command == "run":
            return _run_and_report(_config_from_run_args(a), a.approaches, a)
        if a.command == "sweep":
            return _sweep(a)
        if a.command == "bench":
            from .bench import run_benchmark

            return run_benchmark(reference_config(a.protocol), data_dir=a.data_dir, output=a.output)
    except (VaeimbError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished (approach, seed) results are kept in the cache", file=sys.stderr)
        return 130
    return 0
