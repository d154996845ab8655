"""The Latent page's exported view (``vaeimb.presentation.latent_view``) and the child that
writes it (``vaeimb.interfaces.latent_child``): what the server reads without torch is what
the fitted generator itself gives, and a broken file is one clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_generators import SMALL
from tiny_setup import TINY

from vaeimb.declarations.config import ExperimentConfig
from vaeimb.declarations.errors import ConfigError, VaeimbError
from vaeimb.interfaces import latent_child
from vaeimb.parts.data import load_images
from vaeimb.parts.generators import LEARNED, FitBudget, FitData, make_generator
from vaeimb.presentation import latent
from vaeimb.presentation import latent_view as lv
from vaeimb.presentation.figures import to_uint8
from vaeimb.presentation.latent_js import UnsupportedDecoder
from vaeimb.running.recipes import PRESETS, build_approaches

BUDGET = FitBudget(steps=12, batch_size=16, lr=1e-3, latent_dim=4)
PROVENANCE = {"made": "now", "command": "a test"}


def digits(mnist, d: int, n: int) -> np.ndarray:
    return mnist.train_images[mnist.train_labels == d][:n]


@pytest.fixture(scope="module")
def tail(mnist_dir) -> FitData:
    """Label 0 the head (60 zeros), labels 1..3 the tail (12 sixes, 10 threes, 8 eights)."""
    mnist = load_images(mnist_dir)
    return FitData((digits(mnist, 0, 60), digits(mnist, 6, 12), digits(mnist, 3, 10), digits(mnist, 8, 8)), (1, 2, 3))


@pytest.fixture(scope="module")
def written(tail, tmp_path_factory):
    """{name: (fitted generator, its loaded views)} for every latent generator on the tail."""
    out = {}
    for name in lv.LATENT_GENERATORS:
        gen = make_generator(name, **SMALL.get(name, {})).fit(tail, BUDGET, seed=0)
        folder = tmp_path_factory.mktemp(f"view-{name}")
        lv.write_view(gen, {c: (tail.by_class[c], tail.majority) for c in gen.fill}, folder, seed=3,
                      provenance=PROVENANCE)
        out[name] = gen, lv.load_view(folder)
    return out


def test_the_latent_generators_are_the_learned_ones():
    assert lv.LATENT_GENERATORS == LEARNED


def test_generators_used_reads_them_as_build_approaches_does():
    specs = [*PRESETS, "gen=cvae,batches=balanced", "data=oracle", "gen=deepsmote,loss=la", "batches=balanced"]
    built = build_approaches(specs, ExperimentConfig())
    assert lv.generators_used(specs) == list(dict.fromkeys(a.recipe.gen for a in built if a.recipe.gen))
    with pytest.raises(ConfigError, match="Unknown approach 'nonsense'"):
        lv.generators_used(["baseline", "nonsense"])


@pytest.mark.parametrize("name", lv.LATENT_GENERATORS)
def test_the_view_holds_what_the_generator_gives(written, tail, name):
    gen, views = written[name]
    assert sorted(views) == [1, 2, 3]
    for c, v in views.items():
        art = latent.for_label(gen, c)
        assert (v.name, v.seed, v.label, v.latent_dim) == (name, 3, c, gen.latent_dim)
        assert v.uses_majority == gen.uses_majority and v.provenance == PROVENANCE
        assert v.info == json.loads(json.dumps(gen.info))
        np.testing.assert_array_equal(v.latent_mu, gen.latent_mu_of(c))
        np.testing.assert_array_equal(v.kl_per_dim, gen.kl_per_dim_of(c))
        spread = gen.spread_of(c)
        assert (v.latent_sd is None) == (spread is None)
        if spread is not None:
            np.testing.assert_array_equal(v.latent_sd, spread)
        np.testing.assert_array_equal(v.real, tail.by_class[c])
        np.testing.assert_array_equal(v.real_codes, latent.encode(art, tail.by_class[c]))
        np.testing.assert_array_equal(v.samples, art.sample(lv.N_SAMPLES, seed=3))
        torch_side = to_uint8(latent.reconstruct(art, tail.by_class[c][:lv.N_RECONSTRUCTIONS]))
        assert v.reconstructions.dtype == np.uint8  # as the page draws them
        assert np.abs(v.reconstructions.astype(int) - torch_side).max() <= 1  # a float's last bit may round apart
        # the map: the same points and, by PCA in numpy, the same coordinates as the torch-side map
        generated = art.sample(min(len(tail.majority), lv.MAP_GENERATED), seed=3)
        before = latent.latent_map(art, tail.by_class[c], generated, tail.majority, method="pca", seed=3)
        now = v.latent_map("pca")
        np.testing.assert_array_equal(now.images, before.images)
        assert now.kinds.tolist() == before.kinds.tolist() and now.method == "pca"
        np.testing.assert_allclose(now.coords, before.coords, atol=1e-5)
        np.testing.assert_allclose(now.explained, before.explained, atol=1e-6)
        assert v.latent_map("tsne") is None  # not exported: the page asks the child for it


@pytest.mark.parametrize("name", lv.LATENT_GENERATORS)
def test_numpy_decodes_as_the_torch_decoder(written, tail, name):
    gen, views = written[name]
    for c, v in views.items():
        art = latent.for_label(gen, c)
        z = np.random.default_rng(c).standard_normal((5, v.latent_dim)).astype(np.float32) * 2
        assert v.spec is not None and v.spec_error == ""
        np.testing.assert_allclose(v.decode(z), latent.decode(art, z), atol=1e-5)
        np.testing.assert_allclose(v.decode(z[0]), latent.decode(art, z[0]), atol=1e-5)
        np.testing.assert_allclose(latent.interpolate_codes(v, v.real_codes[0], v.real_codes[-1], 6),
                                   latent.interpolate(art, tail.by_class[c][0], tail.by_class[c][-1], 6), atol=1e-5)


def test_the_page_reads_the_same_numbers_from_the_view(written):
    """Slider order, activity, ranges and the reset code: the numbers the page shows."""
    for name, (gen, views) in written.items():
        for c, v in views.items():
            art = latent.for_label(gen, c)
            act, what = latent.activity(art)
            act_v, what_v = latent.activity(v)
            np.testing.assert_array_equal(act_v, act)
            assert what_v == what == ("sd" if name in ("latent-smote", "deepsmote") else "KL")
            assert latent.dimensions_by_activity(v).tolist() == latent.dimensions_by_activity(art).tolist()
            assert latent.active_dimensions(v).tolist() == latent.active_dimensions(art).tolist()
            assert [latent.slider_range(v, d) for d in range(v.latent_dim)] == \
                   [latent.slider_range(art, d) for d in range(v.latent_dim)]
            np.testing.assert_array_equal(latent.mean_code(v), latent.mean_code(art))


def test_a_tsne_map_is_stored_when_asked_and_made_by_the_child_request(tail, tmp_path):
    gen = make_generator("vae").fit(FitData.pair(tail.by_class[3], tail.majority), BUDGET, seed=0)
    lv.write_view(gen, {1: (tail.by_class[3], tail.majority)}, tmp_path, "with-tsne", seed=0,
                  provenance=PROVENANCE, methods=("pca", "tsne"))
    v = lv.load_view(tmp_path, "with-tsne")[1]
    expected, _ = latent.project(v.map_codes, "tsne", 0)
    np.testing.assert_allclose(v.latent_map("tsne").coords, expected, atol=1e-4)
    # the child's request writes the same projection for a view without one
    lv.write_view(gen, {1: (tail.by_class[3], tail.majority)}, tmp_path, seed=0, provenance=PROVENANCE)
    out = tmp_path / "tsne-1.npy"
    latent_child.handle({"kind": "tsne", "folder": str(tmp_path), "stem": "view", "label": 1, "out": str(out)})
    np.testing.assert_allclose(lv.load_projection(out), expected, atol=1e-4)
    assert lv.load_projection(tmp_path / "absent.npy") is None
    with pytest.raises(ValueError, match="Unknown map method 'umap'"):
        lv.write_view(gen, {1: (tail.by_class[3], tail.majority)}, tmp_path, seed=0, provenance=PROVENANCE,
                      methods=("umap",))


def test_a_decoder_the_spec_cannot_hold_is_said_and_not_decoded(tail, tmp_path, monkeypatch):
    def refuse(model):
        raise UnsupportedDecoder("The browser decoder does not implement Bilinear.")

    monkeypatch.setattr(lv, "browser_decoder", refuse)
    gen = make_generator("vae").fit(FitData.pair(tail.by_class[3], tail.majority), BUDGET, seed=0)
    lv.write_view(gen, {1: (tail.by_class[3], tail.majority)}, tmp_path, seed=0, provenance=PROVENANCE)
    v = lv.load_view(tmp_path)[1]
    assert v.spec is None and "Bilinear" in v.spec_error
    with pytest.raises(UnsupportedDecoder, match="Bilinear"):
        v.decode(np.zeros(v.latent_dim))
    assert len(v.reconstructions) == lv.N_RECONSTRUCTIONS  # drawn by the child: still shown


def test_decoder_arrays_a_file_beside_the_view_holds_are_not_stored_twice(tail, tmp_path):
    from vaeimb.running import result_files

    gen = make_generator("vae").fit(FitData.pair(tail.by_class[3], tail.majority), BUDGET, seed=0)
    meta, arrays = gen.state()
    (state,) = [p for p in result_files.save_generator_state(meta, arrays, tmp_path, "vae", 0) if p.suffix == ".npz"]
    images = {1: (tail.by_class[3], tail.majority)}
    lv.write_view(gen, images, tmp_path, "alone", seed=0, provenance=PROVENANCE)
    lv.write_view(gen, images, tmp_path, "shared", seed=0, provenance=PROVENANCE, share=state)
    alone, shared = lv.load_view(tmp_path, "alone")[1], lv.load_view(tmp_path, "shared")[1]
    assert shared.spec == alone.spec
    refs = [L["weight"] for L in json.loads((tmp_path / "shared.json").read_text())["labels"]["1"]["decoder"]["layers"]
            if isinstance(L.get("weight"), dict)]
    assert refs and all(r["file"] == state.name for r in refs)
    assert (tmp_path / "shared.npz").stat().st_size < (tmp_path / "alone.npz").stat().st_size
    state.unlink()
    with pytest.raises(lv.LatentViewError, match=f"referring to the decoder array .* of {state}"):
        lv.load_view(tmp_path, "shared")
    with pytest.raises(ValueError, match="only with a file in its own folder"):
        lv.write_view(gen, images, tmp_path / "elsewhere", seed=0, provenance=PROVENANCE, share=state)


# --------------------------------------------------------------------------------------
# bad or missing files: one LatentViewError naming the file
# --------------------------------------------------------------------------------------
def _npz(path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _damage(folder, how: str) -> None:
    j, n = folder / "view.json", folder / "view.npz"
    if how == "no json":
        j.unlink()
    elif how == "no npz":
        n.unlink()
    elif how == "json garbage":
        j.write_text("{not json")
    elif how == "other format":
        j.write_text(json.dumps({**json.loads(j.read_text()), "format": "vaeimb-latent-view/0"}))
    elif how == "npz garbage":
        n.write_bytes(b"PK\x03\x04 not a zip")
    elif how == "no labels":
        j.write_text(json.dumps({**json.loads(j.read_text()), "labels": {}}))
    else:
        a = _npz(n)
        if how == "missing array":
            del a["1/latent_mu"]
        elif how == "wrong shape":
            a["1/kl_per_dim"] = a["1/kl_per_dim"][:-1]
        elif how == "nan weights":
            a["1/decoder/0/weight"] = np.full_like(a["1/decoder/0/weight"], np.nan)
        elif how == "missing weights":
            del a["1/decoder/0/weight"]
        elif how == "nan codes":
            a["1/map_codes"] = np.full_like(a["1/map_codes"], np.nan)
        elif how == "rows outside":
            a["1/map_real_rows"] = a["1/map_real_rows"] + 1000
        np.savez(n, **a)


@pytest.mark.parametrize("how, says", [
    ("no json", "view.json is missing or unreadable"), ("no npz", "view.npz is missing or unreadable"),
    ("json garbage", "view.json is missing or unreadable"), ("other format", "of format 'vaeimb-latent-view/0'"),
    ("npz garbage", "view.npz is missing or unreadable"), ("no labels", "naming no label"),
    ("missing array", "missing 1/latent_mu"), ("wrong shape", "1/kl_per_dim of shape"),
    ("nan weights", "NaN or infinite decoder weights"), ("missing weights", "missing the decoder array"),
    ("nan codes", "NaN or infinite values in 1/map_codes"), ("rows outside", "map_real_rows outside the 8 real"),
])
def test_bad_or_missing_files_are_one_clear_error(tail, tmp_path, how, says):
    gen = make_generator("vae").fit(FitData.pair(tail.by_class[3], tail.majority), BUDGET, seed=0)
    lv.write_view(gen, {1: (tail.by_class[3], tail.majority)}, tmp_path, seed=0, provenance=PROVENANCE)
    assert lv.has_view(tmp_path)
    _damage(tmp_path, how)
    with pytest.raises(lv.LatentViewError, match=says) as err:
        lv.load_view(tmp_path)
    assert isinstance(err.value, VaeimbError)  # the page shows it as one st.error
    assert str(tmp_path) in str(err.value) and "remake it" in str(err.value)


def test_the_reader_loads_no_torch():
    from import_probe import heavy_modules_loaded

    code = ("from vaeimb.declarations.locations import FIRST_VIEW_DIR; from vaeimb.presentation import latent_view; "
            "from vaeimb.interfaces import latent_child; import vaeimb_app.latent_explorer; "
            "v = latent_view.load_view(FIRST_VIEW_DIR, latent_view.view_stem('vae', 0))[1]; "
            "v.decode(v.latent_mu[:2]); v.latent_map('pca'); v.latent_map('tsne')")
    assert heavy_modules_loaded(code) == []


# --------------------------------------------------------------------------------------
# the child process
# --------------------------------------------------------------------------------------
def _request(cfg: ExperimentConfig, tmp_path, **more) -> dict:
    return {"kind": "view", "config": cfg.to_dict(), "name": "vae", "seed": 0, "out": str(tmp_path / "view"),
            "cache_root": str(tmp_path / "cache"), "data_dir": None, "train": False, **more}


def test_the_child_trains_exports_and_reports_progress(tmp_path, mnist_dir, monkeypatch):
    from vaeimb.running.cache import ResultCache
    from vaeimb.studies.experiment import load_generator

    monkeypatch.setenv("VAEIMB_DATA_DIR", str(mnist_dir))
    cfg = ExperimentConfig(**TINY, latent_dim=6)
    assert latent_child.call(_request(cfg, tmp_path)) == {"status": "absent"}  # not cached, not asked to train
    assert not (tmp_path / "view").exists()
    events = []
    answer = latent_child.call(_request(cfg, tmp_path, train=True), progress=events.append)
    assert answer == {"status": "written", "folder": str(tmp_path / "view")}
    running = [e for e in events if e.status == "running"]
    assert running and {e.total for e in running} == {cfg.generator_steps} and running[-1].done == cfg.generator_steps
    assert events[-1].status == "done" and {e.job for e in events} == {"generator:vae"}
    v = lv.load_view(tmp_path / "view")[1]
    gen = load_generator(cfg, "vae", 0, cache=ResultCache(tmp_path / "cache"), data_dir=mnist_dir)  # cached now
    np.testing.assert_array_equal(v.latent_mu, gen.latent_mu)
    z = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    np.testing.assert_allclose(v.decode(z), latent.decode(gen, z), atol=1e-5)
    assert v.provenance["command"] == "the app's Latent space page"
    # asked again without training: found in the cache, exported again
    assert latent_child.call(_request(cfg, tmp_path))["status"] == "written"


def test_the_childs_errors_come_back_with_their_class_and_message(tmp_path):
    bad = {**ExperimentConfig(**TINY).to_dict(), "n_minority": 0}
    with pytest.raises(ConfigError, match="n_minority") as err:
        latent_child.call(_request(ExperimentConfig(**TINY), tmp_path, config=bad))
    assert "Traceback" not in str(err.value)
    with pytest.raises(ConfigError, match="unknown latent request 'decode'"):
        latent_child.call({"kind": "decode"})
    with pytest.raises(lv.LatentViewError, match="missing or unreadable"):  # a tsne of no view, in the child
        latent_child.call({"kind": "tsne", "folder": str(tmp_path), "label": 1, "out": str(tmp_path / "t.npy")})


@pytest.fixture
def tiny_judge(monkeypatch):
    """The judge trains on 2000 images for one epoch (the default learns all of MNIST train)."""
    from vaeimb.studies import quality

    real = quality.load_judge
    monkeypatch.setattr(quality, "load_judge", lambda mnist, cache, **_: real(mnist, cache, max_train=2000, epochs=1))


def test_quality_and_measure_requests_write_what_the_studies_give(tmp_path, mnist_dir, tiny_judge):
    from vaeimb.presentation.report import class_gains, quality_points
    from vaeimb.running import result_files
    from vaeimb.running.cache import ResultCache
    from vaeimb.studies.experiment import run_experiment
    from vaeimb.studies.quality import generator_quality_of, measure_quality

    cfg = ExperimentConfig(**TINY, latent_dim=6)
    cache = ResultCache(tmp_path / "cache")
    common = {"cache_root": str(cache.root), "data_dir": str(mnist_dir)}
    latent_child.handle({"kind": "quality", "config": cfg.to_dict(), "name": "vae", "seed": 0,
                         "out": str(tmp_path / "q.json"), **common})
    assert json.loads((tmp_path / "q.json").read_text()) == json.loads(json.dumps(
        generator_quality_of(cfg, "vae", 0, cache=cache, data_dir=mnist_dir)))

    result = run_experiment(cfg, ["baseline", "vae"], [0], cache=cache, data_dir=mnist_dir)
    result_files.save_result(result, tmp_path / "run", PROVENANCE)
    latent_child.handle({"kind": "measure", "result": str(tmp_path / "run"), "out": str(tmp_path / "m.json"), **common})
    doc = json.loads((tmp_path / "m.json").read_text())
    measure_quality(result, cache=cache, data_dir=mnist_dir)
    assert {(q["generator"], q["seed"]) for q in doc["quality"]} == {("vae", 0)}
    assert doc["points"] == json.loads(json.dumps(quality_points(result)))
    assert json.dumps(doc["gains"]) == json.dumps(class_gains(result))


def test_the_page_shows_a_broken_view_as_one_error(monkeypatch, tmp_path, mnist_dir):
    from streamlit.testing.v1 import AppTest

    from vaeimb_app.latent import view_folder

    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("VAEIMB_DATA_DIR", str(mnist_dir))
    monkeypatch.delenv("VAEIMB_APP_PRESET", raising=False)
    monkeypatch.setenv("VAEIMB_APP_WORKERS", "0")
    at = AppTest.from_file("../app.py", default_timeout=120)
    for key, value in {"cfg_n_majority": 300, "cfg_n_minority": 20, "cfg_latent_dim": 6, "cfg_n_seeds": 1}.items():
        at.session_state[key] = value
    at.run()
    cfg = ExperimentConfig(n_majority=300, n_minority=20, latent_dim=6)
    folder = view_folder(cfg, "vae", 0)
    folder.mkdir(parents=True)
    (folder / "view.json").write_text("{broken")
    (folder / "view.npz").write_bytes(b"")
    at.switch_page("pages/2_latent_space.py").run()
    assert not at.exception, at.exception
    (error,) = at.error
    assert error.value.startswith(f"the latent view {folder / 'view.json'} is missing or unreadable")
