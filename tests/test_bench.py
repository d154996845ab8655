"""`python -m vaeimb bench` on a tiny config: a full table, clear errors, failed rows; and
the app start-up the bench scripts share (bench/browser.py) giving up at its deadline.

Nothing here checks a speed: speed is measured by the benchmarks, never by tests.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench import common
from bench import core_bench as bench
from bench.browser import StartError, wait_until_healthy
from vaeimb.declarations.errors import VaeimbError
from vaeimb.interfaces.cli import build_parser, config_from_args


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
    printed = capsys.readouterr().out.strip()
    assert f"<!-- begin core -->\n{printed}\n<!-- end core -->" in text  # what was printed is what was written
    rows = _rows(text)
    expected = {*bench.TARGETS, "VAE training", "peak RSS of the whole benchmark process (MB)"}
    assert bench.PROCESS_HIT in expected  # `python -m vaeimb run` in a new process, on the bench's cache
    expected |= {f"{a} classifier" for a in ("baseline", "oversample", "vae", "oracle")}
    expected.add("threshold classifier (reuses baseline's model)")
    assert set(rows) == expected
    for what, value in rows.items():
        assert not value.startswith("FAILED"), (what, value)
        assert float(value) >= 0, (what, value)
    assert f"Config: {tiny_config.label()};" in text


def test_the_process_hit_command_describes_the_benchmarked_config(tiny_config):
    """The subprocess must hit the entries the benchmark trained: its flags give back the config."""
    cfg = tiny_config.replace(protocol="blog-clean", classifier="cnn", lr=0.002,
                              approach_params={"threshold": {"decision.tau": 0.5}})
    cmd = bench.run_command(cfg, ["baseline", "threshold"], data_dir="/data")
    assert cmd[:4] == [sys.executable, "-m", "vaeimb", "run"] and cmd[-2:] == ["--data-dir", "/data"]
    a = build_parser().parse_args(cmd[3:])
    assert config_from_args(a) == cfg and a.approaches == ["baseline", "threshold"] and a.seeds == [0]


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


def test_core_bench_with_unwritable_output_exits_2_without_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "measure", lambda *a, **k: pytest.fail("measured before checking the output"))
    code = bench.main(["--output", str(tmp_path / "missing" / "BENCH.md")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: Cannot write the benchmark table") and err.count("\n") == 1


def test_each_benchmark_refreshes_only_its_own_section(tmp_path):
    out = tmp_path / "BENCH.md"
    common.write_section(out, "core", "## Core\n| a | 1 |")
    common.write_section(out, "dashboard", "## Dashboard\n| b | 2 |")
    common.write_section(out, "core", "## Core\n| a | 3 |")
    text = out.read_text()
    assert text.startswith("# Benchmarks\n") and "| a | 3 |" in text and "| a | 1 |" not in text
    assert "| b | 2 |" in text and text.index("begin core") < text.index("begin dashboard")


def test_existing_output_is_not_touched_by_the_check(tmp_path):
    out = tmp_path / "BENCH.md"
    out.write_text("old table\n")
    bench.check_writable(out)
    assert out.read_text() == "old table\n"
    fresh = tmp_path / "new.md"
    bench.check_writable(fresh)
    assert not fresh.exists()


@pytest.mark.filterwarnings("ignore:vae .seed .. failed:RuntimeWarning")
def test_a_failed_approach_is_a_failed_row(tiny_config, tmp_path, mnist_dir, monkeypatch):
    from vaeimb.parts.generators.vae import VaeGenerator

    def broken(self, *a, **k):
        raise RuntimeError("simulated out-of-memory")

    monkeypatch.setattr(VaeGenerator, "_fit", broken)
    out = tmp_path / "BENCH.md"
    assert bench.run_benchmark(tiny_config, data_dir=mnist_dir, output=str(out)) == 1  # written, and it says so
    text = out.read_text()
    rows = _rows(text)
    for what in ("vae classifier", "VAE training"):
        assert rows[what].startswith("FAILED: ") and "simulated out-of-memory" in rows[what], rows[what]
    for what in ("oversample + vae (VAE training included)", "latent slider redraw (decode + 224 px PNG)"):
        assert rows[what].startswith("FAILED: "), rows[what]
    for what in ("baseline classifier", "oracle classifier", "cache hit (all five, one seed)", bench.PROCESS_HIT):
        assert float(rows[what]) >= 0
    assert "| vae classifier | FAILED: " in text and "|  | NO |" in text


@pytest.fixture
def idle_process():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


class _FakeClock:
    """A clock that moves only when the code under test sleeps or waits on a socket, so the
    deadline is checked without depending on this machine's speed or load."""

    def __init__(self):
        self.now = 1000.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize("answer", ["refused", "never-answers"])
def test_app_start_up_gives_up_at_its_deadline(idle_process, tmp_path, monkeypatch, answer):
    """A port that refuses, or one that accepts and then never answers, ends in StartError
    at the deadline instead of waiting forever (or a full socket timeout past it)."""
    import types

    from bench import browser

    clock = _FakeClock()

    def urlopen(url, timeout):
        clock.waits.append(timeout)
        clock.now += timeout if answer == "never-answers" else 0.001  # a silent server holds the whole timeout
        raise OSError("timed out" if answer == "never-answers" else "connection refused")

    monkeypatch.setattr(browser, "time", types.SimpleNamespace(monotonic=clock.monotonic, sleep=clock.sleep))
    monkeypatch.setattr(browser.urllib.request, "urlopen", urlopen)
    with pytest.raises(StartError, match="did not answer .* within 0.5 s"):
        wait_until_healthy(idle_process, "http://127.0.0.1:9", tmp_path / "log", timeout=0.5)
    assert clock.now - 1000.0 <= 0.5 + 1e-9  # never past the deadline
    assert clock.waits and max(clock.waits) <= 0.5 + 1e-9  # no socket wait longer than the time left


def test_app_start_up_reports_a_server_that_exited(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(StartError, match="exited with code 3"):
        wait_until_healthy(proc, "http://127.0.0.1:9", tmp_path / "log", timeout=30)


def test_the_generator_study_of_a_finished_result_is_strict_json(tiny_config, cache, mnist_dir):
    """bench/generators_bench.py's shipped entry: every generator preset against its twin, the
    rarest class's rows, the costs; NaN (no quality measured) written as null."""
    import json

    from bench import generators_bench as G
    from vaeimb.studies.experiment import run_experiment

    res = run_experiment(tiny_config, ["oversample", "cvae-remix"], seeds=[0, 1], cache=cache, data_dir=mnist_dir)
    entry = G.finite(G.study_entry(res, G.costs(res, cache), {"made": "now", "command": "c"}, {"code": "x"}))
    json.dumps(entry, allow_nan=False)
    assert [t["preset"] for t in entry["twins"]] == ["cvae-remix"] and entry["twins"][0]["twin"] == "augment-remix"
    assert entry["metric"] == "misclassified" and entry["rarest"] == {
        "label": 1, "digit": 6, "n_train": tiny_config.n_minority, "precision_target": 0.8, "recall_target": 0.3}
    assert [(c["approach"], c["digit"]) for c in entry["classes"]] == [("cvae-remix", 6)]
    assert entry["classes"][0]["precision"] is None  # quality not measured here
    (cost,) = entry["costs"]
    assert cost["preset"] == "cvae-remix" and cost["generator"] == "cvae" and cost["seeds"] == 2 and cost["fit_s"] > 0
    lines = G.twin_target_lines(res)
    assert len(lines) == 2 and lines[1].startswith("  - cvae-remix vs augment-remix: ") and "2 seeds" in lines[1]


def _tabs(one: float, two: float, same: bool = True) -> dict:
    status = "Finished: 3 loaded from cache, 12 trained"
    return {1: {"seconds": one, "each": [one], "same_table": True, "statuses": [status], "peak_pss": 1400.0,
                "processes": 2},
            2: {"seconds": two, "each": [two - 3, two], "same_table": same, "statuses": [status, status],
                "peak_pss": 1410.0, "processes": 2}}


def test_two_tabs_is_judged_on_the_median_ratio_with_every_repeat_written():
    from bench.app_memory_bench import two_tabs_table

    lines = two_tabs_table([_tabs(60, 80), _tabs(60, 66), _tabs(60, 69)])  # 1.333, 1.1, 1.15
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| repeat")]
    assert len(rows) == 3 and "| 1 | 60 | 80 (77, 80) | 1.333× | yes |" in rows[0]
    assert lines[-1].startswith("Median ratio over 3 repeat(s): **1.150×** (range 1.100-1.333)")
    assert lines[-1].endswith("**met**.")
    assert two_tabs_table([_tabs(60, 73)])[-1].endswith("**MISSED**.")  # 1.217
    assert two_tabs_table([_tabs(60, 66, same=False)])[-1].endswith("**MISSED**.")  # different tables


def test_reference_header_says_what_training_cost_even_from_a_warm_cache():
    """bench/targets.py's header carries the entries' own training seconds: a render from a
    fully cached run (as bench/reship.sh's last step) no longer reads "1 s"."""
    from types import SimpleNamespace

    from bench.targets import cost_note

    runs = {"baseline": {0: SimpleNamespace(info={"seconds": 6.4}), 1: SimpleNamespace(info={"seconds": 6.6})},
            "vae": {0: SimpleNamespace(info={"seconds": 13.0}), 1: SimpleNamespace(info={})}}
    note = cost_note(SimpleNamespace(runs=runs, cached=4), 1.2)
    assert note == "classifiers 26 s of training, one at a time; this command 1 s, 0 of 4 trained, 4 from the cache"
    assert "3 of 4 trained, 1 from the cache" in cost_note(SimpleNamespace(runs=runs, cached=1), 30.0)
