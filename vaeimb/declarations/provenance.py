"""Where a result was computed: code fingerprint, versions, threads, device.

The fingerprint enters every cache key, so a change to the code of any module that decides
numbers is never served stale results (while reformatting it, or editing a comment or a
docstring, keeps them); the environment travels in every run's ``info`` and in the exports.
"""

from __future__ import annotations

import ast
import datetime
import functools
import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Iterable

from .jobs import Identity
from .locations import PACKAGE_DIR, user_cache_root
from .version import __version__

#: Modules (files or folders of the package) whose code decides the numbers. Reports,
#: figures, the CLI and the app only show them.
RESULT_MODULES = (
    "declarations/config.py", "declarations/protocols.py", "declarations/params.py", "declarations/part.py",
    "declarations/digits.py", "declarations/datasets.py", "declarations/task_kinds",
    "parts/data.py", "parts/own_images.py", "parts/models.py", "parts/training.py", "parts/metrics.py",
    "parts/sources", "parts/generators", "parts/losses", "parts/decisions", "parts/augmentations", "parts/batches",
    "parts/mixing",
    "running/recipes.py", "running/runner.py",
)


#: The file (under the user cache) that keeps each module's code digest by its bytes' hash.
DIGESTS_FILE = "code-digests.json"
#: At most this many digests are kept there (a few checkouts' worth).
DIGESTS_KEPT = 2000


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A short hash of the parsed code of every module in ``RESULT_MODULES``. Each file's
    digest is kept in the user cache by the hash of its bytes (``DIGESTS_FILE``): parsing
    every module takes a quarter of a second, reading them a few milliseconds."""
    return fingerprint_of(PACKAGE_DIR, RESULT_MODULES, kept=user_cache_root() / DIGESTS_FILE)


def fingerprint_of(package_dir: str | os.PathLike, modules: Iterable[str], *, kept: Path | None = None) -> str:
    """A short hash of the parsed code of ``modules`` (files or folders of ``package_dir``).

    It hashes what Python runs, not the text: reformatting a module or editing a comment or
    a docstring keeps the hash, any change to the code (a default, an operator) changes it.
    It hashes the code, not where it lies: each file counts by its content alone (the hashes
    of the files, sorted), and an import from the package counts by the names it brings, not
    by the module path they come from, so moving or renaming a module keeps the hash.

    ``kept``: a JSON file of earlier digests, by the hash of a file's bytes (and of this
    module's, and the Python version: what decides ``code_text``), read and updated here;
    a file it cannot read or write is not used.
    """
    root = Path(package_dir)
    memo = _read_digests(kept) if kept is not None else {}
    salt = _digest_salt()
    digests, used = [], {}
    for name in modules:
        path = root / name
        if not path.exists():
            raise FileNotFoundError(f"code fingerprint: {path} does not exist (see RESULT_MODULES)")
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            raw = f.read_bytes()
            key = hashlib.sha256(salt + raw).hexdigest()
            digest = memo.get(key)
            if digest is None:
                digest = hashlib.sha256(_dump(ast.parse(raw, filename=str(f))).encode()).hexdigest()
            used[key] = digest
            digests.append(digest)
    if kept is not None and not used.keys() <= memo.keys():
        _write_digests(kept, {**dict(list(memo.items())[-(DIGESTS_KEPT - len(used)):]), **used})
    return hashlib.sha256("\0".join(sorted(digests)).encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def _digest_salt() -> bytes:
    """What a kept digest also depends on: this module's code (which parses) and Python's version."""
    return hashlib.sha256(Path(__file__).read_bytes() + platform.python_version().encode()).digest()


def _read_digests(path: Path) -> dict[str, str]:
    try:
        memo = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in memo.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(memo, dict) else {}


def _write_digests(path: Path, memo: dict[str, str]) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as f:
            tmp = f.name
            json.dump(memo, f)
        os.replace(tmp, path)
    except OSError:  # a read-only cache: parsed every time
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def code_text(path: str | os.PathLike) -> str:
    """The syntax tree of one Python file as text, without comments, docstrings, layout, or
    the package paths of its own imports."""
    return _dump(ast.parse(Path(path).read_bytes(), filename=str(path)))


def _own_import(node) -> bool:
    """``from .x import a`` or ``from vaeimb.x import a``: an import from the package itself."""
    return isinstance(node, ast.ImportFrom) and (
        node.level > 0 or (node.module or "").split(".")[0] == __package__.split(".")[0])


def _dump(node) -> str:
    """Like ``ast.dump`` without positions, but leaving out bare-string statements (they do
    nothing: docstrings) and empty fields (None, []), so the text stays the same across
    Python versions that add optional fields (3.12's ``type_params``); an import from the
    package keeps only the names it binds."""
    if _own_import(node):
        return f"OwnImport({_dump(node.names)})"
    if isinstance(node, ast.Constant):
        return f"Constant({node.value!r})"
    if isinstance(node, ast.AST):
        fields = (f"{k}={_dump(v)}" for k, v in ast.iter_fields(node) if v is not None and v != [])
        return f"{type(node).__name__}({', '.join(fields)})"
    if isinstance(node, list):
        return f"[{', '.join(_dump(x) for x in node if not _is_docstring(x))}]"
    return repr(node)


def _is_docstring(node) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def utc_now() -> str:
    """The timestamp results, atlases and benchmark sections are stamped with."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def environment(identity: Identity) -> dict:
    """Versions and machine facts recorded beside every result computed with ``identity``."""
    import numpy
    import torch  # heavy: provenance is imported on torch-free paths (the CLI's --help)

    return {
        **identity.key(),
        "vaeimb": __version__,
        "code": code_fingerprint(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": cpu_name(),
        "cpu_family": cpu_family(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the kernels torch chose: AVX2, AVX512...
        "pid_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }


#: Where this machine describes its CPU (Linux); ``read_cpuinfo`` reads it.
CPUINFO = Path("/proc/cpuinfo")


def read_cpuinfo() -> str:
    """The first processor's part of ``CPUINFO`` (its first 8 KB), "" when unreadable. The one
    place this module reads the host's CPU: tests replace it with an Intel's or an AMD's text."""
    try:
        with CPUINFO.open() as f:
            return f.read(8192)
    except OSError:
        return ""


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU's model name (``AMD EPYC``, ``Intel(R) Xeon(R) ...``) from ``cpuinfo`` (default:
    ``read_cpuinfo()``), else the platform's processor or machine."""
    for line in (read_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_family(cpuinfo: str | None = None) -> str:
    """The CPU family a result was made on: vendor, family and model number
    (``GenuineIntel 6/143``, ``AuthenticAMD 25/17``) from ``cpuinfo`` (default:
    ``read_cpuinfo()``), else the machine. Training is not bit-reproducible across
    families: on another family any count (generator-free approaches included) may move as
    another seed would."""
    if cpuinfo is None:
        cpuinfo = read_cpuinfo()
    fields = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("vendor_id", "cpu family", "model") and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    if "vendor_id" not in fields:
        return platform.machine()
    return f"{fields['vendor_id']} {fields.get('cpu family', '?')}/{fields.get('model', '?')}"


def family_note(env: dict, what: str = "These results") -> str | None:
    """A sentence when results (their ``environment``) were made on another CPU family
    than this machine's; None when the same or unknown. Results older than the
    ``cpu_family`` field are compared by CPU name. On another family every count may move
    as another seed would, the generator-free approaches' too (a shipped atlas made on an
    Intel Xeon, rerun on an AMD EPYC, moved the oracle's count of one cell from 15 to 13)."""
    if env.get("cpu_family"):
        made_on, here = env["cpu_family"], cpu_family()
    elif env.get("cpu"):
        made_on, here = env["cpu"], cpu_name()
    else:
        return None
    if made_on == here:
        return None
    return (f"{what} were made on CPU {made_on}; this machine is {here}. Rerun here, any approach (one "
            "without a generator too) may give other counts, as another seed would: training is not "
            "bit-reproducible across CPU families.")


def code_note(made_by: str | None, what: str = "These results") -> str | None:
    """A sentence for a shipped result made by another code id than the one running here
    (None when they agree): its numbers are still what that code computed, but a rerun here
    computes new entries and may differ as another seed would."""
    here = code_fingerprint()
    if made_by == here:
        return None
    made = f"code {made_by}" if made_by else "an unknown code id"
    return (f"{what} were made by {made}; the code running here is {here}. They are shown as made; "
            "rerunning them here computes new results, which may differ as another seed would.")


def provenance_notes(env: dict, what: str = "These results") -> list[str]:
    """The sentences results made elsewhere need where they are shown (their ``environment``):
    made by another code id (``code_note``), on another CPU family (``family_note``); empty
    when both agree."""
    return [note for note in (code_note(env.get("code"), what), family_note(env, what)) if note]
