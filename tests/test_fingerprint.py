"""The code fingerprint in every cache key: what Python runs, not how the file looks.

Each test copies the modules that decide results into a temporary package, edits the copy
and compares the fingerprint (and a cache key made with it) with the original's.
"""

from __future__ import annotations

import ast
import re
import shutil

import pytest

from vaeimb.declarations import provenance as P
from vaeimb.declarations.config import stable_hash
from vaeimb.studies import quality


@pytest.fixture
def package(tmp_path):
    """A copy of every module in RESULT_MODULES (the same relative paths)."""
    root = tmp_path / "vaeimb"
    for name in P.RESULT_MODULES:
        src, dst = P.PACKAGE_DIR / name, root / name
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    return root


def _key(monkeypatch, package_dir) -> str:
    """A cache key as the runner makes one, with the fingerprint of ``package_dir``."""
    monkeypatch.setattr(P, "code_fingerprint", lambda: P.fingerprint_of(package_dir, P.RESULT_MODULES))
    return stable_hash("classifier", {"approach": "focal"}, 0)


def test_the_copy_has_the_package_fingerprint(package):
    assert P.fingerprint_of(package, P.RESULT_MODULES) == P.code_fingerprint()
    assert all((P.PACKAGE_DIR / name).exists() for name in P.RESULT_MODULES)


def test_reformatting_every_module_changes_no_key(package, monkeypatch):
    before = _key(monkeypatch, package)
    for f in package.rglob("*.py"):
        # ast.unparse rewrites the layout: quotes, line breaks, parentheses; comments vanish
        f.write_text(ast.unparse(ast.parse(f.read_text())) + "\n")
    assert _key(monkeypatch, package) == before


def test_editing_a_docstring_or_a_comment_changes_no_key(package, monkeypatch):
    before = _key(monkeypatch, package)
    focal = package / "parts" / "losses" / "focal.py"
    text = focal.read_text()
    edited = (text.replace('"""Focal loss (Lin', '"""The focal loss (Lin', 1)
              .replace("    name = \"focal\"", "    # a new comment\n    name = \"focal\"  # and another", 1)
              .replace("    def _loss(", "    def _loss(\n", 1))
    assert "# a new comment" in edited and "# and another" in edited and "The focal loss" in edited
    focal.write_text(edited)
    assert _key(monkeypatch, package) == before


def test_changing_a_default_of_a_recipe_part_changes_the_key(package, monkeypatch):
    before = _key(monkeypatch, package)
    focal = package / "parts" / "losses" / "focal.py"
    text = focal.read_text()
    assert 'Param("gamma", 2.0,' in text
    focal.write_text(text.replace('Param("gamma", 2.0,', 'Param("gamma", 2.5,'))
    assert _key(monkeypatch, package) != before


def test_a_constant_changed_inside_a_function_changes_the_fingerprint(package):
    before = P.fingerprint_of(package, P.RESULT_MODULES)
    tuned = package / "parts" / "decisions" / "tuned.py"
    text = tuned.read_text()
    assert "- 1.0" in text
    tuned.write_text(text.replace("- 1.0", "- 2.0", 1))
    assert P.fingerprint_of(package, P.RESULT_MODULES) != before


def test_a_missing_module_is_an_error_not_a_silent_gap(package):
    with pytest.raises(FileNotFoundError, match="RESULT_MODULES"):
        P.fingerprint_of(package, (*P.RESULT_MODULES, "no_such_module.py"))


def test_the_quality_fingerprint_hashes_code_the_same_way(tmp_path):
    for name in quality.QUALITY_MODULES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((P.PACKAGE_DIR / name).read_text())
    judge = tmp_path / "parts" / "judge.py"
    text = judge.read_text()
    judge.write_text("# a comment\n" + text.replace('"""The judge:', '"""The judge, really:', 1))
    assert P.fingerprint_of(tmp_path, quality.QUALITY_MODULES) == quality.quality_fingerprint()
    judge.write_text(text.replace("JUDGE_EPOCHS = 2", "JUDGE_EPOCHS = 3"))
    assert P.fingerprint_of(tmp_path, quality.QUALITY_MODULES) != quality.quality_fingerprint()


def _move(package, src: str, dst: str) -> None:
    """Move module ``src`` to ``dst`` (paths in the package) and rewrite every import of it,
    as a pure move of the package's folders does."""
    old, new = src.removesuffix(".py").replace("/", "."), dst.removesuffix(".py").replace("/", ".")
    (package / dst).parent.mkdir(parents=True, exist_ok=True)
    (package / src).rename(package / dst)
    for f in package.rglob("*.py"):
        text = f.read_text()
        # every import of the moved module (relative or absolute) now names its new path
        text = re.sub(rf"from (\.+|vaeimb\.)([\w.]*\.)?{old.rpartition('.')[2]} import", f"from vaeimb.{new} import", text)
        f.write_text(text)


def test_a_pure_move_or_rename_of_a_module_keeps_the_fingerprint(package):
    before = P.fingerprint_of(package, P.RESULT_MODULES)
    _move(package, "parts/metrics.py", "statistics/scores.py")
    moved = [m.replace("parts/metrics.py", "statistics/scores.py") for m in P.RESULT_MODULES]
    assert any("from vaeimb.statistics.scores import" in f.read_text() for f in package.rglob("*.py"))
    assert P.fingerprint_of(package, moved) == before


def test_the_code_of_a_moved_module_still_counts(package):
    _move(package, "parts/metrics.py", "statistics/scores.py")
    moved = [m.replace("parts/metrics.py", "statistics/scores.py") for m in P.RESULT_MODULES]
    before = P.fingerprint_of(package, moved)
    scores = package / "statistics" / "scores.py"
    text = scores.read_text()
    assert "minlength=len(values)" in text
    scores.write_text(text.replace("minlength=len(values)", "minlength=len(values) + 1", 1))
    assert P.fingerprint_of(package, moved) != before
