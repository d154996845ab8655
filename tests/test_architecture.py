"""The package's layers, read from its folders: every module lies in one layer folder of
``vaeimb`` (``vaeimb.LAYERS``, bottom to top), there is no import cycle, every import points
down the layers, in-function imports carry their reason, and the core knows nothing of
Streamlit or of the app."""

from __future__ import annotations

import ast
from pathlib import Path

from import_probe import heavy_modules_loaded

import vaeimb

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vaeimb"
#: The entry points above every layer: the package's lazy exports and ``python -m vaeimb``.
ENTRY = ("vaeimb", "vaeimb.__main__")
#: Why a module of the package may be imported inside a function: torch (or scipy) kept off
#: the torch-free paths (the CLI's --help, the app's first paint). Each such import names
#: its reason in a comment on its line. Named by the module's path inside its layer.
HEAVY_OK = {"executor", "experiment", "sweep", "search", "atlas", "report", "training", "models", "generators",
            "batches", "augmentations", "mixing", "losses", "decisions", "quality", "judge"}


def _layer_of(module: str) -> int:
    if module in ENTRY:
        return len(vaeimb.LAYERS)
    folder = module.split(".")[1]
    assert folder in vaeimb.LAYERS, f"{module} lies in no layer folder: move it into one of {vaeimb.LAYERS}"
    return vaeimb.LAYERS.index(folder)


def _modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        rel = f.relative_to(ROOT).with_suffix("")
        out[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = f
    return out


def _imports(mods: dict[str, Path]):
    """(importer, imported, node, inside a function, source line) for every import in the
    package; ``imported`` is the package's module when it is one, else the name imported."""
    for m, f in mods.items():
        text = f.read_text()
        lines = text.splitlines()
        tree = ast.parse(text)
        base = m.split(".") if f.name == "__init__.py" else m.split(".")[:-1]
        parents = {ch: node for node in ast.walk(tree) for ch in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mod = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else (node.module or "")
                # ``from . import x`` imports the module x when there is one, else a name of ``mod``
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in mods else mod for a in node.names]
            else:
                continue
            p, inside = parents.get(node), False
            while p is not None:
                inside |= isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef))
                p = parents.get(p)
            for raw in targets:
                t = raw
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t != m:  # a module of the package, else the raw name (streamlit, torch, ...)
                    yield m, t or raw, node, inside, lines[node.lineno - 1]


def _edges() -> dict[str, set[str]]:
    mods = _modules()
    edges = {m: set() for m in mods}
    for m, t, *_ in _imports(mods):
        if t in mods:
            edges[m].add(t)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_inside_functions_included():
    assert _cycles(_edges()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_module_lies_in_a_layer_folder_and_every_folder_is_a_layer():
    loose = [m for m in _modules() if m not in ENTRY and m.split(".")[1] not in vaeimb.LAYERS]
    assert not loose, f"modules outside the layer folders {vaeimb.LAYERS}: {loose}"
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(vaeimb.LAYERS), "a package folder of vaeimb is a layer, and every layer a folder"


def test_every_import_points_down_the_layers():
    wrong = []
    for m, targets in _edges().items():
        for t in targets:
            if _layer_of(t) > _layer_of(m):
                wrong.append(f"{m} (layer {_layer_of(m)}) imports {t} (layer {_layer_of(t)})")
    assert not wrong, "\n".join(wrong)


def test_the_layer_check_catches_an_upward_import():
    assert _layer_of("vaeimb.parts.generators.vae") < _layer_of("vaeimb.running.runner") < _layer_of("vaeimb")


def test_imports_inside_functions_are_heavy_ones_with_their_reason():
    bad = []
    for m, t, node, inside, line in _imports(_modules()):
        if not inside or not t.startswith("vaeimb.") or t.split(".")[:3] == m.split(".")[:3]:
            continue  # inside one module family (parts.generators.*) is not an upward reach
        if t.split(".")[2] not in HEAVY_OK:
            bad.append(f"{m}: {line.strip()} (not a heavy module)")
        elif "#" not in line and m != "vaeimb.running.recipes":  # recipes.part_class says why in its docstring
            bad.append(f"{m}: {line.strip()} (no reason comment)")
    assert not bad, "\n".join(bad)


def test_the_core_knows_nothing_of_streamlit_or_the_app():
    for m, t, *_ in _imports(_modules()):
        assert not t.startswith(("streamlit", "vaeimb_app", "bench")), f"{m} imports {t}"


def test_the_help_path_the_table_readers_and_the_cache_read_path_stay_torch_free():
    """--help, the atlas table, and everything a run whose results are all cached imports:
    the part families' declarations, the runner, the executor, the experiment, the report
    (torch loads only where something computes; tests/test_torch_free_cli.py runs it)."""
    code = ("import vaeimb.interfaces.cli, vaeimb.studies.atlas, vaeimb.running.recipes, vaeimb.declarations.jobs, vaeimb.parts.sources; "
            "import vaeimb.parts.generators, vaeimb.parts.losses, vaeimb.parts.batches, vaeimb.parts.augmentations; "
            "import vaeimb.parts.mixing, vaeimb.parts.decisions, vaeimb.parts.training, vaeimb.running.runner; "
            "import vaeimb.running.executor, vaeimb.studies.experiment, vaeimb.studies.sweep, vaeimb.presentation.report; "
            "vaeimb.interfaces.cli.build_parser().format_help()")
    assert heavy_modules_loaded(code) == []
