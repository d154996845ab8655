"""The documentation: a short README that is a front door (both commands, at most 200 lines),
every relative link of README.md and docs/*.md leading somewhere that exists, and the
architecture page naming every module of ``vaeimb`` that is on disk."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import tables  # noqa: E402

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
#: The README's two commands, exactly as a newcomer copies them.
APP_COMMAND = ("python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && "
               ".venv/bin/streamlit run app.py")
TEST_COMMAND = "bash scripts/test.sh"
README_MAX_LINES = 200


# ---- a link checker: markdown links and images, with GitHub's heading anchors -------------------
FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, inline code removed."""
    out, fenced = [], False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((n, re.sub(r"`[^`]*`", "", line)))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: markup dropped, lower case, punctuation removed, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor (a repeated one gets -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    out = set()
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        m = None if fenced else HEADING.match(line)
        if m:
            base = slug(m.group(2))
            k = seen.get(base, 0)
            out.add(base if k == 0 else f"{base}-{k}")
            seen[base] = k + 1
    return out


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """'file:line: target (why)' for each relative link of ``path`` that leads nowhere: a file
    that does not exist, or an anchor that no heading of its target file has."""
    text = path.read_text()
    out = []
    for n, line in _prose_lines(text):
        for m in LINK.finditer(line):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(root)}:{n}: {target}"
            if not dest.exists():
                out.append(f"{where} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text()):
                out.append(f"{where} (no heading #{anchor} in {dest.relative_to(root)})")
    return out


# ---- the README -------------------------------------------------------------------------------
def test_the_readme_is_short_and_holds_both_commands():
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES, "README.md is a front door: move detail into docs/"
    assert APP_COMMAND in text
    assert f"```bash\n{TEST_COMMAND}\n```" in text
    assert "docs/screenshots/experiment.png" in text


def test_the_readme_links_into_every_page_of_docs():
    text = README.read_text()
    assert DOCS, "docs/*.md missing"
    for page in DOCS:
        if page.name != "index.md":
            assert f"(docs/{page.name}" in text, f"README.md does not link to docs/{page.name}"


# ---- links ------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [README, ROOT / "BENCHMARKS.md", *DOCS], ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(path):
    assert broken_links(path) == []


def test_the_link_checker_finds_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("# Title\n\n## The ten-digit long tail (DeepSMOTE's protocol)\n")
    page = tmp_path / "a.md"
    page.write_text("# A\n\n## Same\n\n## Same\n\nSee [b](docs/b.md#the-ten-digit-long-tail-deepsmotes-protocol), "
                    "[here](#same-1), [web](https://example.org/x.md#nowhere) and `[code](nowhere.md)`.\n"
                    "```text\n[fenced](nowhere.md)\n```\n"
                    "But [gone](docs/c.md), [no anchor](docs/b.md#the-long-tail), [self](#same-2) and "
                    "![img](docs/missing.png).\n")
    assert broken_links(page, tmp_path) == [
        "a.md:11: docs/c.md (no such file)",
        "a.md:11: docs/b.md#the-long-tail (no heading #the-long-tail in docs/b.md)",
        "a.md:11: #same-2 (no heading #same-2 in a.md)",
        "a.md:11: docs/missing.png (no such file)",
    ]


# ---- the architecture page names every module -------------------------------------------------
def _block(text: str, name: str) -> str:
    m = re.search(rf"<!-- begin table:{name} -->\n(.*?)<!-- end table:{name} -->", text, re.S)
    assert m, f"no block {name}"
    return m.group(1)


def named_modules(block: str, layers) -> set[str]:
    """The paths under vaeimb/ that the architecture block names: each layer's modules, its
    folders' modules nested under them, and the entry points above the layers."""
    names, layer, folder = set(), None, None
    for line in block.splitlines():
        head = re.match(r"^\*\*\d+\. `(\w+)/`\*\*", line)
        if head:
            layer, folder = head.group(1), None
            continue
        if line.startswith("**Above every layer**"):
            layer, folder = "", None
            continue
        top = re.match(r"^- `([\w.]+/?)` — \S", line)
        nested = re.match(r"^  - `([\w.]+)` — \S", line)
        prefix = f"{layer}/" if layer else ""
        if top:
            entry = top.group(1)
            if entry.endswith("/"):
                folder = f"{prefix}{entry}"
                names.add(f"{folder}__init__.py")
            else:
                names.add(f"{prefix}{entry}")
        elif nested:
            assert folder, f"a nested module outside a folder: {line}"
            names.add(f"{folder}{nested.group(1)}")
    assert set(layers) >= {n.split("/")[0] for n in names if "/" in n}
    return names


def modules_on_disk(package: Path, layers) -> set[str]:
    """Every .py file of the package, the layers' own ``__init__.py`` aside (a layer is
    described by its line in the package's docstring)."""
    return {p.relative_to(package).as_posix() for p in package.rglob("*.py")
            if "__pycache__" not in p.parts and p.relative_to(package).as_posix() not in
            {f"{layer}/__init__.py" for layer in layers}}


def test_the_architecture_page_names_every_module_of_vaeimb():
    layers, _ = tables.layers_of(ROOT / "vaeimb")
    block = _block((ROOT / tables.ARCHITECTURE).read_text(), "architecture")
    on_disk = modules_on_disk(ROOT / "vaeimb", layers)
    named = named_modules(block, layers)
    assert on_disk - named == set(), "modules missing from docs/architecture.md: run python bench/tables.py"
    assert named - on_disk == set(), "docs/architecture.md names modules that are gone: run python bench/tables.py"
    for k, layer in enumerate(layers, 1):  # bottom first, as vaeimb.LAYERS
        assert f"**{k}. `{layer}/`**" in block


def _package_copy(tmp_path: Path) -> Path:
    package = tmp_path / "vaeimb"
    shutil.copytree(ROOT / "vaeimb", package, ignore=shutil.ignore_patterns("__pycache__", "shipped"))
    return package


def test_a_new_module_is_listed_and_one_without_a_docstring_stops_the_script(tmp_path):
    package = _package_copy(tmp_path)
    layers, _ = tables.layers_of(package)
    (package / "studies" / "novel.py").write_text('"""A novel study: what it does. More words."""\n')
    sources = tables.Sources(package=package)
    block = tables.architecture_block(sources)
    assert "- `novel.py` — A novel study: what it does" in block
    assert named_modules(block, layers) == modules_on_disk(package, layers)
    # the committed page no longer matches: the table check names the block
    text = (ROOT / tables.ARCHITECTURE).read_text()
    assert tables.rewrite(text, tables.ARCHITECTURE, sources).changed == ["architecture"]
    (package / "parts" / "generators" / "bare.py").write_text("import math\n")
    with pytest.raises(tables.TablesError, match=r"generators/bare\.py has no docstring"):
        tables.architecture_block(tables.Sources(package=package))


def test_a_layer_without_its_line_in_the_package_docstring_is_refused(tmp_path):
    package = _package_copy(tmp_path)
    init = package / "__init__.py"
    init.write_text(init.read_text().replace("- ``studies``:", "- studies:"))
    with pytest.raises(tables.TablesError, match="for layer\\(s\\) studies"):
        tables.layers_of(package)


def test_a_summary_is_the_docstrings_first_sentence(tmp_path):
    def summary(doc):
        p = tmp_path / "m.py"
        p.write_text(f'"""{doc}"""\n')
        return tables.docstring_summary(p)

    assert summary("One line. Another sentence.\n\nBody.") == "One line"
    assert summary("Wrapped over\ntwo lines, with ``code`` and a label-\nwrapped word.") == \
        "Wrapped over two lines, with `code` and a label-wrapped word"
    assert summary("A longer head (a: b; c): " + "x " * 120 + "end.") == "A longer head (a: b; c)"
