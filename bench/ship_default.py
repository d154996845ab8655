"""Make the results that ship with the app: its default settings, run here, exported.

Runs the app's default settings (the reference setup, the classic approaches, three paired
seeds, generator quality measured) through the result cache and the CLI's default backend,
then writes ``vaeimb/shipped/default/``: the finished result (``vaeimb.running.result_files.save_result``:
``result.json`` + ``result.npz``) and the fitted reference VAE of every seed for the Latent
space page. The Experiment page shows them at once on a fresh install, labelled with this
command, the machine, the date and the code id.

    .venv/bin/python bench/ship_default.py [--out vaeimb/shipped/default] [--cache-dir DIR]
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
    a = p.parse_args()

    from vaeimb.parts.generators import GENERATORS
    from vaeimb.running import result_files as shipped
    from vaeimb.running.cache import ResultCache
    from vaeimb.running.executor import make_backend
    from vaeimb.studies.experiment import load_generator, run_experiment

    out = Path(a.out) if a.out else shipped.DEFAULT_DIR
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
    paths = shipped.save_result(result, out, shipped.made_here(COMMAND))
    latent = list(dict.fromkeys(r.recipe.gen for r in result.recipes.values()
                                if r.recipe.gen and GENERATORS[r.recipe.gen].has_latent))
    for name in latent:
        for seed in seeds:
            gen = load_generator(config, name, seed, cache=cache, data_dir=a.data_dir)
            meta, arrays = gen.state()
            paths += shipped.save_generator_state(meta, arrays, out, name, seed)
    for path in paths:
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size / 1024:.0f} kB")
    print(f"total {sum(p.stat().st_size for p in paths) / 1024:.0f} kB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
