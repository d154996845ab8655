import csv
import io
import json

import pytest

from vaeimb import cli, report
from vaeimb.config import ExperimentConfig
from vaeimb.errors import ConfigError
from vaeimb.sweep import run_sweep, sweep_configs

FAST = dict(steps=8, batch_size=16, vae_steps=5, vae_batch_size=16, n_checkpoints=2)


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
    assert "exceeds 0.0625" in table  # the threshold used: n_min / (n_min + n_maj) = 20 / 320
    data = json.loads(report.to_json(result))
    assert data["config"]["n_majority"] == 300 and len(data["runs"]) == 10 and data["leaky"] is False
    run0 = data["runs"][0]
    assert len(run0["misclassified"]) == run0["metrics"]["misclassified"]
    assert sum(map(sum, run0["confusion_matrix"])) == 1938
    rows = list(csv.DictReader(io.StringIO(report.to_csv(result))))
    assert len(rows) == 10 and rows[0]["approach"] == "baseline" and "balanced_accuracy" in rows[0]
    summary = list(csv.DictReader(io.StringIO(report.to_csv(result, "summary"))))
    assert [r["approach"] for r in summary] == list(result.approaches)
    disp = report.display_rows(result)
    assert disp[0]["Seeds"] == 2 and "±" in disp[0]["Misclassified test images"]


@pytest.fixture
def fast_reference(monkeypatch):
    """The reference data (0 vs 6, 5000/100) with a tiny training budget."""
    real = cli.reference_config
    monkeypatch.setattr(cli, "reference_config", lambda protocol: real(protocol).replace(**FAST))


def test_reproduce_prints_table_with_reported_numbers(fast_reference, tmp_path, mnist_dir, capsys):
    rc = cli.main(["reproduce", "--seeds", "0", "--quiet", "--data-dir", str(mnist_dir), "--cache-dir",
                   str(tmp_path / "c"), "--json", str(tmp_path / "r.json"), "--csv", str(tmp_path / "r.csv")])
    out = capsys.readouterr().out
    assert rc == 0
    lines = {l.split()[0]: l for l in out.splitlines() if l.split() and l.split()[0] in
             ("baseline", "threshold", "oversample", "vae", "oracle")}
    assert set(lines) == {"baseline", "threshold", "oversample", "vae", "oracle"}
    assert lines["oversample"].rstrip().endswith("70") and lines["vae"].rstrip().endswith("30")
    assert json.loads((tmp_path / "r.json").read_text())["config"]["n_minority"] == 100
    assert (tmp_path / "r.csv").read_text().startswith("approach,seed,misclassified")


def test_reproduce_blog_protocol_is_labelled_leaky(fast_reference, tmp_path, mnist_dir, capsys):
    assert cli.main(["reproduce", "--protocol", "blog", "--seeds", "0", "--quiet", "--data-dir", str(mnist_dir),
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
    (["run", "--approaches", "smote"], "Unknown approach"),
    (["run", "--seeds", "-3"], "Seeds"),
    (["run", "--ratio", "3"], "ratio must be in"),
    (["run", "--steps", "many"], "expected an integer"),
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
    rc = cli.main(["run", "--data-dir", str(tmp_path / "none"), "--cache-dir", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "VAEIMB_DATA_DIR" in err and len(err.splitlines()) == 1


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = capsys.readouterr().out
    for opt in ("--majority", "--minority", "--n-majority", "--n-minority", "--ratio", "--approaches",
                "--seeds", "--classifier", "--steps", "--latent-dim", "--protocol", "--json"):
        assert opt in out
