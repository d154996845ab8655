"""The app's server never loads torch (issue #24): every page, driven with AppTest in a fresh
process that trains in child processes (``VAEIMB_APP_WORKERS=1``), on the default settings
with the shipped first view, and after a finished tiny Run, the Latent space page's torch
work included (exporting a generator's view, training one it asks for, t-SNE, quality)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vaeimb.declarations.config import stable_hash

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
from streamlit.testing.v1 import AppTest

APP, TINY = sys.argv[1], json.loads(sys.argv[2])
PAGES = ["pages/1_experiment.py", "pages/2_latent_space.py", "pages/3_sweep.py", "pages/5_atlas.py",
         "pages/4_about.py"]
out = {"torch": {}}


def check(at, what):
    assert not at.exception, (what, at.exception)
    assert not at.error, (what, [e.value for e in at.error])
    out["torch"][what] = sorted(m for m in ("torch", "sklearn") if m in sys.modules)


def button(at, label):
    return next(b for b in at.button if b.label == label)


def latent_page(at, what):
    # (each step runs the page again after switching: the page is reached through app.py)
    at.switch_page("pages/2_latent_space.py").run()
    at.run()
    check(at, what)
    seen = {"info": [i.value for i in at.info], "captions": [c.value for c in at.caption],
            "explorer": [json.loads(el.proto.json) for el in at.get("bidi_component")]}
    at.radio(key="latent_map_method").set_value("tsne").run()
    check(at, what + ": t-SNE")
    seen["charts"] = len(at.get("plotly_chart"))
    button(at, "Measure this generator's quality").click().run()
    check(at, what + ": quality")
    seen["metrics"] = [m.value for m in at.metric]
    at.toggle(key="latent_in_browser").set_value(False).run()
    check(at, what + ": decoded on the server")
    seen["sliders"] = len([s for s in at.slider if s.key.startswith("z_")])
    seen["image_captions"] = [c for im in at.image for c in im.captions]
    at.toggle(key="latent_in_browser").set_value(True).run()
    out[what] = seen


def every_page(at, what):
    for page in PAGES:
        at.switch_page(page).run()
        check(at, f"{what}: {page}")


# the default settings on an empty cache: the shipped first view
at = AppTest.from_file(APP, default_timeout=600).run()
check(at, "first view")
every_page(at, "first view")
latent_page(at, "shipped")

# a finished tiny Run (trained in a child process), then every page on it
at = AppTest.from_file(APP, default_timeout=600)
for key, value in TINY.items():
    at.session_state[key] = value
at.run()
button(at, "Run").click().run()
check(at, "tiny Run")
out["table"] = at.table[0].value["approach"].tolist()
latent_page(at, "own")
every_page(at, "tiny Run")
# a generator no Run trained: the page trains it (in a child) when asked
at.switch_page("pages/2_latent_space.py").run()
at.selectbox(key="latent_generator").set_value("cvae").run()
out["untrained"] = [i.value for i in at.info]
button(at, "Train the cvae generator").click().run()
at.run()
check(at, "trained cvae")
out["cvae"] = {"info": [i.value for i in at.info], "captions": [c.value for c in at.caption],
               "explorer": len(at.get("bidi_component"))}
print(json.dumps(out))
"""

TINY = {
    "cfg_n_majority": 300, "cfg_n_minority": 20, "cfg_steps": 30, "cfg_batch_size": 32, "cfg_generator_steps": 20,
    "cfg_generator_batch_size": 16, "cfg_n_checkpoints": 3, "cfg_latent_dim": 6, "cfg_n_seeds": 1,
    "cfg_approaches": ["baseline", "vae"],
}


def _quick_judge(cache_root: Path, mnist_dir: Path) -> None:
    """Store a small judge (2000 images, one epoch) as the default one in this cache: the
    child processes measure quality with it (the default learns all of MNIST train)."""
    from vaeimb.parts.data import load_images
    from vaeimb.running.cache import ResultCache
    from vaeimb.studies import quality

    mnist = load_images(mnist_dir)
    key = stable_hash(quality.JUDGE_KIND, quality.judge_settings(None, quality.JUDGE_EPOCHS, quality.JUDGE_SEED),
                      quality.images_fingerprint(mnist))
    small = quality.judge_settings(2000, 1, quality.JUDGE_SEED)
    ResultCache(cache_root).get_or_compute(quality.JUDGE_KIND, key, lambda: quality.train_judge(mnist, small, None))


@pytest.fixture(scope="module")
def drive(tmp_path_factory, mnist_dir):
    cache = tmp_path_factory.mktemp("torch-free-cache")
    _quick_judge(cache, mnist_dir)
    env = {**os.environ, "VAEIMB_CACHE_DIR": str(cache), "VAEIMB_DATA_DIR": str(mnist_dir), "VAEIMB_APP_WORKERS": "1"}
    env.pop("VAEIMB_APP_PRESET", None)
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT / "app.py"), json.dumps(TINY)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(run.stdout.strip().splitlines()[-1]), cache


def test_no_page_loads_torch_into_the_server(drive):
    out, _ = drive
    steps = out["torch"]
    pages = {f"{what}: pages/{p}" for what in ("first view", "tiny Run")
             for p in ("1_experiment.py", "2_latent_space.py", "3_sweep.py", "5_atlas.py", "4_about.py")}
    assert pages <= set(steps)
    assert {"shipped: quality", "own: t-SNE", "own: quality", "trained cvae"} <= set(steps)
    assert {what: mods for what, mods in steps.items() if mods} == {}


def test_the_shipped_first_view_is_explored_from_its_exported_view(drive):
    from vaeimb.declarations.locations import FIRST_VIEW_DIR
    from vaeimb.presentation import latent
    from vaeimb.presentation.latent_js import reference_decode
    from vaeimb.presentation.latent_view import load_view, view_stem
    from vaeimb.running import result_files

    out, _ = drive
    seen = out["shipped"]
    assert any(i.startswith("Shipped vae generator: made ") for i in seen["info"])
    view = load_view(FIRST_VIEW_DIR, view_stem("vae", 0))[1]
    (data,) = seen["explorer"]
    assert data["spec"] == view.spec  # the exported decoder goes to the browser as it is
    assert [d["index"] for d in data["dims"]] == latent.dimensions_by_activity(view).tolist()
    assert reference_decode(data["spec"], data["mean"]).shape == (28, 28)
    assert seen["charts"] == 2  # the t-SNE map (shipped with the view) and the quality scatter
    q = result_files.load_result().quality[("vae", 0)]
    assert seen["metrics"][:3] == [f"{q['precision']:.3f}", f"{q['recall']:.3f}", f"{q['frechet']:.2f}"]
    assert seen["sliders"] == view.latent_dim and "decoded image" in seen["image_captions"]


def test_a_runs_generator_is_exported_by_a_child_and_shown(drive):
    from vaeimb.presentation.latent_view import load_view

    out, cache = drive
    assert out["table"] == ["baseline", "vae"]
    seen = out["own"]
    assert not any("Shipped" in i or "not trained yet" in i for i in seen["info"])
    assert any("vae with a 6-d latent, trained on 20 images of digit 6" in c for c in seen["captions"])
    assert any(c.startswith("One point per generator preset and seed (1 points)") for c in seen["captions"])
    assert len(seen["metrics"]) == 5 and seen["sliders"] == 6
    (folder,) = [p.parent for p in (cache / "latent-views").glob("*/view.json")
                 if load_view(p.parent)[1].name == "vae"]
    view = load_view(folder)[1]
    assert seen["explorer"][0]["spec"] == view.spec
    assert (folder / "tsne-1.npy").is_file() and (folder / "quality.json").is_file()  # made by children
    assert list((cache / "latent-views").glob("quality-*.json"))  # the Run's generators measured by a child


def test_a_generator_the_page_asks_for_is_trained_in_a_child(drive):
    out, _ = drive
    assert any("The cvae generator for these settings is not trained yet" in i for i in out["untrained"])
    assert not any("not trained yet" in i for i in out["cvae"]["info"])
    assert any(c.startswith("cvae with a 6-d latent") for c in out["cvae"]["captions"])
    assert out["cvae"]["explorer"] == 1
