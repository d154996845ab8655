import csv
import io
import json

import pytest

from vaeimb.declarations.config import ExperimentConfig
from vaeimb.declarations.errors import ConfigError
from vaeimb.interfaces import cli
from vaeimb.presentation import report
from vaeimb.studies.sweep import run_sweep, sweep_configs

FAST = dict(steps=8, batch_size=16, generator_steps=5, generator_batch_size=16, n_checkpoints=2)


def test_sweep_configs_convert_ratios_and_validate():
    pts = sweep_configs(ExperimentConfig(), [0.02, 0.002, 0.5, 0.02])
    assert [(r, c.n_minority) for r, c in pts] == [(0.002, 10), (0.02, 100), (0.5, 2500)]
    with pytest.raises(ConfigError, match="Ratio 1"):
        sweep_configs(ExperimentConfig(n_majority=5923), [1.0])
    with pytest.raises(ConfigError):
        sweep_configs(ExperimentConfig(), [])


def test_run_sweep_rows(cache, mnist_dir):
    base = ExperimentConfig(n_majority=200, **FAST)
    seen = []
    res = run_sweep(base, [0.05, 0.2], ["baseline", "vae"], [0, 1], cache=cache, data_dir=mnist_dir,
                    progress=lambda i, n, r, e: seen.append((i, n, r)))
    rows = res.rows("balanced_accuracy")
    assert [(r["ratio"], r["n_minority"], r["approach"]) for r in rows] == [
        (0.05, 10, "baseline"), (0.05, 10, "vae"), (0.2, 40, "baseline"), (0.2, 40, "vae")]
    assert all(r["n_seeds"] == 2 and 0 <= r["mean"] <= 1 for r in rows)
    assert {s[:2] for s in seen} == {(0, 2), (1, 2)} and res.failures() == []
    with pytest.raises(ConfigError):
        res.rows("nope")


def test_table_and_exports(tiny_run):
    result, _ = tiny_run
    table = report.format_table(result)
    for name in result.approaches:
        assert name in table
    assert "misclassified /1938" in table and "LEAKY" not in table
    assert table.index("Verdict:") < table.index("misclassified /1938")  # the verdict leads
    thr_line = next(l for l in table.splitlines() if l.startswith("threshold "))
    assert "0.0625" in thr_line  # the threshold used: n_min / (n_min + n_maj) = 20 / 320
    assert "Seeds (paired): 0, 1" in table and "Provenance: vaeimb" in table and "MIXED" not in table
    data = json.loads(report.to_json(result))
    assert data["config"]["n_majority"] == 300 and len(data["runs"]) == 10 and data["leaky"] is False
    run0 = data["runs"][0]
    assert len(run0["misclassified"]) == run0["metrics"]["misclassified"]
    assert sum(map(sum, run0["confusion_matrix"])) == 1938
    assert {"threads", "device", "torch", "vaeimb", "code"} <= set(run0["info"]["environment"])
    assert run0["learning_curve"]["validation_misclassified"] is None
    assert all(0 < r["threshold_probability"] < 1 for r in data["runs"])
    assert data["recipes"]["oversample"] == "data=real,gen=none,batches=balanced,aug=none,mix=none,loss=ce,decision=argmax"
    assert data["twins"] == {"vae": "baseline"}
    v = data["verdict"]
    assert v["best"] != "oracle" and "vae" in v["generator_contribution"]
    for stats in v["approaches"].values():
        assert {"paired_diff_mean", "ci_low", "ci_high", "wins", "n_seeds"} <= set(stats)
    rows = list(csv.DictReader(io.StringIO(report.to_csv(result))))
    assert len(rows) == 10 and rows[0]["approach"] == "baseline" and "balanced_accuracy" in rows[0]
    assert {"env_threads", "env_device", "env_torch", "env_vaeimb", "env_code"} <= set(rows[0])
    summary = list(csv.DictReader(io.StringIO(report.to_csv(result, "summary"))))
    assert [r["approach"] for r in summary] == list(result.approaches)
    disp = report.display_rows(result)
    assert disp[0]["Seeds"] == 2 and "±" in disp[0]["Misclassified test images"]


def test_mixed_provenance_is_flagged(tiny_run):
    import copy

    result = copy.deepcopy(tiny_run[0])
    run = result.run("oversample", 1)
    run.info["environment"] = {**run.info["environment"], "threads": run.info["environment"]["threads"] + 3}
    assert "Provenance: MIXED" in report.format_table(result)
    run.info["environment"] = {**tiny_run[0].run("oversample", 1).info["environment"], "code": "other"}
    assert "MIXED" in report.provenance_line(result)


@pytest.fixture
def fast_reference(monkeypatch):
    """The reference data (0 vs 6, 5000/100) with a tiny training budget."""
    real = cli.config_from_args
    monkeypatch.setattr(cli, "config_from_args", lambda a, **k: real(a, **k).replace(**FAST))


def test_reproduce_prints_table_with_reported_numbers(fast_reference, tmp_path, mnist_dir, capsys):
    rc = cli.main(["reproduce", "--seeds", "0", "--quiet", "--approaches", "oversample", "vae",
                   "--data-dir", str(mnist_dir), "--cache-dir", str(tmp_path / "c"), "--csv", str(tmp_path / "r.csv")])
    out = capsys.readouterr().out
    assert rc == 0
    lines = {}
    for l in out.split("Verdict:")[-1].splitlines():  # the table's rows (the first line naming each)
        if l.split() and l.split()[0] in ("baseline", "oversample", "vae"):
            lines.setdefault(l.split()[0], l)
    assert set(lines) == {"baseline", "oversample", "vae"}  # baseline: the vae's generator-free twin
    assert lines["oversample"].rstrip().endswith("70") and lines["vae"].rstrip().endswith("30")
    assert "0 vs 6, 5000/100" in out and f"{FAST['steps']} steps" in out
    assert (tmp_path / "r.csv").read_text().startswith("approach,seed,misclassified")


def test_reproduce_blog_protocol_is_labelled_leaky(fast_reference, tmp_path, mnist_dir, capsys):
    assert cli.main(["reproduce", "--protocol", "blog", "--seeds", "0", "--quiet", "--approaches", "vae",
                     "--data-dir", str(mnist_dir),
                     "--cache-dir", str(tmp_path)]) == 0
    cap = capsys.readouterr()
    assert "LEAKY PROTOCOL" in cap.out and "LEAKY PROTOCOL" in cap.err and "vae (LEAKY)" in cap.out


def test_run_any_config(tmp_path, mnist_dir, capsys):
    rc = cli.main(["run", "--majority", "3", "--minority", "8", "--n-majority", "200", "--ratio", "5%",
                   "--approaches", "baseline", "oversample", "--seeds", "0", "1", "--steps", "8",
                   "--classifier", "cnn", "--quiet", "--data-dir", str(mnist_dir), "--cache-dir", str(tmp_path),
                   "--json", str(tmp_path / "o.json")])
    assert rc == 0
    out = json.loads((tmp_path / "o.json").read_text())
    assert out["config"]["n_minority"] == 10 and out["config"]["classifier"] == "cnn"
    assert out["seeds"] == [0, 1] and out["approaches"] == ["baseline", "oversample"]
    assert "3 vs 8" in capsys.readouterr().out


@pytest.mark.parametrize("argv, fragment", [
    (["run", "--majority", "4", "--minority", "4"], "two different digits"),
    (["run", "--minority", "5", "--n-minority", "5422", "--n-majority", "5900"], "from 1 to 5421"),
    (["run", "--n-majority", "0"], "from 1 to 5923"),
    (["run", "--approaches", "smoot"], "Unknown approach"),
    (["run", "--recipe", "gen=gan"], "Unknown generator 'gan'"),
    (["run", "--recipe", "colour=red"], "Unknown recipe key"),
    (["run", "--recipe", "data=oracle,gen=vae"], "drop gen="),
    (["run", "--param", "threshold.tau=abc"], "tau must be float"),
    (["run", "--param", "nobody.tau=1"], "one of this run's"),
    (["run", "--validation-fraction", "1.5"], "validation_fraction"),
    (["run", "--seeds", "-3"], "Seeds"),
    (["run", "--ratio", "3"], "ratio must be in"),
    (["run", "--steps", "many"], "steps must be int in [1, 200000], got 'many'"),
    (["run", "--classifier", "svm"], "invalid choice"),
    (["reproduce", "--protocol", "leaky"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_and_nonzero(argv, fragment, tmp_path, mnist_dir, capsys):
    with pytest.raises(SystemExit) as e:
        raise SystemExit(cli.main(argv + ["--data-dir", str(mnist_dir), "--cache-dir", str(tmp_path)]
                                  if argv[0] == "run" else argv))
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_missing_data_is_one_line(tmp_path, capsys, monkeypatch):
    import torchvision.datasets

    def offline(*a, **k):
        raise RuntimeError("no network")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    (tmp_path / "empty").mkdir()  # an existing folder without MNIST: a download is tried
    rc = cli.main(["run", "--data-dir", str(tmp_path / "empty"), "--cache-dir", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "VAEIMB_DATA_DIR" in err and len(err.splitlines()) == 1


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = capsys.readouterr().out
    shared = ("--majority", "--minority", "--n-majority", "--approaches", "--recipe", "--param", "--seeds",
              "--classifier", "--steps", "--batch-size", "--lr", "--latent-dim", "--generator-steps", "--generator-batch-size",
              "--validation-fraction", "--protocol", "--json", "--csv", "--cache-dir", "--data-dir")
    for opt in shared + ("--n-minority", "--ratio"):
        assert opt in out
    with pytest.raises(SystemExit):
        cli.main(["sweep", "--help"])
    out = capsys.readouterr().out
    for opt in shared + ("--ratios",):
        assert opt in out


def test_gap_closed_in_the_tables_and_the_sweep():
    """The gap closed between oversample and the oracle, per approach and seed, reaches the
    table rows, the display rows and the sweep (computed from the misclassified counts)."""
    from test_figures import make_result

    from vaeimb.presentation import report
    from vaeimb.statistics.stats import GAP_CLOSED, GAP_LABEL
    from vaeimb.studies.sweep import SweepResult

    res = make_result(ExperimentConfig(n_majority=300, n_minority=20),
                      {"oversample": [7, 6, 5], "vae": [4, 7, 3], "oracle": [1, 2, 1]})
    gap = res.gap_closed()
    # from seed means: (6 - 14/3) / (6 - 4/3), not the mean of per-seed ratios (0.5, -0.25, 0.5)
    assert gap["vae"].mean == pytest.approx((6 - 14 / 3) / (6 - 4 / 3)) and "oracle" not in gap
    assert gap["oversample"].mean == 0.0 and gap["vae"].ci_low < gap["vae"].mean < gap["vae"].ci_high
    rows = {r["approach"]: r for r in report.summary_rows(res)}
    assert rows["vae"]["gap_closed_mean"] == pytest.approx(gap["vae"].mean)
    shown = {r["approach"]: r for r in report.display_rows(res)}
    assert shown["vae"][GAP_LABEL] == gap["vae"].format(2)
    sweep_rows = SweepResult([(0.02, res)]).rows(GAP_CLOSED)
    assert {r["approach"]: r["mean"] for r in sweep_rows}["vae"] == pytest.approx(gap["vae"].mean)
    assert make_result(ExperimentConfig(), {"vae": [1, 2]}).gap_closed() == {}
