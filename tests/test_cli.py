"""The command line's contract: shared config flags, exit codes, one-line errors, fast --help."""

import csv
import io
import json
import subprocess
import sys

import pytest

from vaeimb.declarations.config import ExperimentConfig
from vaeimb.interfaces import cli

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
TINY_FLAGS = ["--n-majority", "300", "--n-minority", "20", "--steps", "10", "--batch-size", "16",
              "--generator-steps", "5", "--generator-batch-size", "16", "--seeds", "0", "--quiet"]


def _config(argv):
    parser = cli.build_parser()
    a = parser.parse_args(argv)
    return cli.config_from_args(a), cli._specs(a), a.seeds


def _one_error_line(err: str) -> str:
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("protocol", ["blog", "blog-clean", "clean"])
def test_run_and_reproduce_build_the_same_config(protocol):
    """``run --protocol P`` with no budget flags is ``reproduce --protocol P``: the protocol's budget."""
    extra = ["--approaches", "baseline", "vae", "--seeds", "0", "1"]
    run = _config(["run", "--protocol", protocol, *extra])
    rep = _config(["reproduce", "--protocol", protocol, *extra])
    assert run == rep
    assert run[0] == ExperimentConfig.for_protocol(protocol)
    if protocol != "clean":
        assert (run[0].steps, run[0].batch_size, run[0].generator_steps, run[0].generator_batch_size) == (
            1000, 128, 1000, 100)
        assert run[0].generator_budget_dict()["batching"] == "cycle"


def test_budget_flags_override_the_protocols_budget():
    cfg, specs, seeds = _config(["run", "--protocol", "blog", "--steps", "7", "--batch-size", "9", "--lr", "0.01",
                                 "--latent-dim", "4", "--generator-steps", "3", "--generator-batch-size", "5",
                                 "--generator-lr", "0.02", "--validation-fraction", "0.3", "--classifier", "cnn",
                                 "--approaches", "all", "--recipe", "loss=focal", "--param", "threshold.tau=0.5"])
    assert (cfg.steps, cfg.batch_size, cfg.lr, cfg.latent_dim, cfg.generator_steps, cfg.generator_batch_size,
            cfg.generator_lr) == (7, 9, 0.01, 4, 3, 5, 0.02)
    assert cfg.validation_fraction == 0.3 and cfg.classifier == "cnn" and cfg.protocol == "blog"
    assert cfg.approach_params == {"threshold": {"decision.tau": 0.5}}
    from vaeimb.running.recipes import PRESETS

    assert specs == [*PRESETS, "loss=focal"]
    sweep, _, _ = _config(["sweep", "--protocol", "blog-clean", "--steps", "7", "--generator-steps", "3"])
    assert (sweep.protocol, sweep.steps, sweep.generator_steps, sweep.batch_size) == ("blog-clean", 7, 3, 128)


def test_the_old_vae_flags_still_work():
    """Generator budget flags are named for generators; the VAE-named ones are their aliases."""
    old, _, _ = _config(["run", "--vae-steps", "3", "--vae-batch-size", "5", "--vae-lr", "0.02"])
    new, _, _ = _config(["run", "--generator-steps", "3", "--generator-batch-size", "5", "--generator-lr", "0.02"])
    assert old == new and (new.generator_steps, new.generator_batch_size, new.generator_lr) == (3, 5, 0.02)


@pytest.mark.parametrize("argv, says", [
    (["--steps", "0"], "steps must be int in [1, 200000], got 0."),
    (["--generator-lr", "2"], "generator_lr must be float in [1e-06, 1], got 2.0."),
    (["--lr", "lots"], "argument --lr: lr must be float in [1e-06, 1], got 'lots'"),
    (["--protocol", "leaky"], "invalid choice: 'leaky'"),
    (["--n-majority", "6000"], "n_majority must be an integer from 1 to 5923 (MNIST train holds 5923"),
])
def test_a_bad_setting_is_one_line_in_the_schemas_words(argv, says, capsys, no_training):
    try:
        rc = cli.main(["run", *argv])
    except SystemExit as exit:  # refused by the parser
        rc = exit.code
    assert rc == 2 and says in _one_error_line(capsys.readouterr().err)


def test_a_failed_run_exits_1_with_one_summary_line(tmp_path, mnist_dir, capsys):
    rc = cli.main(["run", *TINY_FLAGS, "--approaches", "baseline", "smote", "--param", "smote.gen.k_neighbors=50",
                   "--data-dir", str(mnist_dir), "--cache-dir", str(tmp_path / "c"),
                   "--csv", str(tmp_path / "r.csv")])
    cap = capsys.readouterr()
    assert rc == 1
    line = _one_error_line(cap.err.replace("wrote " + str(tmp_path / "r.csv"), ""))
    assert line.startswith("error: 1 run(s) failed: smote seed 0:") and "k_neighbors=50" in line
    assert "baseline" in cap.out and "FAILED" in cap.out
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert [r["approach"] for r in rows] == ["baseline"]  # the other approach kept its result


def test_unwritable_cache_is_refused_before_anything_trains(mnist_dir, capsys, count_training):
    rc = cli.main(["run", *TINY_FLAGS, "--approaches", "baseline", "--data-dir", str(mnist_dir),
                   "--cache-dir", "/proc/x"])
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2 and "/proc/x" in line and "not writable" in line
    assert count_training["clf"] == 0


def test_a_missing_data_dir_is_refused_not_created(tmp_path, capsys, count_training):
    missing = tmp_path / "no-such-mnist"
    rc = cli.main(["run", *TINY_FLAGS, "--approaches", "baseline", "--data-dir", str(missing),
                   "--cache-dir", str(tmp_path / "c")])
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2 and str(missing) in line and "does not exist" in line
    assert not missing.exists() and count_training["clf"] == 0


@pytest.mark.parametrize("flag, where, says", [
    ("--json", "nowhere/r.json", "does not exist"),
    ("--csv", "nowhere/r.csv", "does not exist"),
    ("--json", ".", "it is a folder"),
    ("--csv", "/proc/r.csv", "cannot write /proc/r.csv"),
])
def test_unwritable_json_or_csv_is_refused_before_training(flag, where, says, tmp_path, mnist_dir, capsys,
                                                           no_training, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = cli.main(["run", *TINY_FLAGS, "--approaches", "baseline", "--data-dir", str(mnist_dir),
                   "--cache-dir", str(tmp_path / "c"), flag, where])
    assert rc == 2 and says in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("out, says", [
    ("a-file", "is a file"),
    ("a-file/atlas", "is a file"),
    ("/proc/atlas", "cannot write /proc/atlas"),
])
def test_unwritable_atlas_out_is_refused_before_training(out, says, tmp_path, mnist_dir, capsys, no_training,
                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("")
    rc = cli.main(["atlas", "--pairs", "0:6", "--approaches", "baseline", "--steps", "10", "--n-majority", "300",
                   "--seeds", "0", "--quiet", "--in-process", "--data-dir", str(mnist_dir),
                   "--cache-dir", str(tmp_path / "c"), "--out", out])
    assert rc == 2 and says in _one_error_line(capsys.readouterr().err)


def test_a_failure_after_training_exits_1_not_2(tmp_path, mnist_dir, capsys, monkeypatch):
    """Exit 2 means bad input; a failure once the runs are done (here: writing the export) is 1."""
    from pathlib import Path

    real = Path.write_text

    def full_disk(self, *a, **k):
        if self.suffix == ".json":
            raise OSError(28, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", full_disk)
    rc = cli.main(["run", *TINY_FLAGS, "--approaches", "baseline", "--data-dir", str(mnist_dir), "--in-process",
                   "--cache-dir", str(tmp_path / "c"), "--json", str(tmp_path / "r.json")])
    cap = capsys.readouterr()
    line = _one_error_line(cap.err)
    assert rc == cli.EXIT_FAILED_RUNS == 1
    assert "cannot write" in line and "No space left on device" in line and "baseline" in cap.out


@pytest.mark.parametrize("argv, fragment", [
    (["--recipe", "gen=gan"], "Unknown generator 'gan'"),
    (["--recipe", "loss"], "'loss'"),
    (["--recipe", "data=oracle,gen=vae"], "drop gen="),
    (["--param", "baseline.tau=0.5"], "tau"),
    (["--param", "threshold.tau=9"], "tau must be float in [0, 5]"),
    (["--param", "threshold"], "not APPROACH.PARAM=VALUE"),
])
def test_bad_recipe_or_param_is_one_line_exit_2(argv, fragment, tmp_path, mnist_dir, capsys, count_training):
    rc = cli.main(["run", *TINY_FLAGS, "--approaches", "baseline", "threshold", *argv, "--data-dir", str(mnist_dir),
                   "--cache-dir", str(tmp_path)])
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2 and fragment in line and count_training["clf"] == 0


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["sweep", "--help"], ["run", "--steps", "x"]])
def test_help_and_argument_errors_do_not_import_torch(argv):
    code = ("import runpy, sys\n"
            f"sys.argv = ['vaeimb', *{argv!r}]\n"
            "try:\n    runpy.run_module('vaeimb', run_name='__main__')\n"
            "except SystemExit as e:\n    code = e.code\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', code)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("NO-TORCH"), (last, out.stderr[-500:])
    assert last.split()[1] in ("0", "None", "2")
    if argv[-1] == "--help":
        assert "usage:" in out.stdout


def test_param_reaches_the_output_and_json(tmp_path, mnist_dir, capsys):
    common = ["run", *TINY_FLAGS, "--approaches", "threshold", "--data-dir", str(mnist_dir),
              "--cache-dir", str(tmp_path / "c")]
    assert cli.main([*common, "--json", str(tmp_path / "a.json")]) == 0
    assert cli.main([*common, "--param", "threshold.tau=0.5", "--json", str(tmp_path / "b.json")]) == 0
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    pa, pb = a["runs"][0]["threshold_probability"], b["runs"][0]["threshold_probability"]
    assert pa == pytest.approx(20 / 320) and pb > pa
    assert a["runs"][0]["info"]["values"]["decision"]["tau"] == 1.0
    assert b["runs"][0]["info"]["values"]["decision"]["tau"] == 0.5
    assert b["config"]["approach_params"] == {"threshold": {"decision.tau": 0.5}}
    assert f"{pb:.4f}" in capsys.readouterr().out


def test_json_and_csv_carry_provenance_and_the_verdict(tmp_path, mnist_dir):
    rc = cli.main(["run", *TINY_FLAGS, "--approaches", "baseline", "vae", "--data-dir", str(mnist_dir),
                   "--cache-dir", str(tmp_path / "c"), "--json", str(tmp_path / "r.json"),
                   "--csv", str(tmp_path / "r.csv")])
    assert rc == 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["verdict"]["best"] in ("baseline", "vae") and "vae" in data["verdict"]["generator_contribution"]
    assert data["twins"] == {"vae": "baseline"}
    for r in data["runs"]:
        assert {"threads", "device", "torch", "vaeimb", "code"} <= set(r["info"]["environment"])
        assert (r["generator_quality"] is None) == (r["approach"] == "baseline")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert {r["approach"] for r in rows} == {"baseline", "vae"}
    assert all(r["env_threads"] and r["env_code"] and r["env_torch"] for r in rows)


def test_sweep_takes_the_shared_flags_and_writes_csv_and_json(tmp_path, mnist_dir, capsys):
    rc = cli.main(["sweep", "--n-majority", "200", "--ratios", "5%", "0.1", "--steps", "8", "--batch-size", "16",
                   "--approaches", "baseline", "threshold", "--param", "threshold.tau=0.5", "--seeds", "0",
                   "--quiet", "--data-dir", str(mnist_dir), "--cache-dir", str(tmp_path / "c"),
                   "--json", str(tmp_path / "s.json"), "--csv", str(tmp_path / "s.csv")])
    assert rc == 0
    data = json.loads((tmp_path / "s.json").read_text())
    assert [(r["ratio"], r["n_minority"], r["approach"]) for r in data["rows"]] == [
        (0.05, 10, "baseline"), (0.05, 10, "threshold"), (0.1, 20, "baseline"), (0.1, 20, "threshold")]
    assert data["config"]["steps"] == 8 and data["config"]["approach_params"] == {"threshold": {"decision.tau": 0.5}}
    assert {"threads", "code"} <= set(data["environment"]) and data["failures"] == []
    rows = list(csv.DictReader(io.StringIO((tmp_path / "s.csv").read_text())))
    assert len(rows) == 4 and rows[0]["approach"] == "baseline" and rows[0]["n_seeds"] == "1"
    assert "Sweep: 0 vs 6, n_majority 200" in capsys.readouterr().out
