"""What the benchmark scripts share: BENCHMARKS.md sections, failed rows, peak memory,
and the markdown table every section ends with."""

from __future__ import annotations

import os
import re
import resource
import sys
from pathlib import Path
from typing import Iterable, Sequence

from vaeimb.declarations.errors import VaeimbError
from vaeimb.running.recipes import PRESETS


class Failed(str):
    """A row that could not be measured; the text says why (shown as FAILED in the table)."""


def one_line(text: str, limit: int = 160) -> str:
    line = " ".join(str(text).split()).replace("|", "/")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 1024.0 / 1024.0


def markdown_table(header: Sequence[str], rows: Iterable[Sequence], align: str | None = None) -> list[str]:
    """Lines of a markdown table; ``align`` is one character per column ('l', 'r' or 'c',
    default: the first left, the rest right)."""
    align = align or "l" + "r" * (len(header) - 1)
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def write_section(path: str | os.PathLike, name: str, text: str) -> None:
    """Put ``text`` into the markdown file between ``<!-- begin NAME -->`` and
    ``<!-- end NAME -->``, replacing what was there (or appending the block), so each
    benchmark script refreshes its own section of BENCHMARKS.md and leaves the others."""
    path = Path(path)
    block = f"<!-- begin {name} -->\n{text.rstrip()}\n<!-- end {name} -->"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"<!-- begin {re.escape(name)} -->.*?<!-- end {re.escape(name)} -->", re.S)
    new = pattern.sub(lambda m: block, old) if pattern.search(old) else old.rstrip() + "\n\n" + block + "\n"
    path.write_text(new if new.endswith("\n") else new + "\n")


def publish(output: str | os.PathLike, name: str, text: str) -> None:
    """Print a benchmark's section and refresh it in the markdown file ``output`` ('-': print only)."""
    print(text, flush=True)
    if str(output) != "-":
        write_section(output, name, text)


def check_writable(output: str | os.PathLike) -> None:
    """Fail before minutes of measuring when the table could not be written afterwards."""
    path = Path(output)
    existed = path.exists()
    try:
        with open(path, "a"):  # appending changes nothing in an existing file
            pass
    except OSError as err:
        raise VaeimbError(
            f"Cannot write the benchmark table to {output} ({err.strerror or err}); "
            "pass --output a writable file, or '-' to print it only."
        ) from None
    if not existed:
        path.unlink()


def train_time_lines(result, reference: str = "augment-posthoc") -> list[str]:
    """Each searched preset's training time against ``reference``'s (issue #22: at most 1.5x)."""
    secs = {n: sum(r.info["seconds"] for r in by.values()) / len(by) for n, by in result.runs.items() if by}
    lines = []
    for name in result.approaches:
        p = PRESETS.get(name)
        if p is None or p.searched_file is None or result.recipes[name].is_bound or reference not in secs:
            continue
        ratio = secs[name] / secs[reference]
        lines.append(f"- {name} trains in {secs[name]:.1f} s per seed, {ratio:.2f}x {reference}'s {secs[reference]:.1f} s "
                     f"(target <= 1.5x: {'MET' if ratio <= 1.5 else 'MISSED'})")
    return lines
