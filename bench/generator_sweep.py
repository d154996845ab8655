"""Issue #23: which generator settings give the rarest classes images a judge accepts?

    python bench/generator_sweep.py run SPEC.json --seed 0 --log sweep.jsonl   # fit, sample, judge
    python bench/generator_sweep.py render sweep.jsonl [...]                   # the BENCHMARKS.md section

On the ten-digit long tail (DeepSMOTE's counts, one seed's training draw) each spec entry
``[name, generator, values, samplings, steps]`` fits one generator (``steps``: its training
steps, the protocol's 2000 by default) and draws 1000 images of digits 9, 8 and 5 (40, 60 and
350 training images) with each sampling (prior or posterior, a temperature), without and with
each confidence filter ``q``; the judge (``vaeimb.studies.quality``) scores them against 1000 held-out
MNIST **train** images of the digit. No test image is read: this is how the settings of the
``cvae-plus-*`` presets were chosen. Fit seconds are one torch thread on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import markdown_table, publish  # noqa: E402

DIGITS = (9, 8, 5)


def run(a) -> int:
    import torch

    from vaeimb.declarations.config import ExperimentConfig
    from vaeimb.parts.data import load_images, make_experiment_data
    from vaeimb.parts.generators import FitBudget, FitData, make_generator
    from vaeimb.parts.generators.filter import ConfidenceFilter
    from vaeimb.running.cache import ResultCache
    from vaeimb.studies.quality import generator_quality, heldout_minority, load_judge

    torch.set_num_threads(1)
    cfg = ExperimentConfig.for_protocol("deepsmote", task="longtail", classifier="cnn")
    mnist = load_images(a.data_dir)
    judge = load_judge(mnist, ResultCache(a.cache_dir))
    data = make_experiment_data(cfg, a.seed, mnist)
    fit = FitData(data.generator_by_class, cfg.fill, names=tuple(f"digit {d}" for d in cfg.classes))
    budget = FitBudget(steps=cfg.generator_steps, batch_size=cfg.generator_batch_size, lr=cfg.generator_lr,
                       latent_dim=cfg.latent_dim)
    filt = ConfidenceFilter(cfg.n_classes).fit(fit.by_class, a.seed)
    with open(a.log, "a") as log:
        for name, gen, values, samplings, *steps in json.loads(Path(a.spec).read_text()):
            g = make_generator(gen, **values)
            t = time.perf_counter()
            g.fit(fit, replace(budget, steps=steps[0]) if steps else budget, seed=a.seed)
            fit_s = time.perf_counter() - t
            for sv in samplings:
                for q in [None, *a.q]:
                    g.values = {**g.values, **sv, "filter_q": q}  # sampling settings apply at sample time
                    g.filter = None if q is None else filt
                    row = {"fit": name, "generator": gen, "values": values, "steps": steps[0] if steps else budget.steps,
                           "sampling": sv, "q": q, "seed": a.seed, "fit_s": round(fit_s, 1)}
                    for label in (cfg.classes.index(d) for d in DIGITS):
                        digit = cfg.classes[label]
                        s = g.sample(1000, seed=a.seed, label=label)
                        held = heldout_minority(mnist, digit, data.train_index, 1000, a.seed)
                        f = generator_quality(judge, s, data.generator_by_class[label], held, seed=a.seed)
                        row[f"d{digit}"] = [round(float(f[k]), 3) for k in ("precision", "recall", "frechet")]
                        if q is not None:
                            row[f"rej{digit}"] = round(g.filter_stats[label]["rejection"], 3)
                    log.write(json.dumps(row, sort_keys=True) + "\n")
                    log.flush()
    return 0


def settings(row: dict) -> str:
    v = row["values"]
    parts = [row["generator"], f"{row['steps']} steps"]
    parts += [f"{k} {v[k]}" for k in sorted(v)]
    return ", ".join(parts)


def render_rows(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        s = r["sampling"]
        sampling = f"{s.get('sampling', 'smote')} t={s['temperature']:g}" if "temperature" in s else s.get("sampling", "smote")
        cells = [settings(r), sampling, "—" if r["q"] is None else f"{r['q']:g}", r["seed"]]
        for d in DIGITS:
            p, rc, fr = r[f"d{d}"]
            rej = r.get(f"rej{d}")
            cells.append(f"{p:.2f} / {rc:.2f} / {fr:.0f}" + ("" if rej is None else f" ({100 * rej:.0f} %)"))
        cells.append(f"{r['fit_s']:.0f}")
        out.append(cells)
    return markdown_table(("generator settings", "sampling", "filter q", "seed",
                           *(f"digit {d}: precision / recall / Fréchet (rejected)" for d in DIGITS), "fit s"),
                          out, "lllr" + "r" * (len(DIGITS) + 1))


def render(a) -> int:
    rows = [json.loads(line) for path in a.logs for line in Path(path).read_text().splitlines() if line.strip()]
    met = [r for r in rows if r["d9"][0] >= 0.8 and r["d9"][1] >= 0.3]

    def span(select, i: int) -> str:
        vals = [r["d9"][i] for r in rows if select(r)]
        return f"{min(vals):.2f}-{max(vals):.2f}" if vals else "n/a"

    prior = lambda r: r["sampling"].get("sampling") == "prior"  # noqa: E731
    near = lambda r: r["sampling"].get("sampling") == "posterior" and r["sampling"].get("temperature") == 1.0  # noqa: E731
    smote = lambda r: "temperature" not in r["sampling"]  # noqa: E731
    text = "\n".join([
        "## Generator settings for the rarest classes (issue #23): judge quality, long tail", "",
        f"Measured {a.measured} by `python bench/generator_sweep.py run` on {a.machine}, one torch thread, "
        "vaeimb code from this issue's work before its presets were written. One training draw of the long tail "
        "(DeepSMOTE's counts; digits 9, 8, 5 have 40, 60 and 350 training images), 1000 images of each digit "
        "against 1000 held-out MNIST train images of it in the judge's features (precision, recall: Kynkäänniemi "
        "et al. 2019, k = 3; Fréchet distance); the confidence filter's CNN is trained on the draw's real images; "
        "(rejected) is the filter's rejection rate. No test image was read: the cvae-plus presets' settings "
        "(width 2, affine-jittered training, twice the steps, KL annealed over 30 %, posterior sampling at "
        "temperature 2, filter q 0.9) were chosen from these rows of seeds 0 and 1, so seeds 2-4 of the "
        "five-seed benchmark are the ones they were not chosen on.", "",
        *render_rows(rows), "",
        f"Rows meeting the issue's bar for digit 9 (precision >= 0.8 with recall >= 0.3): {len(met)} of {len(rows)}, "
        f"every one a cvae trained {met[0]['steps']} steps" if met and len({r['steps'] for r in met}) == 1
        else f"Rows meeting the issue's bar for digit 9: {len(met)} of {len(rows)}",
        "",
        f"What the rows say, digit 9: sampling the prior gives recall ({span(prior, 1)}) with off-class images "
        f"(precision {span(prior, 0)}); sampling around the real codes at temperature 1 gives precision "
        f"({span(near, 0)}) and almost no recall ({span(near, 1)}: the images stay near the 40 real ones); "
        f"SMOTE and latent SMOTE likewise ({span(smote, 0)} / {span(smote, 1)}). Temperature 2 trades precision "
        "for recall, the filter buys precision back, and only the generators trained twice as long reach both.",
    ])
    publish(a.out, "generator-sweep", text)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("spec")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--q", type=float, nargs="*", default=[0.9])
    r.add_argument("--log", required=True)
    r.add_argument("--cache-dir")
    r.add_argument("--data-dir")
    w = sub.add_parser("render")
    w.add_argument("logs", nargs="+")
    w.add_argument("--measured", default="2026-12-06 23:35-00:07 UTC")
    w.add_argument("--machine", default="AMD EPYC (AuthenticAMD 25/17), 2 cores shared with other runs")
    w.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    a = p.parse_args(argv)
    return run(a) if a.cmd == "run" else render(a)


if __name__ == "__main__":
    raise SystemExit(main())
