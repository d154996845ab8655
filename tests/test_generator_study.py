"""The shipped generator study (issue #23): its readers, its sentences, and the About page."""

from __future__ import annotations

import copy
import json

import pytest
from app_session import APP, TIMEOUT
from streamlit.testing.v1 import AppTest

import vaeimb.presentation.reference as R
from vaeimb.declarations.errors import VaeimbError
from vaeimb.presentation.reference import (
    load_generator_study,
    study_classes,
    study_findings,
)


def twin(preset: str, mean: float, lo: float, hi: float, p: float, separated: bool, wins: int = 2) -> dict:
    return {"preset": preset, "twin": "augment-remix", "generator": "cvae", "mean": mean, "ci_low": lo, "ci_high": hi,
            "n_seeds": 5, "wins": wins, "p_adjusted": p, "separated": separated, "helps": mean > 0}


def klass(approach: str, label: int, digit: int, precision, recall, gain, lo=-0.01, hi=0.01) -> dict:
    return {"approach": approach, "generator": "cvae", "twin": "augment-remix", "label": label, "digit": digit,
            "n_train": 40, "precision": precision, "recall": recall, "frechet": 20.4, "class_recall": 0.95,
            "twin_class_recall": None if gain is None else 0.95 - gain, "gain": gain, "gain_ci_low": lo, "gain_ci_high": hi, "seeds": 5,
            "quality_seeds": 5}


ENTRY = {
    "measured": "2026-12-07 01:00 UTC", "command": "python bench/generators_bench.py longtail --ship x",
    "environment": {"code": "abc", "threads": 1, "device": "cpu", "cpu": "AMD EPYC"}, "label": "long tail",
    "seeds": [0, 1, 2, 3, 4], "metric": "balanced_accuracy", "correction": "Holm",
    "twins": [twin("cvae-plus-remix", -0.0012, -0.004, 0.0016, 0.62, False),
              twin("cvae-remix", -0.05, -0.06, -0.04, 0.001, True, wins=0)],
    "rarest": {"label": 9, "digit": 9, "n_train": 40, "precision_target": 0.8, "recall_target": 0.3},
    "classes": [klass("cvae-plus-remix", 9, 9, 0.83, 0.36, 0.004), klass("cvae-remix", 9, 9, 0.2, 0.18, -0.1),
                klass("cvae-plus-remix", 8, 8, None, None, None, None, None)],
    "costs": [],
}


def test_nothing_shipped_is_empty_and_a_broken_file_one_clear_error(tmp_path):
    assert load_generator_study(tmp_path / "absent.json") == {}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"longtail-cnn": {"twins": []}}))
    with pytest.raises(VaeimbError, match="generator study .* is unreadable .*rerun bench/generators_bench.py"):
        load_generator_study(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"longtail-cnn": ENTRY}))
    assert load_generator_study(good) == {"longtail-cnn": ENTRY}


def test_no_winner_says_no_with_the_quality_evidence():
    head, lines = study_findings(ENTRY)
    assert head.startswith("No learned generator beats its generator-free twin after Holm's correction")
    assert "reach the bar (precision >= 0.8 with recall >= 0.3) with cvae-plus-remix" in head
    assert "better images did not make a better classifier" in head
    assert lines[0] == ("cvae-plus-remix vs its twin augment-remix: -0.12 [-0.40, +0.16] ACSA points, the generator "
                        "better in 2 of 5 seeds, Holm-adjusted p 0.620: not separated.")
    assert lines[1].endswith("Holm-adjusted p 0.001: worse, separated.")
    assert ("cvae-remix: its digit-9 images (40 real ones to learn from) judged precision 0.20, recall 0.18, Fréchet 20; "
            "that class's test recall -10.00 points over the twin.") in lines
    assert len(lines) == 4  # the class without quality figures is left out


def test_a_separated_gain_is_named_and_a_missed_bar_said():
    entry = copy.deepcopy(ENTRY)
    entry["twins"][0].update(mean=0.004, ci_low=0.002, ci_high=0.006, p_adjusted=0.01, separated=True, helps=True)
    entry["classes"][0]["precision"] = 0.79
    head, lines = study_findings(entry)
    assert head.startswith("cvae-plus-remix beats the strongest generator-free twin after Holm's correction.")
    assert "No generator's rarest-class images reach precision >= 0.8 with recall >= 0.3" in head
    assert lines[0].endswith("better, separated.")


def test_pair_differences_are_in_misclassified():
    entry = copy.deepcopy(ENTRY)
    entry.update(metric="misclassified")
    entry["twins"][0].update(mean=3.4, ci_low=-1.0, ci_high=7.8)
    assert "+3.4 [-1.0, +7.8] misclassified" in study_findings(entry)[1][0]


def test_class_rows_show_quality_beside_the_gain():
    rows = study_classes(ENTRY)
    assert rows[0] == {"preset": "cvae-plus-remix", "digit": 9, "real training images": 40, "precision": "0.83",
                       "recall": "0.36", "Fréchet": "20", "test recall gain (points)": "+0.40 [-1.00, +1.00]", "seeds": 5}
    assert rows[2]["precision"] == "n/a" and rows[2]["test recall gain (points)"] == "n/a [n/a, n/a]"


def test_the_about_page_states_the_study(monkeypatch, tmp_path):
    path = tmp_path / "study.json"
    path.write_text(json.dumps({"longtail-cnn": ENTRY}))
    monkeypatch.setattr(R, "GENERATOR_STUDY_FILE", path)
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    app.switch_page("pages/4_about.py").run()
    assert not app.exception
    text = "\n".join(m.value for m in app.markdown)
    assert study_findings(ENTRY)[0] in text
    assert any("the ten-digit long tail" in h.value for h in app.subheader)
    assert any("precision" in df.value.columns and list(df.value["precision"]) == ["0.83", "0.20", "n/a"]
               for df in app.dataframe)
    monkeypatch.setattr(R, "GENERATOR_STUDY_FILE", tmp_path / "none.json")
    app.switch_page("pages/4_about.py").run()
    assert any("No generator study is shipped yet" in m.value for m in app.info)


def test_a_shipped_result_is_reported_without_torch():
    """Quality keyed by the generator's values must not make the server import torch to draw a
    result whose generators all ran at their defaults (the shipped first view)."""
    import subprocess
    import sys

    code = ("import sys\nfrom vaeimb.presentation import report\nfrom vaeimb.running import result_files\nres = result_files.load_result()\n"
            "assert res.quality and all('[' not in g for g, _ in res.quality)\n"
            "report.format_table(res); report.quality_points(res); report.to_json_dict(res)\n"
            "assert res.quality_of('vae', 0) is not None\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("NO-TORCH")
