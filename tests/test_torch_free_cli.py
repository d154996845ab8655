"""A run whose every result is cached loads no torch: planning, cache keys, cache reads and
the report are torch-free; torch loads only where a job computes (issue #24)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from import_probe import heavy_modules_loaded

from vaeimb.declarations import provenance
from vaeimb.declarations.datasets import FILES
from vaeimb.parts import data as D
from vaeimb.parts import training as T

#: A tiny run of the CLI (seconds to train): the first time trains, the second reads the cache.
TINY = ["run", "--n-majority", "300", "--n-minority", "20", "--steps", "30", "--batch-size", "32", "--checkpoints", "3",
        "--approaches", "baseline", "oversample", "--seeds", "0", "--in-process", "--quiet"]


def _cli(args: list[str]) -> str:
    """``python -m vaeimb ARGS`` as code that ends normally (the probe then reads sys.modules)."""
    return ("import runpy, sys\n"
            f"sys.argv = ['vaeimb', *{args!r}]\n"
            "try:\n    runpy.run_module('vaeimb', run_name='__main__')\n"
            "except SystemExit as e:\n    assert e.code in (0, None), e.code\n")


def test_a_cli_run_whose_results_are_all_cached_imports_no_torch(tmp_path, mnist_dir, monkeypatch):
    monkeypatch.setenv("VAEIMB_DATA_DIR", str(mnist_dir))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # decoded MNIST, code digests: kept here
    args = [*TINY, "--cache-dir", str(tmp_path / "cache"), "--json", str(tmp_path / "out.json")]
    assert "torch" in heavy_modules_loaded(_cli(args))  # the first run trains: torch computes
    first = json.loads((tmp_path / "out.json").read_text())
    assert heavy_modules_loaded(_cli(args)) == []  # the second only reads: no torch, sklearn or imblearn
    again = json.loads((tmp_path / "out.json").read_text())
    assert again["cached"] == 2 and again["runs"] == first["runs"]


def test_planning_keys_and_every_parts_declaration_load_without_torch():
    """Every preset planned, every job's key computed, every part family's classes and
    parameters read: no torch (a part imports it where it computes), no imbalanced-learn."""
    code = (
        "from vaeimb.declarations.config import ExperimentConfig\n"
        "from vaeimb.running.cache import ResultCache\n"
        "from vaeimb.running.recipes import PRESETS, part_class\n"
        "from vaeimb.running.runner import Runner, plan\n"
        "from vaeimb.running.results import generator_label\n"
        "import vaeimb.studies.experiment, vaeimb.studies.sweep, vaeimb.running.executor, vaeimb.presentation.report\n"
        "from vaeimb.parts import generators, losses, batches, augmentations, mixing, decisions, sources\n"
        "cfg = ExperimentConfig(n_majority=300, n_minority=20)\n"
        "chosen, _ = plan(cfg, [p for p in PRESETS if PRESETS[p].made_for(cfg)])\n"
        "runner = Runner(cfg, ResultCache('/nonexistent-vaeimb-cache'))\n"
        "keys = [runner.classifier_key(a, 0) for a in chosen] + [runner.generator_key(a, 0) for a in chosen if a.recipe.gen]\n"
        "labels = [generator_label(a) for a in chosen if a.recipe.gen]\n"
        "tables = (generators.GENERATORS, losses.LOSSES, batches.BATCHES, augmentations.AUGMENTATIONS, mixing.MIXINGS,"
        " decisions.DECISIONS, sources.SOURCES)\n"
        "assert all(cls.params is not None and cls(**{}) for t in tables for cls in t.values())\n"
        "assert len(keys) > len(chosen) and 'cvae[' in ' '.join(labels)\n"
    )
    # sklearn may load: a tuned decision's validation split is checked when a run is planned
    assert heavy_modules_loaded(code, ("torch", "imblearn")) == []


def test_the_moved_networks_are_still_found_where_they_were():
    """The generators' torch networks (``nn.Module`` classes) live in ``generators.networks``;
    their old modules still give them (loading torch then)."""
    from vaeimb.parts.generators import cvae, deepsmote, latent_smote, networks

    assert deepsmote.DeepSmoteAutoencoder is networks.DeepSmoteAutoencoder
    assert cvae.ConditionalConvVAE is networks.ConditionalConvVAE
    assert latent_smote.ConvAutoencoder is networks.ConvAutoencoder
    with pytest.raises(AttributeError):
        deepsmote.not_a_network  # noqa: B018


def test_the_device_is_told_without_torch_as_torch_tells_it():
    """``cuda_available`` reads the torch build and asks the CUDA driver; torch agrees (on
    a machine with or without a GPU), and the build constants are torch's own."""
    import torch

    build = T._torch_build()
    assert build is not None and build["cuda"] == torch.version.cuda and build.get("hip") == torch.version.hip
    T.cuda_available.cache_clear()
    try:
        assert T.cuda_available() == torch.cuda.is_available()
    finally:
        T.cuda_available.cache_clear()


def test_a_device_named_in_the_environment_is_the_identitys(monkeypatch):
    monkeypatch.setenv("VAEIMB_DEVICE", "cuda:1")
    assert T.device_type() == "cuda" and T.current_identity().device == "cuda"
    monkeypatch.setenv("VAEIMB_DEVICE", "CPU")
    assert T.device_type() == "cpu"


def _idx(path, arr: np.ndarray) -> None:
    header = (0x0800 | arr.ndim).to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_decoded_mnist_is_kept_and_read_back_unchanged(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    rng = np.random.default_rng(0)
    files = {}
    for key, shape in (("train_images", (5, 28, 28)), ("train_labels", (5,)), ("test_images", (3, 28, 28)),
                       ("test_labels", (3,))):
        files[key] = tmp_path / FILES[key]
        _idx(files[key], rng.integers(0, 256, shape))
    decoded = {k: D._read_idx(p) for k, p in files.items()}
    first = D._decoded(files)  # decodes, and keeps a copy
    (kept,) = (tmp_path / "xdg" / "vaeimb" / D.DECODED_DIR).iterdir()
    assert sorted(q.name for q in kept.iterdir()) == sorted(f"{k}.npy" for k in files)
    monkeypatch.setattr(D, "_read_idx", lambda p: pytest.fail("the kept copy was not read"))
    second = D._decoded(files)
    for k in files:
        assert np.array_equal(first[k], decoded[k]) and np.array_equal(second[k], decoded[k])
        assert second[k].dtype == np.uint8 and not second[k].flags.writeable
        assert type(second[k]) is np.ndarray and isinstance(second[k].base, np.memmap)  # shared, not copied
        assert isinstance(first[k].base, np.memmap)  # the process that decoded reads the shared copy too
    (kept / "train_images.npy").write_bytes(b"not an array")  # a damaged copy is decoded again, not trusted
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert all(np.array_equal(D._decoded(files)[k], decoded[k]) for k in files)


def test_only_the_newest_decoded_copies_are_kept(tmp_path, monkeypatch):
    """Each MNIST folder (or a changed file) makes its own 55 MB copy: the oldest go."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    rng = np.random.default_rng(1)
    for i in range(D.DECODED_KEPT + 2):
        folder = tmp_path / f"mnist{i}"
        folder.mkdir()
        files = {}
        for key, shape in (("train_images", (2, 28, 28)), ("train_labels", (2,)), ("test_images", (1, 28, 28)),
                           ("test_labels", (1,))):
            files[key] = folder / FILES[key]
            _idx(files[key], rng.integers(0, 10, shape))
        D._decoded(files)
    kept = list((tmp_path / "xdg" / "vaeimb" / D.DECODED_DIR).iterdir())
    assert len(kept) == D.DECODED_KEPT and all(q.is_dir() for q in kept)
    assert not list(kept[0].parent.glob("*.tmp"))


def test_an_earlier_versions_decoded_copy_is_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    legacy = tmp_path / "xdg" / "vaeimb" / D.DECODED_DIR / ("0" * 20 + ".npz")
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"55 MB once")
    files = {}
    for key, shape in (("train_images", (2, 28, 28)), ("train_labels", (2,)), ("test_images", (1, 28, 28)),
                       ("test_labels", (1,))):
        files[key] = tmp_path / FILES[key]
        _idx(files[key], np.zeros(shape))
    D._decoded(files)
    assert not legacy.exists() and len(list(legacy.parent.iterdir())) == 1


def test_the_kept_code_digests_give_the_fingerprint_the_code_gives(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("X = 1\n")
    (pkg / "b.py").write_text('"""doc"""\ndef f():\n    return 2\n')
    kept = tmp_path / "digests.json"
    plain = provenance.fingerprint_of(pkg, ["a.py", "b.py"])
    assert provenance.fingerprint_of(pkg, ["a.py", "b.py"], kept=kept) == plain and kept.is_file()
    monkeypatch.setattr(provenance.ast, "parse", lambda *a, **k: pytest.fail("a kept digest was parsed again"))
    assert provenance.fingerprint_of(pkg, ["a.py", "b.py"], kept=kept) == plain
    monkeypatch.undo()
    (pkg / "a.py").write_text("X = 2\n")  # a change to the code changes the fingerprint, kept digests or not
    changed = provenance.fingerprint_of(pkg, ["a.py", "b.py"], kept=kept)
    assert changed != plain and changed == provenance.fingerprint_of(pkg, ["a.py", "b.py"])

