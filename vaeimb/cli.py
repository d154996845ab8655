"""Command line: ``python -m vaeimb {reproduce,run,sweep,atlas,bench}``.

Bad input ends with a one-line message and exit code 2, never a traceback; a run in
which any (approach, seed) failed exits 1 with a one-line summary of the failures.
``--help`` and argument errors answer without importing torch.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from .config import CLASSIFIERS, ExperimentConfig, n_minority_from_ratio
from .errors import ConfigError, VaeimbError
from .executor import RAY_ADDRESS_ENV
from .protocols import PROTOCOLS
from .recipes import CLASSIC, PRESETS, RECIPE_KEYS

REFERENCE_SEEDS = (0, 1, 2, 3, 4)
EXIT_FAILED_RUNS = 1
EXIT_BAD_INPUT = 2


class _Progress:
    """tqdm bars, one per running task (config, task, seed), fed by progress events; a line
    when a classifier finishes training (``quiet_done``: only a count of finished tasks)."""

    def __init__(self, enabled: bool, quiet_done: bool = False):
        self.enabled = enabled
        self.quiet_done = quiet_done
        self.bars = {}
        self.total = None

    def __call__(self, event) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        key = (event.where, event.task, event.seed)
        label = f"{event.where + ': ' if event.where else ''}{event.task} seed {event.seed}"
        if event.status == "running":
            bar = self.bars.get(key)
            if bar is None:
                bar = self.bars[key] = tqdm(total=event.total, desc=label, unit="step", leave=False, file=sys.stderr)
            if event.message:
                bar.set_postfix_str(event.message, refresh=False)
            bar.update(event.done - bar.n)
            return
        bar = self.bars.pop(key, None)
        if bar is not None:
            bar.close()
        if event.status == "failed":
            tqdm.write(f"{label}: FAILED ({event.message})", file=sys.stderr)
        elif event.status == "done" and bar is not None:
            if self.quiet_done:
                if self.total is None:
                    self.total = tqdm(desc="tasks finished", unit="task", file=sys.stderr, position=0)
                self.total.update(1)
            elif not event.task.startswith("generator:"):
                tqdm.write(f"{label}: trained", file=sys.stderr)

    def close(self) -> None:
        for bar in [*self.bars.values(), *([self.total] if self.total is not None else [])]:
            bar.close()
        self.bars, self.total = {}, None


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (the usage is one ``--help`` away)."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see '{self.prog} --help')\n")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _ratio(text: str) -> float:
    try:
        v = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a ratio like 0.02 or 2%, got {text!r}") from None
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"a ratio must be in (0, 1], got {text!r}")
    return v


PRESET_HELP = ", ".join(PRESETS)
RECIPE_HELP = (f"a custom recipe, repeatable, e.g. gen=cvae,batches=balanced,aug=affine,loss=la,decision=posthoc "
               f"(keys: {', '.join(RECIPE_KEYS)}; an unknown part is refused with the list of known ones)")


def _io_flags(p: argparse.ArgumentParser, default_seeds) -> None:
    p.add_argument("--seeds", type=_int, nargs="+", default=list(default_seeds),
                   help="random seeds, space-separated; each seed is one training draw shared by every "
                   "approach (paired) (default: %(default)s)")
    p.add_argument("--data-dir", help="folder holding MNIST/raw/*.gz (default: $VAEIMB_DATA_DIR, "
                   "else a download into the user cache); it must exist")
    p.add_argument("--cache-dir", help="result cache folder (default: $VAEIMB_CACHE_DIR, else "
                   "~/.cache/vaeimb/results); it must be writable")
    p.add_argument("--json", metavar="FILE", help="also write every result as JSON")
    p.add_argument("--csv", metavar="FILE", help="also write one row per (approach, seed) as CSV")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _approach_flags(p: argparse.ArgumentParser, default) -> None:
    p.add_argument("--approaches", nargs="+", default=list(default), metavar="NAME",
                   help=f"presets, space-separated, from: {PRESET_HELP}; 'all' = every preset "
                   f"(default: {' '.join(default)})")
    p.add_argument("--recipe", action="append", default=[], metavar="RECIPE", help=RECIPE_HELP)
    p.add_argument("--param", action="append", default=[], metavar="APPROACH.PARAM=VALUE",
                   help="a part's parameter for one approach, repeatable, e.g. threshold.tau=0.5 or "
                   "vae.data.n_generate=1000; enters the cache key and the output")


def _executor_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=_int, metavar="N",
                   help="run tasks in N local worker processes (default: one per core when the machine "
                   "has 2 or more, each with its share of the cores as torch threads)")
    g.add_argument("--ray", metavar="ADDRESS",
                   help="run tasks on the Ray cluster at HOST:PORT, or 'local' to start a Ray instance "
                   f"here (default: ${RAY_ADDRESS_ENV}); needs pip install -r requirements-cluster.txt")
    g.add_argument("--in-process", action="store_true",
                   help="run tasks one after another in this process (the default on one core)")
    p.add_argument("--precision", choices=("fp32", "bf16", "auto"), default="auto",
                   help="training precision: fp32, bf16 autocast, or auto = bf16 only on devices where a "
                   "benchmark showed equal errors and faster steps (so far none: fp32); it enters the "
                   "cache key (default %(default)s)")


def _config_flags(p: argparse.ArgumentParser, *, counts: bool = True, digits: bool = True) -> None:
    """The configuration flags ``run``, ``sweep`` and ``atlas`` share. Unset budget flags
    take the protocol's own budget (``--protocol blog``: the original code's 1000 steps of 128)."""
    p.add_argument("--protocol", choices=list(PROTOCOLS), default="clean",
                   help="; ".join(f"{k}: {v.description}" for k, v in PROTOCOLS.items()))
    if digits:
        p.add_argument("--majority", type=_int, default=0, help="majority digit 0-9 (default %(default)s)")
        p.add_argument("--minority", type=_int, default=6, help="minority digit 0-9 (default %(default)s)")
    p.add_argument("--n-majority", type=_int, default=5000, help="majority training images (default %(default)s)")
    if counts:
        g = p.add_mutually_exclusive_group()
        g.add_argument("--n-minority", type=_int, help="minority training images (default 100)")
        g.add_argument("--ratio", type=_ratio, help="minority ratio n_minority/n_majority, e.g. 0.02 or 2%%")
    p.add_argument("--classifier", choices=CLASSIFIERS, help="mlp or cnn (default: the protocol's, mlp)")
    p.add_argument("--steps", type=_int, help="classifier training steps (default: the protocol's)")
    p.add_argument("--batch-size", type=_int, help="classifier batch size (default: the protocol's)")
    p.add_argument("--lr", type=_float, help="classifier Adam learning rate (default: the protocol's)")
    p.add_argument("--latent-dim", type=_int, help="generators' latent size (default: the protocol's)")
    p.add_argument("--vae-steps", type=_int, help="generators' training steps (default: the protocol's)")
    p.add_argument("--vae-batch-size", type=_int, help="generators' batch size (default: the protocol's)")
    p.add_argument("--checkpoints", type=_int, dest="n_checkpoints",
                   help="test-set evaluations during training, for the learning curve (default: the protocol's, 20)")
    p.add_argument("--validation-fraction", type=_float,
                   help="share of the training draw held out by recipes that tune a value (default 0.2)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m vaeimb",
        description="Imbalanced MNIST: does generating minority images beat oversampling? "
        "Results are cached on disk, so repeating a command is instant.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    rep = sub.add_parser(
        "reproduce", help="the reference setup (0 vs 6, 5000/100), 5 paired seeds, with the verdict",
        description="Run the reference setup (digits 0 vs 6, 5000 zeros and 100 sixes, tested on "
        "all 1938 MNIST test images of 0 and 6) and print the verdict and a table beside the "
        "originally reported numbers (70 oversample, 30 vae).",
    )
    rep.add_argument("--protocol", choices=list(PROTOCOLS), default="clean",
                     help="clean (default): random draws per seed, generators on training images, this "
                     "project's budget; blog: the original code faithfully, INCLUDING ITS LEAK "
                     "(VAE trained on test images) and its 1000-step budget; blog-clean: the "
                     "original code with the leak fixed")
    rep.add_argument("--classifier", choices=CLASSIFIERS, help="mlp or cnn (default: the protocol's, mlp)")
    _approach_flags(rep, CLASSIC)
    _io_flags(rep, REFERENCE_SEEDS)
    _executor_flags(rep)

    run = sub.add_parser("run", help="any configuration from flags",
                         description="Run any configuration. Unset flags keep the reference setup "
                         "and the protocol's budget.")
    _config_flags(run)
    _approach_flags(run, CLASSIC)
    _io_flags(run, (0,))
    _executor_flags(run)

    sw = sub.add_parser("sweep", help="one config at several minority ratios",
                        description="Run a configuration at several minority ratios and print "
                        "misclassified (mean ± sd over seeds) per ratio and approach.")
    sw.add_argument("--ratios", type=_ratio, nargs="+", default=None,
                    help="minority ratios, e.g. 0.5%% 2%% 0.1 (default: 0.5%% 1%% 2%% 5%% 10%% 25%% 50%%)")
    _config_flags(sw, counts=False)
    _approach_flags(sw, ("baseline", "oversample", "vae"))
    _io_flags(sw, (0,))
    _executor_flags(sw)

    at = sub.add_parser("atlas", help="every digit pair (or some) at some ratios: the Atlas page's table",
                        description="Run the experiment for each (majority, minority) pair and ratio as one "
                        "pool of tasks and write DIR/atlas.csv (one row per pair, ratio, approach and seed) "
                        "and DIR/atlas.json (provenance: versions, budget, date, machine, threads). "
                        "Finished tasks are cached: the same command resumes after an interruption.")
    at.add_argument("--pairs", nargs="+", default=["all"], metavar="PAIR",
                    help="'all' (the 90 ordered pairs) or MAJORITY:MINORITY pairs, e.g. 0:6 3:8 (default all)")
    at.add_argument("--ratios", type=_ratio, nargs="+", default=[0.02],
                    help="minority ratios, e.g. 1%% 2%% 5%% (default 2%%)")
    at.add_argument("--out", required=True, metavar="DIR", help="folder to write atlas.csv and atlas.json into")
    _config_flags(at, counts=False, digits=False)
    _approach_flags(at, ("baseline", "oversample", "vae"))
    _io_flags(at, (0, 1, 2))
    _executor_flags(at)

    b = sub.add_parser("bench", help="time training, loading and cache hits; write BENCHMARKS.md",
                       description="Benchmark one seed of the reference setup per approach, MNIST "
                       "loading, a cache hit and a latent-slider redraw, with peak memory.")
    b.add_argument("--data-dir", help="folder holding MNIST/raw/*.gz (default: $VAEIMB_DATA_DIR)")
    b.add_argument("--output", default="BENCHMARKS.md",
                   help="markdown file to write (default %(default)s; '-' = stdout only)")
    b.add_argument("--protocol", choices=list(PROTOCOLS), default="clean", help="protocol to time (default clean)")
    return parser


def _specs(a) -> list[str]:
    """Presets from --approaches ('all' = every preset) and recipes from --recipe (each
    parsed as a recipe, so a preset name or a bare word there is refused)."""
    from .recipes import parse_recipe

    for text in a.recipe:
        if "=" not in text:
            raise ConfigError(f"--recipe {text!r} is not a recipe: write key=value items such as "
                              f"gen=cvae,batches=balanced (keys: {', '.join(RECIPE_KEYS)}).")
        parse_recipe(text)
    names = list(PRESETS) if "all" in a.approaches else list(a.approaches)
    return names + list(a.recipe)


def config_from_args(a, *, reference: bool = False) -> ExperimentConfig:
    """The config a command's flags describe (the protocol's budget for unset flags)."""
    from .recipes import parse_param_overrides

    changes = {}
    if not reference:
        changes.update(n_majority=a.n_majority)
        if hasattr(a, "majority"):
            changes.update(majority=a.majority, minority=a.minority)
        n_min = getattr(a, "n_minority", None)
        ratio = getattr(a, "ratio", None)
        if n_min is not None:
            changes["n_minority"] = n_min
        elif ratio is not None:
            changes["n_minority"] = n_minority_from_ratio(a.n_majority, ratio)
        for flag in ("steps", "batch_size", "lr", "latent_dim", "vae_steps", "vae_batch_size", "n_checkpoints",
                     "validation_fraction"):
            if getattr(a, flag, None) is not None:
                changes[flag] = getattr(a, flag)
    if getattr(a, "classifier", None) is not None:
        changes["classifier"] = a.classifier
    if a.param:
        changes["approach_params"] = parse_param_overrides(a.param, _specs(a), a.protocol)
    return ExperimentConfig.for_protocol(a.protocol, **changes).validate()


def reference_config(protocol: str) -> ExperimentConfig:
    return ExperimentConfig.for_protocol(protocol)


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as err:
        raise VaeimbError(f"cannot write {path}: {err.strerror or err}") from None
    print(f"wrote {path}", file=sys.stderr)


def _check_outputs(*paths) -> None:
    """Refuse an unwritable --json / --csv before anything trains."""
    for path in paths:
        if not path:
            continue
        parent = Path(path).expanduser().resolve().parent
        if not parent.is_dir():
            raise VaeimbError(f"cannot write {path}: folder {parent} does not exist")
        if Path(path).is_dir():
            raise VaeimbError(f"cannot write {path}: it is a folder")


def _failure_summary(failures: list[str]) -> int:
    if not failures:
        return 0
    first = failures[0]
    more = f" (and {len(failures) - 1} more; see the table)" if len(failures) > 1 else ""
    print(f"error: {len(failures)} run(s) failed: {first}{more}", file=sys.stderr)
    return EXIT_FAILED_RUNS


def executor_from_args(a):
    """The backend the flags ask for (checked before anything trains)."""
    from .executor import make_backend
    from .training import set_precision

    set_precision(a.precision)
    return make_backend(a.workers, a.ray, in_process=a.in_process)


def _run_and_report(config: ExperimentConfig, a) -> int:
    from . import report
    from .cache import ResultCache
    from .experiment import run_experiment

    _check_outputs(a.json, a.csv)
    executor = executor_from_args(a)
    if config.leaky:
        print(report.LEAK_WARNING, file=sys.stderr)
    cache = ResultCache(a.cache_dir)
    cache.clean_stale_locks()
    bars = _Progress(not a.quiet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # failures are in the table
        try:
            result = run_experiment(config, _specs(a), a.seeds, cache=cache, data_dir=a.data_dir,
                                    progress=bars, quality=bool(a.json), executor=executor)
        finally:
            bars.close()
    print(report.format_table(result))
    if a.json:
        _write(a.json, report.to_json(result))
    if a.csv:
        _write(a.csv, report.to_csv(result))
    return _failure_summary([f"{n} seed {s}: {m}" for n, d in result.failures.items() for s, m in d.items()])


def _sweep(a) -> int:
    from .cache import ResultCache
    from .sweep import DEFAULT_RATIOS, run_sweep

    _check_outputs(a.json, a.csv)
    cfg = config_from_args(a)
    executor = executor_from_args(a)
    bars = _Progress(not a.quiet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            res = run_sweep(cfg, a.ratios or DEFAULT_RATIOS, _specs(a), a.seeds, cache=ResultCache(a.cache_dir),
                            data_dir=a.data_dir, progress=lambda i, n, r, e: bars(e), executor=executor)
        finally:
            bars.close()
    print(res.format_table())
    if a.json:
        import json

        _write(a.json, json.dumps(res.to_json_dict(), indent=2))
    if a.csv:
        _write(a.csv, res.to_csv())
    return _failure_summary(res.failures())


def _atlas(a, argv) -> int:
    from .atlas import gain_grid, parse_pairs, run_atlas
    from .cache import ResultCache
    from .experiment import plan

    pairs = parse_pairs(a.pairs)
    cfg = config_from_args(a)
    specs = _specs(a)
    plan(cfg, specs, twins=False)
    out = Path(a.out).expanduser()
    if out.exists() and not out.is_dir():
        raise VaeimbError(f"--out {a.out} is a file; give a folder")
    executor = executor_from_args(a)
    bars = _Progress(not a.quiet, quiet_done=True)
    command = "python -m vaeimb " + " ".join(argv if argv is not None else sys.argv[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            atlas, failures = run_atlas(cfg, pairs, a.ratios, specs, a.seeds, cache=ResultCache(a.cache_dir),
                                        data_dir=a.data_dir, executor=executor, progress=bars, command=command)
        finally:
            bars.close()
    atlas.write(out)
    m = atlas.meta
    print(f"Atlas: {len(atlas.pairs)} pair(s) x {len(atlas.ratios)} ratio(s) x {len(atlas.approaches)} approach(es) "
          f"x {len(atlas.seeds)} seed(s) = {len(atlas.rows)} rows; {m['trained']} trained, the rest from the cache; "
          f"{m['seconds']:.0f} s on {m['executor']}.")
    names = atlas.approaches
    for ratio in atlas.ratios:
        for other in names[1:]:
            c = gain_grid(atlas, other, names[0], ratio).counts()
            print(f"  ratio {ratio:g}: {other} vs {names[0]} (paired 95% interval): better on {c['a_better']}, "
                  f"worse on {c['b_better']}, undecided on {c['undecided']} of {c['cells']} pairs")
    print(f"wrote {out / 'atlas.csv'} and {out / 'atlas.json'}", file=sys.stderr)
    return _failure_summary(failures)


def _stop_on_sigterm() -> None:
    """SIGTERM (a cluster scheduler, ``kill``) stops like Ctrl-C: workers stopped, finished
    results kept."""
    import signal
    import threading

    def stop(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


def main(argv=None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    _stop_on_sigterm()
    try:
        if a.command == "reproduce":
            return _run_and_report(config_from_args(a, reference=True), a)
        if a.command == "run":
            return _run_and_report(config_from_args(a), a)
        if a.command == "sweep":
            return _sweep(a)
        if a.command == "atlas":
            return _atlas(a, argv)
        if a.command == "bench":
            from .bench import run_benchmark

            return run_benchmark(reference_config(a.protocol), data_dir=a.data_dir, output=a.output)
    except (VaeimbError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: finished (approach, seed) results are kept in the cache", file=sys.stderr)
        return 130
    return 0
