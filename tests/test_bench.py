"""`python -m vaeimb bench` on a tiny config: a full table, clear errors, failed rows.

Nothing here checks a time: speed is measured by the benchmark, never by tests.
"""

from __future__ import annotations

import pytest

from vaeimb import bench
from vaeimb.approaches import APPROACHES
from vaeimb.cli import main as cli_main
from vaeimb.errors import VaeimbError


def _rows(text: str) -> dict[str, str]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith(("| what", "|---")):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1]
    return rows


def test_tiny_benchmark_writes_every_row(tiny_config, tmp_path, mnist_dir, capsys):
    out = tmp_path / "BENCH.md"
    assert bench.run_benchmark(tiny_config, data_dir=mnist_dir, output=str(out)) == 0
    text = out.read_text()
    assert text == capsys.readouterr().out.rstrip("\n") + "\n"  # what was printed is what was written
    rows = _rows(text)
    expected = {*bench.TARGETS, "VAE training", "peak RSS of the whole benchmark process (MB)"}
    expected |= {f"{a} classifier" for a in APPROACHES if a != "threshold"}
    expected.add("threshold classifier (reuses baseline's model)")
    assert set(rows) == expected
    for what, value in rows.items():
        assert not value.startswith("FAILED"), (what, value)
        assert float(value) >= 0, (what, value)
    assert f"Config: {tiny_config.label()};" in text


def test_unwritable_output_is_one_clear_error_before_any_training(tiny_config, tmp_path, mnist_dir, monkeypatch):
    def no_training(*a, **k):
        raise AssertionError("measured before checking the output")

    monkeypatch.setattr(bench, "measure", no_training)
    missing_folder = tmp_path / "no-such-folder" / "BENCH.md"
    with pytest.raises(VaeimbError) as e:
        bench.run_benchmark(tiny_config, data_dir=mnist_dir, output=str(missing_folder))
    assert str(missing_folder) in str(e.value) and "\n" not in str(e.value)
    assert not missing_folder.parent.exists()
    with pytest.raises(VaeimbError, match="--output"):
        bench.run_benchmark(tiny_config, data_dir=mnist_dir, output=str(tmp_path))  # a folder


def test_cli_bench_with_unwritable_output_exits_2_without_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "measure", lambda *a, **k: pytest.fail("measured before checking the output"))
    code = cli_main(["bench", "--output", str(tmp_path / "missing" / "BENCH.md")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: Cannot write the benchmark table") and err.count("\n") == 1


def test_existing_output_is_not_touched_by_the_check(tmp_path):
    out = tmp_path / "BENCH.md"
    out.write_text("old table\n")
    bench.check_writable(out)
    assert out.read_text() == "old table\n"
    fresh = tmp_path / "new.md"
    bench.check_writable(fresh)
    assert not fresh.exists()


@pytest.mark.filterwarnings("ignore:oracle .seed 0. failed:RuntimeWarning")
def test_a_failed_approach_is_a_failed_row(tiny_config, tmp_path, mnist_dir, monkeypatch):
    def broken(self, data, config, generated=None):
        raise RuntimeError("simulated out-of-memory")

    monkeypatch.setattr("vaeimb.approaches.resampling.Oracle.training_set", broken)
    out = tmp_path / "BENCH.md"
    assert bench.run_benchmark(tiny_config, data_dir=mnist_dir, output=str(out)) == 1  # written, and it says so
    rows = _rows(out.read_text())
    assert rows["oracle classifier"] == "FAILED: RuntimeError: simulated out-of-memory"
    for what in ("baseline classifier", "vae classifier", "VAE training", "cache hit (all five, one seed)"):
        assert float(rows[what]) >= 0
    assert "| oracle classifier | FAILED: RuntimeError: simulated out-of-memory |  | NO |" in out.read_text()
