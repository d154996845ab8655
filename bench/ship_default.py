"""Make the results that ship with the app: its default settings, run here, exported.

Runs the app's default settings (the reference setup, the classic approaches, three paired
seeds, generator quality measured) through the result cache and the CLI's default backend,
then writes ``vaeimb/shipped/default/``: the finished result (``vaeimb.running.result_files.save_result``:
``result.json`` + ``result.npz``), the fitted reference VAE of every seed
(``generator-vae-seed<n>.json/.npz``) and what the Latent space page shows of it, exported
so that the app's server reads it without torch (``vaeimb.presentation.latent_view``:
``latent-vae-seed<n>.json/.npz``, the t-SNE map included). The pages show them at once on
a fresh install, labelled with this command, the machine, the date and the code id.

    .venv/bin/python bench/ship_default.py [--out vaeimb/shipped/default] [--cache-dir DIR]
    .venv/bin/python bench/ship_default.py --views-only   # the latent views of the shipped weights, nothing retrained
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMMAND = "python bench/ship_default.py"


def default_settings():
    """(config, approaches, seeds) of the app's sidebar defaults, built as the sidebar builds them."""
    from vaeimb.declarations import schema
    from vaeimb.declarations.config import from_settings
    from vaeimb.running.recipes import PRESETS
    from vaeimb_app.settings import DEFAULTS

    values = {s.name: DEFAULTS[s.state_key] for s in schema.SETTINGS}
    config = from_settings(values)
    config.validate()
    approaches = tuple(a for a in PRESETS if a in DEFAULTS["cfg_approaches"])
    return config, approaches, tuple(range(int(DEFAULTS["cfg_n_seeds"])))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="folder to write (default: vaeimb/shipped/default)")
    p.add_argument("--cache-dir", default=None, help="result cache (default: $VAEIMB_CACHE_DIR or the user cache)")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default: $VAEIMB_DATA_DIR or the user cache)")
    p.add_argument("--views-only", action="store_true",
                   help="only (re)write the latent views from the generator weights already shipped in --out")
    a = p.parse_args()
    if a.views_only:
        return views_only(a)

    from vaeimb.parts.generators import GENERATORS
    from vaeimb.running import result_files
    from vaeimb.running.cache import ResultCache
    from vaeimb.running.executor import make_backend
    from vaeimb.studies.experiment import load_generator, run_experiment

    out = Path(a.out) if a.out else result_files.DEFAULT_DIR
    config, approaches, seeds = default_settings()
    cache = ResultCache(a.cache_dir) if a.cache_dir else ResultCache()
    backend = make_backend()
    print(f"{config.label()}; {', '.join(approaches)}; seeds {seeds}; {backend.describe()}", file=sys.stderr)
    t = time.perf_counter()
    result = run_experiment(config, approaches, seeds, cache=cache, data_dir=a.data_dir, executor=backend,
                            quality=True)
    print(f"finished in {time.perf_counter() - t:.0f} s ({result.cached} from the cache)", file=sys.stderr)
    if result.failures:
        print(f"refusing to ship a result with failures: {result.failures}", file=sys.stderr)
        return 1

    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*"):
        if old.is_file():
            old.unlink()
    paths = result_files.save_result(result, out, result_files.made_here(COMMAND))
    latent = list(dict.fromkeys(r.recipe.gen for r in result.recipes.values()
                                if r.recipe.gen and GENERATORS[r.recipe.gen].has_latent))
    provenance = {**result_files.load_provenance(out), "view": result_files.made_here(COMMAND)}
    for name in latent:
        for seed in seeds:
            gen = load_generator(config, name, seed, cache=cache, data_dir=a.data_dir)
            meta, arrays = gen.state()
            paths += result_files.save_generator_state(meta, arrays, out, name, seed)
            paths += write_latent_view(gen, config, seed, out, provenance, a.data_dir)
    report(paths)
    return 0


def write_latent_view(gen, config, seed: int, out: Path, provenance: dict, data_dir) -> list[Path]:
    """The Latent space page's view of the fitted generator ``gen`` of ``seed`` (every label
    it fills, the t-SNE map included), beside it in ``out``."""
    from vaeimb.parts.data import load_images, make_experiment_data
    from vaeimb.presentation.latent_view import view_stem, write_view
    from vaeimb.running import result_files

    data = make_experiment_data(config, seed, load_images(data_dir))
    majority = data.train_x[data.train_y == 0]
    images = {label: (data.generator_by_class[label], majority) for label in gen.fill}
    t = time.perf_counter()
    state = out / f"{result_files.generator_stem(gen.name, seed)}.npz"  # its decoder's weights are not stored twice
    paths = write_view(gen, images, out, view_stem(gen.name, seed), seed=seed, provenance=provenance,
                       methods=("pca", "tsne"), config=config.to_dict(), share=state if state.is_file() else None)
    print(f"latent view of {gen.name} seed {seed}: {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return paths


def views_only(a) -> int:
    """Write the latent views of the generators already shipped in ``--out`` from their
    shipped weights: nothing is retrained and no other file changes."""
    from vaeimb.running import result_files

    out = Path(a.out) if a.out else result_files.DEFAULT_DIR
    result = result_files.load_result(out)
    provenance = {**result_files.load_provenance(out), "view": result_files.made_here(f"{COMMAND} --views-only")}
    paths: list[Path] = []
    for state in sorted(out.glob("generator-*-seed*.json")):
        name, _, seed = state.stem.removeprefix("generator-").rpartition("-seed")
        gen = result_files.load_generator(out, name, int(seed))
        if gen.has_latent:
            paths += write_latent_view(gen, result.config, int(seed), out, provenance, a.data_dir)
    if not paths:
        print(f"no shipped generator with a latent space in {out}", file=sys.stderr)
        return 1
    report(paths)
    return 0


def report(paths: list[Path]) -> None:
    for path in paths:
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size / 1024:.0f} kB")
    print(f"total {sum(p.stat().st_size for p in paths) / 1024:.0f} kB", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
