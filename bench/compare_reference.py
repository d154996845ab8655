"""Reference results before and after a change, seed by seed: did any number move?

Reads two files written by ``python bench/targets.py --reference-out FILE`` (same machine,
same thread count) and writes a side-by-side table per classifier into BENCHMARKS.md's
"reference-before-after" section: each approach's per-seed misclassified counts before and
after, and whether they are identical.

    python bench/compare_reference.py BEFORE.json AFTER.json --note "why any moved"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import markdown_table, publish  # noqa: E402
from vaeimb.declarations.provenance import utc_now  # noqa: E402


def _seeds(by_seed: dict) -> str:
    return " ".join(f"{by_seed[s]:g}" for s in sorted(by_seed, key=int))


def compare(before: dict, after: dict) -> tuple[list[str], dict[str, list[str]]]:
    """Markdown lines, and per classifier the approaches whose counts moved."""
    lines, moved = [], {}
    for clf in sorted(set(before["classifiers"]) & set(after["classifiers"])):
        b, a = before["classifiers"][clf], after["classifiers"][clf]
        eb, ea = b.get("environment", {}), a.get("environment", {})
        lines += ["", f"### {clf.upper()}: code {eb.get('code', '?')} → {ea.get('code', '?')} "
                      f"({ea.get('cpu', '?')}, {ea.get('threads', '?')} torch thread(s) both)", ""]
        rows, moved[clf] = [], []
        for name in sorted(set(b["per_seed"]) | set(a["per_seed"])):
            x, y = b["per_seed"].get(name, {}), a["per_seed"].get(name, {})
            same = x == y
            if x and y and not same:
                moved[clf].append(name)
            verdict = ("yes" if same else "**no**") if x and y else ("new" if y else "removed")
            rows.append((name, _seeds(x) or "—", _seeds(y) or "—", verdict))
        lines += markdown_table(("approach", "before (seeds 0..4)", "after", "identical"), rows, "lllc")
    return lines, moved


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--note", default="", help="what explains any difference (written under the tables)")
    p.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"), help="markdown file ('-': print only)")
    p.add_argument("--change", default="the restructuring", help="what changed between the two runs (the title)")
    p.add_argument("--section", default="reference-before-after", help="BENCHMARKS.md section to write")
    p.add_argument("--benchmark", default="`python bench/targets.py`, every preset",
                   help="which benchmark made the two files (the sentence under the title)")
    a = p.parse_args(argv)
    before, after = (json.loads(Path(f).read_text()) for f in (a.before, a.after))
    lines, moved = compare(before, after)
    n_moved = sum(map(len, moved.values()))
    head = [f"## Reference results before and after {a.change}", "",
            f"Written {utc_now()} by `python bench/compare_reference.py`: the shipped reference benchmark "
            f"({a.benchmark}, 5 paired seeds) run before ({before.get('measured', '?')}) and "
            f"after ({after.get('measured', '?')}) on the same machine and thread count. "
            + ("Every per-seed count is identical." if not n_moved else
               f"{n_moved} approach(es) moved: " + "; ".join(f"{c}: {', '.join(m)}" for c, m in moved.items() if m) + ".")]
    publish(a.output, a.section, "\n".join(head + lines + (["", a.note] if a.note else [])) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
