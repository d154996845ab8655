"""bench/tables.py: every results table of README.md, docs/*.md and BENCHMARKS.md is written
from the shipped JSON (the architecture page's from the code), best first, and the committed
text is what the script writes."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import tables  # noqa: E402
from vaeimb.declarations.errors import VaeimbError  # noqa: E402
from vaeimb.presentation.reference import (  # noqa: E402
    metric_per_seed,
    other_test_sets,
    reference_rows,
)


RESULTS = tables.RESULTS  # docs/results.md: the results tables


@pytest.fixture(scope="module")
def sources():
    return tables.Sources()


def _copy_docs(tmp_path: Path) -> None:
    """README.md, BENCHMARKS.md and docs/*.md, copied under ``tmp_path`` as they are."""
    for name in tables.doc_files(ROOT):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((ROOT / name).read_text())


def _block(text: str, name: str) -> str:
    m = re.search(rf"<!-- begin table:{name} -->\n(.*?)<!-- end table:{name} -->", text, re.S)
    assert m, f"no block {name}"
    return m.group(1)


def _first_column(markdown: str) -> list[str]:
    rows = [line for line in markdown.splitlines() if line.startswith("| ")][1:]
    return [row.split("|")[1].strip() for row in rows]


# ---- 1. the committed text is what the script writes ---------------------------------------
def test_committed_readme_docs_and_benchmarks_equal_what_the_script_writes(sources):
    code, report = tables.run(ROOT, check=True, sources=sources)
    assert code == 0, "\n".join(report)


def test_the_check_covers_every_docs_page_and_every_block_has_its_file():
    files = tables.doc_files(ROOT)
    assert files[:2] == ("README.md", "BENCHMARKS.md")
    assert set(files[2:]) == {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert {RESULTS, tables.ARCHITECTURE} <= set(files)
    for name, spec in tables.BLOCKS.items():
        assert set(spec.files) <= set(files), f"table:{name} must be in {spec.files}"


def test_a_stale_block_in_a_docs_page_is_caught(sources, tmp_path):
    _copy_docs(tmp_path)
    page = tmp_path / RESULTS
    text = page.read_text()
    block = _block(text, "atlas")
    row = next(line for line in block.splitlines() if line.startswith("| `vae` vs `oversample` |"))
    page.write_text(text.replace(row, row.replace("better on ", "better on 1", 1)))
    code, report = tables.run(tmp_path, check=True, sources=sources)
    assert code == 1 and f"{RESULTS}: table:atlas differs from what bench/tables.py writes" in report
    assert tables.run(tmp_path, sources=sources)[0] == 0  # rewritten: the number is back
    assert page.read_text() == text


def test_a_missing_docs_page_is_named(sources, tmp_path):
    _copy_docs(tmp_path)
    (tmp_path / tables.ARCHITECTURE).unlink()
    with pytest.raises(tables.TablesError, match="docs/architecture.md missing: docs/architecture.md must hold "
                                                 "architecture, app-layout"):
        tables.run(tmp_path, check=True, sources=sources)


def test_a_number_edited_by_hand_is_caught(sources, tmp_path):
    text = (ROOT / RESULTS).read_text()
    block = _block(text, "reference-mlp")
    row = next(line for line in block.splitlines() if line.startswith("| augment-posthoc |"))
    edited = text.replace(row, row.replace("| augment-posthoc | ", "| augment-posthoc | 1", 1))
    assert edited != text
    res = tables.rewrite(edited, RESULTS, sources)
    assert res.changed == ["reference-mlp"]
    assert res.text == tables.rewrite(text, RESULTS, sources).text  # the script puts the number back
    # the command line says which block differs, exits 1 and writes nothing
    _copy_docs(tmp_path)
    (tmp_path / RESULTS).write_text(edited)
    code, report = tables.run(tmp_path, check=True, sources=sources)
    assert code == 1
    assert any(f"{RESULTS}: table:reference-mlp differs" in line for line in report)
    assert (tmp_path / RESULTS).read_text() == edited
    # without --check it rewrites the block, and then the check passes
    assert tables.run(tmp_path, sources=sources)[0] == 0
    assert tables.run(tmp_path, check=True, sources=sources)[0] == 0
    assert _block((tmp_path / RESULTS).read_text(), "reference-mlp") == _block(text, "reference-mlp")


def test_the_readme_summary_is_checked_too(sources):
    from vaeimb.presentation.reference import reference_verdict

    text = (ROOT / "README.md").read_text()
    summary = _block(text, "summary")
    for entry in sources.reference["classifiers"].values():  # each classifier's best, from the JSON
        assert f"`{reference_verdict(entry).best}`" in summary
    number = re.search(r"\d+\.\d", summary).group(0)
    edited = text.replace(summary, summary.replace(number, number + "1", 1))
    assert edited != text
    assert tables.rewrite(edited, "README.md", sources).changed == ["summary"]


def test_text_outside_the_blocks_is_left_alone(sources):
    text = (ROOT / "README.md").read_text()
    res = tables.rewrite(text.replace("## Data\n", "## Data, edited\n"), "README.md", sources)
    assert res.changed == [] and "## Data, edited\n" in res.text


# ---- 2. best first ------------------------------------------------------------------------
def test_reference_tables_list_the_best_first(sources):
    for clf, entry in sources.reference["classifiers"].items():
        names = _first_column(tables.reference_block(entry, clf))
        means = {r["approach"]: r["misclassified"] for r in reference_rows(entry)}
        assert [means[n] for n in names] == sorted(means[n] for n in names)
    results = (ROOT / RESULTS).read_text()
    mlp = _first_column(_block(results, "reference-mlp"))
    assert mlp.index("la-augment") < mlp.index("vae")  # 38.4 before 48.8: the example


def test_an_unsorted_entry_comes_out_best_first():
    entry = {"label": "toy", "n_test": 100, "bounds": ["oracle"], "twins": {}, "recipes": {},
             "per_seed": {"b": {"0": 30, "1": 32}, "oracle": {"0": 5, "1": 6}, "a": {"0": 10, "1": 12},
                          "c": {"0": 20, "1": 22}}}
    assert _first_column(tables.reference_block(entry, "mlp")) == ["oracle", "a", "c", "b"]


def _longtail_entry() -> dict:
    acsa = {"baseline": [0.92, 0.93, 0.91], "augment": [0.97, 0.96, 0.97], "oracle": [0.98, 0.985, 0.98],
            "cvae": [0.87, 0.88, 0.86], "smote": [0.915, 0.925, 0.91]}
    per = {a: {str(s): {"balanced_accuracy": v, "g_mean": v + 0.01, "macro_f1": v - 0.01,
                        "balanced_accuracy@imbalanced": v - 0.02, "misclassified": round((1 - v) * 8920)}
               for s, v in enumerate(vals)} for a, vals in acsa.items()}
    return {"label": "all ten digits", "n_test": 8920, "bounds": ["oracle"], "leaky": [],
            "config": {"n_head": 4000, "counts": ""},
            "recipes": {"baseline": "data=real", "augment": "data=real,batches=balanced,aug=affine",
                        "oracle": "data=oracle", "cvae": "data=generated,gen=cvae", "smote": "data=generated,gen=smote"},
            "twins": {"cvae": "baseline", "smote": "baseline"},
            "per_seed": {a: {s: m["misclassified"] for s, m in by.items()} for a, by in per.items()},
            "per_seed_metrics": per}


def test_the_longtail_table_lists_the_best_acsa_first_from_a_compact_entry():
    entry = _longtail_entry()
    assert other_test_sets(entry) == ["imbalanced"]
    table = tables.longtail_table(entry)
    names = [n.split(" (")[0] for n in _first_column(table)]
    assert names == ["oracle", "augment", "baseline", "smote", "cvae"]
    header = table.splitlines()[0]
    assert "ACSA, imbalanced test %" in header and "seeds" in header and "95 % CI" in header
    row = next(line for line in table.splitlines() if line.startswith("| augment |"))
    assert "**96.67 ± 0.58**" in row and row.rstrip(" |").endswith("3")  # the best realistic ACSA, bold; 3 seeds
    assert "oracle (every digit at 4000 real images)" in table
    words = tables.longtail_findings(entry)
    assert "`augment`" in words and "missed" in words and "`cvae`" in words and "DeepSMOTE's 96.09" in words


def test_longtail_blocks_wait_for_the_shipped_json(tmp_path):
    absent = tables.Sources(longtail=tmp_path / "absent.json")
    assert absent.longtail is None and tables.BLOCKS["longtail"].render(absent) is None
    edited = "x\n<!-- begin table:longtail-findings -->\nkept as it is\n<!-- end table:longtail-findings -->\n"
    res = tables.rewrite(edited, "BENCHMARKS.md", absent)  # BENCHMARKS.md holds this block only
    assert res.skipped == ["longtail-findings"] and res.changed == [] and res.text == edited
    path = tmp_path / "reference_longtail.json"
    path.write_text(json.dumps({"classifiers": {"cnn": _longtail_entry()}, "command": "x", "measured": "y"}))
    shipped = tables.Sources(longtail=path)
    assert tables.BLOCKS["longtail"].render(shipped) == tables.longtail_table(_longtail_entry())
    res = tables.rewrite(edited, "BENCHMARKS.md", shipped)
    assert res.changed == ["longtail-findings"] and "kept as it is" not in res.text and "`augment`" in res.text


def test_an_entry_without_per_seed_metrics_says_what_compact_must_keep():
    entry = _longtail_entry()
    del entry["per_seed_metrics"]
    assert metric_per_seed(entry, "misclassified")["oracle"]
    with pytest.raises(VaeimbError, match="per_seed_metrics"):
        metric_per_seed(entry, "balanced_accuracy")


# ---- 3. bad or missing markers ----------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("a\n<!-- begin table:atlas-->\nx\n<!-- end table:atlas -->\n", r"<text>:2: malformed table marker"),
    ("<!-- begin table:Atlas -->\nx\n<!-- end table:Atlas -->\n", r":1: malformed"),
    ("x\n<!-- end table:atlas -->\n", r":2: 'end table:atlas' without its"),
    ("<!-- begin table:atlas -->\nx\n", r":1: table:atlas is never closed"),
    ("<!-- begin table:atlas -->\n<!-- begin table:longtail -->\n", r":2: 'begin table:longtail' inside table:atlas"),
    ("<!-- begin table:atlas -->\n<!-- end table:longtail -->\n", r":2: 'end table:longtail' closes table:atlas"),
    ("<!-- begin table:atlas -->\n<!-- end table:atlas -->\n<!-- begin table:atlas -->\n<!-- end table:atlas -->\n",
     r":3: table:atlas appears twice"),
])
def test_bad_markers_are_named_with_their_line(text, message):
    with pytest.raises(tables.TablesError, match=message):
        tables.find_blocks(text)


def test_unknown_missing_and_misplaced_blocks_are_refused(sources):
    results = (ROOT / RESULTS).read_text()
    with pytest.raises(tables.TablesError, match="unknown table block.*nonsense"):
        tables.rewrite(results + "<!-- begin table:nonsense -->\n<!-- end table:nonsense -->\n", RESULTS, sources)
    dropped = results.replace("<!-- begin table:atlas -->\n", "").replace("<!-- end table:atlas -->\n", "")
    with pytest.raises(tables.TablesError, match=f"{RESULTS}: no block for atlas"):
        tables.rewrite(dropped, RESULTS, sources)
    for name in ("BENCHMARKS.md", "README.md", "docs/cli.md"):
        with pytest.raises(tables.TablesError, match=f"belong in {RESULTS}"):
            tables.rewrite((ROOT / name).read_text() + "<!-- begin table:atlas -->\n<!-- end table:atlas -->\n",
                           name, sources)


def test_the_command_line_reports_a_bad_marker_in_one_line(tmp_path, capsys, monkeypatch):
    _copy_docs(tmp_path)
    (tmp_path / RESULTS).write_text((ROOT / RESULTS).read_text() + "\n<!-- end table:atlas -->\n")
    assert tables.main(["--check", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {RESULTS}:") and "'end table:atlas' without its" in err


def test_the_benchmark_sections_keep_their_own_markers():
    """bench/common.py's sections (<!-- begin NAME -->) and the table blocks do not overlap."""
    for name in tables.doc_files(ROOT):
        text = (ROOT / name).read_text()
        blocks = tables.find_blocks(text, name)
        sections = [(m.start(), m.end()) for m in re.finditer(r"<!-- begin (?!table:)(\S+) -->.*?<!-- end \1 -->",
                                                              text, re.S)]
        for b in blocks:
            assert not any(lo <= b.start <= hi for lo, hi in sections), f"{name}: table:{b.name} inside a section"


def test_the_generator_study_block_is_written_from_the_study(tmp_path):
    from test_generator_study import ENTRY

    from vaeimb.presentation.reference import study_findings

    assert tables.Sources(study=tmp_path / "absent.json").render("generator-study") is None
    path = tmp_path / "study.json"
    entry = {**ENTRY, "costs": [{"preset": "cvae-plus-remix", "generator": "cvae", "fit_s": 151.2,
                                 "fit_s_per_class": 16.8, "filter_s": 9.0, "classifier_s": 44.0, "seeds": 5}]}
    path.write_text(json.dumps({"longtail-cnn": entry}))
    text = tables.Sources(study=path).render("generator-study")
    flat = " ".join(text.split())
    assert flat.startswith("**the ten-digit long tail (DeepSMOTE's counts), small CNN** (5 paired seeds, measured "
                           "2026-12-07 01:00 UTC on AMD EPYC, code abc): No learned generator beats")
    assert " ".join(study_findings(entry)[1][0].split()) in flat
    assert "Generator fit per run: cvae-plus-remix 151 s (17 s per class)." in flat
    assert "Quality against gain, class by class, for cvae-plus-remix" in text
    assert "| 9 | 40 | 0.83 | 0.36 | 20 | +0.40 [\u22121.00, +1.00] |" in text
    assert "| 8 | 40 | n/a | n/a | 20 | n/a [n/a, n/a] |" in text
