"""Command line: ``python -m vaeimb {reproduce,run,sweep,atlas,search}`` (or ``vaeimb ...``, the
console script ``pip install .`` makes).

Bad input ends with a one-line message and exit code 2, never a traceback, and before
anything trains (unwritable outputs included); a run in which any (approach, seed) failed,
or whose results could not be written, exits 1 with one line. The configuration flags are
generated from ``vaeimb.declarations.schema``; a flag the chosen task, profile or protocol would not use
is bad input too (``schema.check_applicable``), and one that implies a choice (``--counts``:
the counts profile) says so on stderr. ``--help`` and argument errors answer without importing
torch.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

from ..declarations import schema
from ..declarations.config import ExperimentConfig, from_settings, n_minority_from_ratio
from ..declarations.datasets import is_dataset_name
from ..declarations.errors import ConfigError, VaeimbError
from ..declarations.jobs import RAY_ADDRESS_ENV
from ..declarations.protocols import PROTOCOLS
from ..declarations.task_kinds import TASK_KINDS
from ..parts.own_images import read_npz, store
from ..running.cache import ResultCache
from ..running.recipes import (
    CLASSIC,
    COMPARISON,
    PRESETS,
    RECIPE_KEYS,
    SEARCHED_DIR,
    parse_param_overrides,
    parse_recipe,
)

REFERENCE_SEEDS = (0, 1, 2, 3, 4)
#: ``sweep`` and ``atlas`` vary the digit pair: the task and the long tail's settings are not theirs.
PAIR_ONLY_HIDDEN = ("task", *TASK_KINDS["longtail"].settings)
EXIT_FAILED_RUNS = 1
EXIT_BAD_INPUT = 2
PROG = "python -m vaeimb"


class AfterTrainingError(VaeimbError):
    """A failure once the runs are done (writing an export): exit 1, since exit 2 means bad input."""


class _Progress:
    """tqdm bars, one per running job (config, job, seed), fed by progress events; a line
    when a classifier finishes training (``quiet_done``: only a count of finished jobs)."""

    def __init__(self, enabled: bool, quiet_done: bool = False):
        self.enabled = enabled
        self.quiet_done = quiet_done
        self.bars = {}
        self.total = None

    def __call__(self, event) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        key = (event.where, event.job, event.seed)
        label = f"{event.where + ': ' if event.where else ''}{event.job} seed {event.seed}"
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
                    self.total = tqdm(desc="jobs finished", unit="job", file=sys.stderr, position=0)
                self.total.update(1)
            elif not event.job.startswith("generator:"):
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


def _approach_flags(p: argparse.ArgumentParser, default, by_task: str | None = None) -> None:
    """``by_task``: "default" or "reference": the task kind's own list when --approaches is not given."""
    if by_task:
        text = "; ".join(f"{k.name}: {' '.join(getattr(k, by_task + '_approaches'))}" for k in TASK_KINDS.values())
    else:
        text = " ".join(default)
    p.add_argument("--approaches", nargs="+", default=None if by_task else list(default), metavar="NAME",
                   help=f"presets, space-separated, from: {PRESET_HELP}; 'all' = every preset made for the task "
                   f"(default: {text})".replace("%", "%%"))
    p.set_defaults(approaches_by_task=by_task)
    p.add_argument("--recipe", action="append", default=[], metavar="RECIPE", help=RECIPE_HELP)
    p.add_argument("--param", action="append", default=[], metavar="APPROACH.PARAM=VALUE",
                   help="a part's parameter for one approach, repeatable, e.g. threshold.tau=0.5 or "
                   "vae.data.n_generate=1000; enters the cache key and the output")


def _executor_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=_int, metavar="N",
                   help="run jobs in N local worker processes (default: one per core when the machine "
                   "has 2 or more, each with its share of the cores as torch threads)")
    g.add_argument("--ray", metavar="ADDRESS",
                   help="run jobs on the Ray cluster at HOST:PORT, or 'local' to start a Ray instance "
                   f"here (default: ${RAY_ADDRESS_ENV}); needs pip install -r requirements-cluster.txt")
    g.add_argument("--in-process", action="store_true",
                   help="run jobs one after another in this process (the default on one core)")
    p.add_argument("--precision", choices=("fp32", "bf16", "auto"), default="auto",
                   help="training precision: fp32, bf16 autocast, or auto = bf16 only on devices where a "
                   "benchmark showed equal errors and faster steps (so far none: fp32); it enters the "
                   "cache key (default %(default)s)")


def _setting_type(s: schema.Setting):
    """argparse ``type`` for an int or float setting, in the schema's words. Its range is the
    config's to check (before anything trains), beside the rules between settings: a count
    out of range is better told what MNIST holds of its digit."""
    number = int if s.kind == "int" else float

    def parse(text: str):
        try:
            return number(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s.name} must be {s.describe()}, got {text!r}") from None

    parse.__name__ = s.kind
    return parse


def _add_setting(p, s: schema.Setting) -> None:
    """One setting's flag (and its old names). Unset flags stay None: the protocol's budget
    or the default fills them in (``config_from_args``), and a flag the user gave can be told
    from one left out (a setting the task, profile or protocol would ignore is refused)."""
    if s.kind == "choice" and s.also is not None:  # the dataset: a name, or the path of your own .npz
        kw = {"metavar": "{" + ",".join(s.choices) + "} or FILE.npz"}
    elif s.kind == "choice":
        kw = {"choices": list(s.choices)}
    elif s.kind == "text":
        kw = {"metavar": "TEXT"}
    else:
        kw = {"type": _setting_type(s), "metavar": s.kind.upper()}
    help = f"{s.help} (default {s.describe_default()})".replace("%", "%%")
    p.add_argument(*s.cli_flags, dest=s.name, default=None, help=help, **kw)


def _config_flags(p: argparse.ArgumentParser, names=None, *, ratio: bool = True) -> None:
    """The flags of the settings ``names`` (None: every one in ``vaeimb.declarations.schema``), which
    ``run``, ``sweep``, ``atlas`` and ``reproduce`` share; ``ratio`` offers --ratio as the
    other way to give ``n_minority``."""
    for s in schema.SETTINGS:
        if names is not None and s.name not in names:
            continue
        if s.name == "n_minority" and ratio:
            g = p.add_mutually_exclusive_group()
            _add_setting(g, s)
            g.add_argument("--ratio", type=_ratio, help="minority ratio n_minority/n_majority, e.g. 0.02 or 2%%")
        else:
            _add_setting(p, s)


def _all_settings_but(*names: str) -> list[str]:
    return [s.name for s in schema.SETTINGS if s.name not in names]


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="Imbalanced MNIST: does generating minority images beat oversampling? "
        "Results are cached on disk, so repeating a command is instant.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    rep = sub.add_parser(
        "reproduce", help="the reference setup (0 vs 6, 5000/100; --protocol deepsmote: the ten-digit long "
        "tail), 5 paired seeds, with the verdict",
        description="Run the reference setup (digits 0 vs 6, 5000 zeros and 100 sixes, tested on "
        "all 1938 MNIST test images of 0 and 6) and print the verdict and a table beside the "
        "originally reported numbers (70 oversample, 30 vae). --protocol deepsmote runs DeepSMOTE's "
        "ten-digit long tail instead (4000 ... 40 training images of digits 0 ... 9, tested on 892 "
        "images of every digit and on an imbalanced subset), with the remedies DeepSMOTE left out.",
    )
    _config_flags(rep, ("task", "profile", "rho", "n_head", "order", "counts", "protocol", "classifier"))
    _approach_flags(rep, CLASSIC, by_task="reference")
    _io_flags(rep, REFERENCE_SEEDS)
    _executor_flags(rep)

    run = sub.add_parser("run", help="any configuration from flags",
                         description="Run any configuration. Unset flags keep the reference setup "
                         "and the protocol's budget.")
    _config_flags(run)
    _approach_flags(run, CLASSIC, by_task="default")
    _io_flags(run, (0,))
    _executor_flags(run)

    sw = sub.add_parser("sweep", help="one config at several minority ratios",
                        description="Run a configuration at several minority ratios and print "
                        "misclassified (mean ± sd over seeds) per ratio and approach.")
    sw.add_argument("--ratios", type=_ratio, nargs="+", default=None,
                    help="minority ratios, e.g. 0.5%% 2%% 0.1 (default: 0.5%% 1%% 2%% 5%% 10%% 25%% 50%%)")
    _config_flags(sw, _all_settings_but("n_minority", *PAIR_ONLY_HIDDEN))
    _approach_flags(sw, COMPARISON)
    _io_flags(sw, (0,))
    _executor_flags(sw)

    at = sub.add_parser("atlas", help="every digit pair (or some) at some ratios: the Atlas page's table",
                        description="Run the experiment for each (majority, minority) pair and ratio as one "
                        "pool of jobs and write DIR/atlas.csv (one row per pair, ratio, approach and seed) "
                        "and DIR/atlas.json (provenance: versions, budget, date, machine, threads). "
                        "Finished jobs are cached: the same command resumes after an interruption.")
    at.add_argument("--pairs", nargs="+", default=["all"], metavar="PAIR",
                    help="'all' (the 90 ordered pairs) or MAJORITY:MINORITY pairs, e.g. 0:6 3:8 (default all)")
    at.add_argument("--ratios", type=_ratio, nargs="+", default=[0.02],
                    help="minority ratios, e.g. 1%% 2%% 5%% (default 2%%)")
    at.add_argument("--out", required=True, metavar="DIR", help="folder to write atlas.csv and atlas.json into")
    _config_flags(at, _all_settings_but("majority", "minority", "n_minority", *PAIR_ONLY_HIDDEN))
    _approach_flags(at, COMPARISON)
    _io_flags(at, (0, 1, 2))
    _executor_flags(at)

    se = sub.add_parser("search", help="search recipe parts and parameters on the validation split; save the "
                        "winner as a named preset",
                        description="Search the generator-free recipe parts (batches, augmentation, mixing, loss, "
                        "decision) and their parameters for one task with Optuna's TPE sampler. Each trial trains "
                        "on the training draw less its validation split and is scored by the validation balanced "
                        "accuracy (ACSA), mean over --seeds; the test set is never read. The first trial is "
                        "--incumbent. The best trial that trains within 1.5x the incumbent's time is saved as "
                        "the preset --name (SAVE_DIR/NAME.json, the search's record beside it); evaluate it "
                        "afterwards with run or reproduce like any preset. Trials are cached: the same command "
                        "resumes.")
    _config_flags(se)
    se.add_argument("--trials", type=_int, default=None, metavar="N",
                    help="trial budget, 1 or more (default 30: about 25 min for the long tail on 2 cores)")
    se.add_argument("--name", default=None, help="the searched preset's name (default searched-TASK-CLASSIFIER, "
                    "e.g. searched-longtail-cnn)")
    se.add_argument("--incumbent", default="augment-posthoc",
                    help="the preset tried first, whose training time bounds the winner's (default %(default)s)")
    se.add_argument("--sampler-seed", type=_int, default=0, help="the TPE sampler's seed (default 0)")
    se.add_argument("--save-dir", default=None, metavar="DIR",
                    help="folder for NAME.json (default: the package's searched/ folder, which the app and CLI "
                    "read; a folder of $VAEIMB_PRESETS_DIR is read too)")
    _io_flags(se, (100, 101))
    _executor_flags(se)

    return parser


def _specs(a, config: ExperimentConfig | None = None) -> list[str]:
    """Presets from --approaches ('all' = every preset; not given: the task's own list) and
    recipes from --recipe (each parsed as a recipe, so a preset name or a bare word there is
    refused)."""
    for text in a.recipe:
        if "=" not in text:
            raise ConfigError(f"--recipe {text!r} is not a recipe: write key=value items such as "
                              f"gen=cvae,batches=balanced (keys: {', '.join(RECIPE_KEYS)}).")
        parse_recipe(text)
    chosen = a.approaches
    if chosen is None:
        kind = TASK_KINDS[config.task if config is not None else _task_of(a)]
        chosen = () if a.recipe else getattr(kind, f"{a.approaches_by_task}_approaches")
    # 'all': every preset made for this task (a preset searched for another task is left out)
    names = [n for n, p in PRESETS.items() if config is None or p.made_for(config)] if "all" in chosen else list(chosen)
    return names + list(a.recipe)


def _task_of(a) -> str:
    """The task the flags name (a protocol implies its own)."""
    if getattr(a, "task", None):
        return a.task
    protocol = getattr(a, "protocol", None)
    return PROTOCOLS[protocol].tasks[0] if protocol in PROTOCOLS else schema.get("task").default


def config_from_args(a) -> ExperimentConfig:
    """The config a command's flags describe: the protocol's budget for unset budget flags
    (``--protocol blog``: the original code's 1000 steps of 128), the defaults for the rest.

    A flag the chosen task, profile or protocol would not use is refused
    (``schema.check_applicable``), or implies what it needs where one choice would do
    (``--counts``: the counts profile); those notes are kept in ``a.notes`` for
    ``_print_notes`` to show once the command is sure to run."""
    values = {s.name: getattr(a, s.name) for s in schema.SETTINGS if getattr(a, s.name, None) is not None}
    own_notes = ()
    if "dataset" in values:
        values["dataset"], own_notes = _dataset_from_arg(values["dataset"])
    names = {}
    if getattr(a, "ratio", None) is not None:
        values["n_minority"] = n_minority_from_ratio(values.get("n_majority", schema.get("n_majority").default), a.ratio)
        names["n_minority"] = "--ratio"
    implied, a.notes = schema.check_applicable(values, "cli", names)
    a.notes = (*own_notes, *a.notes)
    values.update(implied)
    if getattr(a, "param", None):
        draft = from_settings(values)
        values["approach_params"] = parse_param_overrides(a.param, _specs(a, draft), draft.protocol)
    return from_settings(values).validate()


def _dataset_from_arg(text: str) -> tuple[str, tuple[str, ...]]:
    """``--dataset``: a declared name or ``file:<hash>`` as it is; the path of your own .npz
    read, checked (one line for a bad file) and kept in the user cache, its name
    ``file:<hash>`` returned with what was done to it (said before the run)."""
    if is_dataset_name(text) or not (text.lower().endswith(".npz") or os.path.isfile(text)):
        return text, ()  # a name (an unknown one is refused by the config, naming the choices)
    mine = read_npz(text)
    store(mine)
    told = f"{text}: {mine.n_classes} classes ({', '.join(mine.class_names)}), kept as --dataset {mine.name}"
    return mine.name, (told, *mine.notes)


def _print_notes(a) -> None:
    """What the flags implied (``--counts`` alone: the counts profile), once nothing can be refused."""
    for note in getattr(a, "notes", ()):
        print(f"note: {note}", file=sys.stderr)


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as err:
        raise AfterTrainingError(f"cannot write {path}: {err.strerror or err} (the results are cached: "
                                 "rerun with another path to write them)") from None
    print(f"wrote {path}", file=sys.stderr)


def _check_outputs(*files, folder=None, flag: str = "--out") -> None:
    """Refuse an unwritable --json / --csv (``files``) or atlas --out (``folder``) before
    anything trains: a missing folder, a folder given as a file (or a file as the folder),
    a folder this user cannot write into."""
    for path in files:
        if not path:
            continue
        p = Path(path).expanduser()
        if p.is_dir():
            raise VaeimbError(f"cannot write {path}: it is a folder")
        parent = p.resolve().parent
        if not parent.is_dir():
            raise VaeimbError(f"cannot write {path}: folder {parent} does not exist")
        _probe(parent, path)
    if folder:
        out = Path(folder).expanduser().resolve()
        if out.exists() and not out.is_dir():
            raise VaeimbError(f"{flag} {folder} is a file; give a folder")
        existing = next(d for d in (out, *out.parents) if d.exists())
        if not existing.is_dir():
            raise VaeimbError(f"cannot write {folder}: {existing} is a file")
        _probe(existing, folder)


def _probe(folder: Path, what: str) -> None:
    """Create (and drop) a nameless file in ``folder``: the one test of writability that
    permissions, read-only mounts and /proc all answer truthfully."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise VaeimbError(f"cannot write {what}: {err.strerror or err} ({folder})") from None


def _failure_summary(failures: list[str]) -> int:
    if not failures:
        return 0
    first = failures[0]
    more = f" (and {len(failures) - 1} more; see the table)" if len(failures) > 1 else ""
    print(f"error: {len(failures)} run(s) failed: {first}{more}", file=sys.stderr)
    return EXIT_FAILED_RUNS


def executor_from_args(a):
    """The backend the flags ask for (checked before anything trains)."""
    from ..parts.training import set_precision  # kept off the --help path: the parts load with it
    from ..running.executor import make_backend  # torch: kept off the --help path

    set_precision(a.precision)
    return make_backend(a.workers, a.ray, in_process=a.in_process)


def _run_and_report(config: ExperimentConfig, a) -> int:
    from ..presentation import report  # scipy: kept off the --help path
    from ..studies.experiment import run_experiment  # kept off the --help path; torch loads only where a job computes

    _check_outputs(a.json, a.csv)
    specs = _specs(a, config)
    executor = executor_from_args(a)
    _print_notes(a)
    if config.leaky:
        print(report.LEAK_WARNING, file=sys.stderr)
    cache = ResultCache(a.cache_dir)
    cache.clean_stale_locks()
    bars = _Progress(not a.quiet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # failures are in the table
        try:
            result = run_experiment(config, specs, a.seeds, cache=cache, data_dir=a.data_dir,
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
    from ..studies.sweep import (  # torch: kept off the --help path
        DEFAULT_RATIOS,
        run_sweep,
    )

    _check_outputs(a.json, a.csv)
    cfg = config_from_args(a)
    specs = _specs(a)
    executor = executor_from_args(a)
    _print_notes(a)
    bars = _Progress(not a.quiet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            res = run_sweep(cfg, a.ratios or DEFAULT_RATIOS, specs, a.seeds, cache=ResultCache(a.cache_dir),
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
    from ..studies.atlas.runs import run_atlas  # torch
    from ..studies.atlas import (  # scipy: kept off the --help path
        gain_grid,
        parse_pairs,
    )
    from ..studies.experiment import plan  # torch

    pairs = parse_pairs(a.pairs)
    cfg = config_from_args(a)
    specs = _specs(a)
    plan(cfg, specs, twins=False)
    _check_outputs(folder=a.out)
    out = Path(a.out).expanduser()
    executor = executor_from_args(a)
    _print_notes(a)
    bars = _Progress(not a.quiet, quiet_done=True)
    command = f"{PROG} " + " ".join(argv if argv is not None else sys.argv[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            atlas, failures = run_atlas(cfg, pairs, a.ratios, specs, a.seeds, cache=ResultCache(a.cache_dir),
                                        data_dir=a.data_dir, executor=executor, progress=bars, command=command)
        finally:
            bars.close()
    try:
        atlas.write(out)
    except VaeimbError as err:
        raise AfterTrainingError(f"{err} (the runs are cached: rerun with another --out to write them)") from None
    m = atlas.meta
    print(f"Atlas: {len(atlas.pairs)} pair(s) x {len(atlas.ratios)} ratio(s) x {len(atlas.approaches)} approach(es) "
          f"x {len(atlas.seeds)} seed(s) = {len(atlas.rows)} rows; {m['trained']} trained, the rest from the cache; "
          f"{m['seconds']:.0f} s on {m['executor']}.")
    names = atlas.approaches
    for ratio in atlas.ratios:
        for other in names[1:]:
            c = gain_grid(atlas, other, names[0], ratio).counts()
            print(f"  ratio {ratio:g}: {other} vs {names[0]} (paired t-tests, Holm's correction over the pairs): "
                  f"better on {c['a_better']}, worse on {c['b_better']}, undecided on {c['undecided']} of "
                  f"{c['cells']} pairs (uncorrected: better on {c['raw_a_better']}, worse on {c['raw_b_better']})")
    print(f"wrote {out / 'atlas.csv'} and {out / 'atlas.json'}", file=sys.stderr)
    return _failure_summary(failures)


def searched_name(config: ExperimentConfig) -> str:
    """The default name of a searched preset: the task and the classifier (a pair names its digits)."""
    task = f"{config.majority}v{config.minority}" if config.task == "pair" else config.task
    return f"searched-{task}-{config.classifier}"


def _search(a, argv) -> int:
    from ..studies import search  # torch, optuna: kept off the --help path

    trials = search.check_trials(search.DEFAULT_TRIALS if a.trials is None else a.trials)
    for flag in ("json", "csv"):
        if getattr(a, flag):
            raise ConfigError(f"search writes its record into the preset's file; --{flag} is not for it.")
    config = config_from_args(a)
    name = a.name or searched_name(config)
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"--name {name!r}: letters, digits, - and _ only (it names a file and a preset).")
    folder = Path(a.save_dir) if a.save_dir else SEARCHED_DIR
    _check_outputs(folder=folder, flag="--save-dir")
    executor = executor_from_args(a)
    _print_notes(a)
    cache = ResultCache(a.cache_dir)
    cache.clean_stale_locks()
    bars = _Progress(not a.quiet, quiet_done=True)

    def told(t) -> None:
        score = "failed: " + t.error if t.error else f"validation ACSA {100 * t.score:.2f} %, {t.train_seconds:.0f} s"
        bars.close()
        print(f"trial {t.number:>3}  {score}  {t.recipe}  "
              + " ".join(f"{k}={v:.3g}" for k, v in t.params.items() if isinstance(v, float)), file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            result = search.search(config, name=name, trials=trials, seeds=a.seeds, incumbent=a.incumbent,
                                   sampler_seed=a.sampler_seed, cache=cache, executor=executor,
                                   data_dir=a.data_dir, progress=bars, on_trial=told)
        finally:
            bars.close()
    command = " ".join([PROG, *(argv if argv is not None else sys.argv[1:])])
    try:
        path = search.save(result, folder, command)
    except OSError as err:
        raise AfterTrainingError(f"cannot write the preset into {folder}: {err.strerror or err} (the trials are "
                                 "cached: the same command with --save-dir elsewhere writes it at once)") from None
    w = result.winner
    print(f"Searched {len(result.trials)} trials in {result.minutes:.1f} min for {config.label()}.")
    print(f"Winner: trial {w.number}, {w.recipe} (validation ACSA {100 * w.score:.2f} % over seeds "
          f"{', '.join(map(str, result.seeds))}; the incumbent {result.incumbent}: "
          f"{100 * result.trials[0].score:.2f} %).")
    print(f"Saved as the preset '{name}': {path}")
    print(f"Evaluate it on the test set over paired seeds: {PROG} run ... --approaches {name} {result.incumbent} "
          "oracle --seeds 0 1 2 3 4")
    return 0


def _stop_on_sigterm() -> None:
    """SIGTERM (a cluster scheduler, ``kill``) stops like Ctrl-C: workers stopped, finished
    results kept."""
    import signal
    import threading

    def stop(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


def main(argv=None, prog: str = PROG) -> int:
    parser = build_parser(prog)
    a = parser.parse_args(argv)
    _stop_on_sigterm()
    try:
        if a.command in ("reproduce", "run"):  # reproduce: the reference setup, its flags being protocol and classifier
            return _run_and_report(config_from_args(a), a)
        if a.command == "sweep":
            return _sweep(a)
        if a.command == "atlas":
            return _atlas(a, argv)
        if a.command == "search":
            return _search(a, argv)
    except AfterTrainingError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED_RUNS
    except (VaeimbError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: finished (approach, seed) results are kept in the cache", file=sys.stderr)
        return 130
    return 0


def main_entry() -> None:
    """The ``vaeimb`` console script (``[project.scripts]`` in pyproject.toml)."""
    sys.exit(main(prog="vaeimb"))
