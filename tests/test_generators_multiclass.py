"""Generators for K classes: the digit pair is the K = 2 case, bit for bit as before, and a
4-class long tail (label 0 the head, labels 1..3 to fill) fits, samples and round-trips.

The "before" is the package at ``BASE_COMMIT`` (the last one before K-class generators),
unpacked with ``git archive`` and run in a subprocess on the same real MNIST images.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from test_generators import SMALL

from vaeimb.parts.generators import (
    GENERATORS,
    FitBudget,
    FitData,
    GeneratorError,
    LatentGenerator,
    make_generator,
)
from vaeimb.parts.generators.base import CLASS_SEED, class_seed, mixed_batch_indices
from vaeimb.parts.generators.smote import smote_new_rows

ROOT = Path(__file__).resolve().parents[1]
BASE_COMMIT = "7b72ef244bf18e5bcb65ce4a0662e39a930f87af"
BUDGET = FitBudget(steps=12, batch_size=16, lr=1e-3, latent_dim=4)
LEARNED = [n for n, c in GENERATORS.items() if issubclass(c, LatentGenerator)]
#: The generators the old code had (those added since have nothing to compare with).
OLD_GENERATORS = ("vae", "cvae", "latent-smote", "smote", "augment")
#: (name, parameter values, batching) of the pair fits compared with the old code.
PAIR_CASES = [(n, {}, b) for n in OLD_GENERATORS for b in ("random", "cycle")] + [
    ("cvae", {"minority_fraction": 0.25}, "random"), ("latent-smote", {"minority_fraction": 0.25}, "cycle"),
]
SHIPPED_SEEDS = (0, 1, 2)

#: Run by the old package: fits every case on the same images, writes samples and states.
OLD_SCRIPT = r"""
import json, sys
from pathlib import Path
import numpy as np, torch
import vaeimb
from vaeimb.generators import FitBudget, FitData, make_generator
from vaeimb import shipped

base, out, threads = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
assert Path(vaeimb.__file__).resolve().is_relative_to(base.resolve()), vaeimb.__file__
torch.set_num_threads(threads)
job = json.loads((out / "job.json").read_text())
images = np.load(out / "images.npz")
data = FitData(minority=images["minority"], majority=images["majority"])
z = images["z"]
for i, (name, values, batching) in enumerate(job["cases"]):
    seen = []
    gen = make_generator(name, **values).fit(data, FitBudget(**{**job["budget"], "batching": batching}), seed=3,
                                             progress=lambda d, t: seen.append([d, t]))
    meta, arrays = gen.state()
    res = {"a": gen.sample(30, seed=5), "b": gen.sample(7, seed=0), "progress": np.array(seen, np.int64)}
    if gen.has_latent:
        res |= {"enc": gen.encode(data.minority[:5]), "dec": gen.decode(z)}
    np.savez(out / f"case{i}.npz", **res, **{"state:" + k: v for k, v in arrays.items()})
    (out / f"case{i}.json").write_text(json.dumps(meta, default=str))
(out / "shipped_dir.txt").write_text(str(shipped.DEFAULT_DIR))
for seed in job["shipped"]:
    gen = shipped.load_generator(shipped.DEFAULT_DIR, "vae", seed)
    np.savez(out / f"shipped{seed}.npz", a=gen.sample(20, seed=0), b=gen.sample(5, seed=7),
             dec=gen.decode(images["z20"]), enc=gen.encode(data.minority[:5]), mu=gen.latent_mu, kl=gen.kl_per_dim)
"""


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    from vaeimb.parts.data import load_images

    return load_images(mnist_dir)


def digits(mnist, digit: int, n: int) -> np.ndarray:
    return mnist.train_images[mnist.train_labels == digit][:n]


@pytest.fixture(scope="module")
def pair(mnist) -> FitData:
    return FitData.pair(minority=digits(mnist, 6, 24), majority=digits(mnist, 0, 60))


@pytest.fixture(scope="module")
def old(pair, tmp_path_factory) -> Path:
    """The folder of the old package's outputs (skips where git or the commit is missing)."""
    base, out = tmp_path_factory.mktemp("gen-base"), tmp_path_factory.mktemp("gen-old")
    try:
        tar = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", BASE_COMMIT, "vaeimb"],
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"the old code (commit {BASE_COMMIT[:12]}) is not in this checkout")
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(base, filter="data")
    z = np.random.default_rng(0).standard_normal((6, BUDGET.latent_dim)).astype(np.float32)
    z20 = np.random.default_rng(1).standard_normal((6, 20)).astype(np.float32)  # the shipped VAEs' latent size
    np.savez(out / "images.npz", minority=pair.minority, majority=pair.majority, z=z, z20=z20)
    job = {"cases": PAIR_CASES, "budget": asdict(BUDGET), "shipped": SHIPPED_SEEDS}
    (out / "job.json").write_text(json.dumps(job))
    env = {**os.environ, "PYTHONPATH": str(base)}
    run = subprocess.run([sys.executable, "-c", OLD_SCRIPT, str(base), str(out), str(torch.get_num_threads())],
                         cwd=base, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return out


# ---- K = 2: the digit pair, bit for bit as the old code -------------------------------------
@pytest.mark.parametrize("case", range(len(PAIR_CASES)), ids=[f"{n}-{b}{'-' + str(v) if v else ''}"
                                                              for n, v, b in PAIR_CASES])
def test_pair_fits_and_samples_bit_for_bit_as_before(old, pair, case):
    name, values, batching = PAIR_CASES[case]
    with np.load(old / f"case{case}.npz") as npz:
        want = {k: npz[k] for k in npz.files}
    old_meta = json.loads((old / f"case{case}.json").read_text())
    seen = []
    gen = make_generator(name, **values).fit(pair, replace(BUDGET, batching=batching), seed=3,
                                             progress=lambda d, t: seen.append([d, t]))
    assert np.array_equal(gen.sample(30, seed=5), want["a"]) and np.array_equal(gen.sample(7, seed=0), want["b"])
    assert np.array_equal(gen.sample(7, seed=0, label=1), want["b"])
    assert np.array_equal(np.array(seen, np.int64).reshape(-1, 2), want["progress"].reshape(-1, 2))
    if gen.has_latent:
        z = np.load(old / "images.npz")["z"]
        assert np.array_equal(gen.encode(pair.minority[:5]), want["enc"]) and np.array_equal(gen.decode(z), want["dec"])
    # the state: the same arrays under the same names (plus a VAE's posterior spreads, kept
    # since), the same meta plus the task's labels and their names
    meta, arrays = gen.state()
    old_arrays = {k[len("state:"):]: v for k, v in want.items() if k.startswith("state:")}
    assert set(arrays) - set(old_arrays) == ({"latent_sd"} if name in ("vae", "cvae") else set())
    assert set(old_arrays) <= set(arrays)
    assert all(np.array_equal(arrays[k], old_arrays[k]) for k in old_arrays)
    assert (meta["fill"], meta["n_classes"]) == ([1], 2)
    drop = lambda m: {k: v for k, v in m.items() if k not in ("info", "fill", "n_classes", "values", "names")}  # noqa: E731
    assert drop(json.loads(json.dumps(meta))) == drop(old_meta)
    # the values differ only where the old default 0.5 is now none (an equal share: 0.5 for a pair)
    # and by the parameters added since, at their defaults (which reproduce the old fits)
    added = {"width": 1, "train_aug": "none", "steps_scale": 1.0, "beta_warmup": 0.0, "sampling": "prior", "temperature": 1.0,
             "filter_q": None}
    values = {k: 0.5 if k == "minority_fraction" and v is None else v for k, v in meta["values"].items()
              if not (k in added and v == added[k])}
    assert values == old_meta["values"]
    # a state the old code saved loads and samples as it did
    loaded = make_generator(name, **old_meta["values"]).load_state(old_meta, old_arrays)
    assert (loaded.fill, loaded.n_classes) == ((1,), 2)
    assert np.array_equal(loaded.sample(30, seed=5), want["a"])


@pytest.mark.parametrize("seed", SHIPPED_SEEDS)
def test_a_pair_vae_the_old_code_shipped_loads_and_samples_as_before(old, seed):
    """The first view's VAEs as the old code shipped them (its own files: they are re-made
    at every re-ship) load here and sample, decode and encode bit for bit as there."""
    from vaeimb.running import result_files

    with np.load(old / f"shipped{seed}.npz") as npz:
        want = {k: npz[k] for k in npz.files}
    images = np.load(old / "images.npz")
    gen = result_files.load_generator(Path((old / "shipped_dir.txt").read_text()), "vae", seed)
    assert (gen.fill, gen.n_classes) == ((1,), 2)
    assert np.array_equal(gen.sample(20, seed=0), want["a"]) and np.array_equal(gen.sample(5, seed=7), want["b"])
    assert np.array_equal(gen.decode(images["z20"]), want["dec"])
    assert np.array_equal(gen.encode(images["minority"][:5]), want["enc"])
    assert np.array_equal(gen.latent_mu, want["mu"]) and np.array_equal(gen.kl_per_dim, want["kl"])


# ---- K = 4: a long tail with three labels to fill ---------------------------------------------
@pytest.fixture(scope="module")
def tail(mnist) -> FitData:
    """Label 0 the head (60 zeros), labels 1..3 the tail (12 sixes, 10 threes, 8 eights)."""
    return FitData((digits(mnist, 0, 60), digits(mnist, 6, 12), digits(mnist, 3, 10), digits(mnist, 8, 8)), (1, 2, 3))


@pytest.fixture(scope="module")
def fitted(tail):
    return {name: make_generator(name, **SMALL.get(name, {})).fit(tail, BUDGET, seed=0) for name in GENERATORS}


def test_fit_data_describes_the_task(tail, pair):
    assert (tail.n_classes, tail.fill) == (4, (1, 2, 3))
    assert tail.minority is tail.by_class[1] and tail.majority is tail.by_class[0]
    assert (pair.n_classes, pair.fill, len(pair.minority), len(pair.majority)) == (2, (1,), 24, 60)


@pytest.mark.parametrize("fill, wrong", [
    ((0, 1), "labels in 1..3 \\(label 0 is the head"), ((1, 4), "labels in 1..3"),
    ((2, 2), "distinct"), ((), "distinct"),
])
def test_labels_to_fill_are_checked(tail, fill, wrong):
    with pytest.raises(GeneratorError, match=wrong):
        make_generator("smote").fit(FitData(tail.by_class, fill), BUDGET, seed=0)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_every_label_to_fill_needs_an_image(tail, name):
    empty = FitData(tail.by_class[:2] + (tail.by_class[2][:0],) + tail.by_class[3:], (1, 2, 3))
    with pytest.raises(GeneratorError, match="needs at least one minority image \\(label 2\\)"):
        make_generator(name, **SMALL.get(name, {})).fit(empty, BUDGET, seed=0)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_each_label_to_fill_samples_its_own_images(fitted, tail, name):
    g = fitted[name]
    assert (g.fill, g.n_classes) == ((1, 2, 3), 4) and g.info["n_by_class"] == [60, 12, 10, 8]
    out = {c: g.sample(9, seed=1, label=c) for c in (1, 2, 3)}
    assert all(a.shape == (9, 28, 28) and a.dtype == np.uint8 for a in out.values())
    assert np.array_equal(g.sample(9, seed=1), out[1])  # None: the first label to fill
    assert np.array_equal(g.sample(9, seed=1, label=2), out[2])
    assert not np.array_equal(out[1], out[2]) and not np.array_equal(out[2], out[3])
    for bad in (0, 4, -1):
        with pytest.raises(GeneratorError, match=f"generates label\\(s\\) 1, 2, 3, not {bad}"):
            g.sample(3, seed=0, label=bad)


@pytest.mark.parametrize("name", ["vae", "smote", "augment"])
def test_a_model_per_label_is_the_pairs_model_with_the_labels_seed(fitted, tail, name):
    """Label c of a long tail = the pair's generator fitted on label c's images alone, with
    seed + (c - 1) * 1_000_003 for its fit and its samples."""
    for c in (1, 3):
        alone = make_generator(name, **SMALL.get(name, {})).fit(FitData.pair(tail.by_class[c], tail.majority), BUDGET, seed=class_seed(0, c))
        assert np.array_equal(fitted[name].sample(6, seed=4, label=c), alone.sample(6, seed=4 + (c - 1) * CLASS_SEED))


def test_vae_progress_counts_over_every_label(tail):
    seen = []
    make_generator("vae").fit(tail, FitBudget(steps=4, batch_size=8, latent_dim=2), seed=0,
                              progress=lambda done, total: seen.append((done, total)))
    assert seen == [(d, 12) for d in range(1, 13)]


@pytest.mark.parametrize("name", LEARNED)
def test_latent_interface_takes_the_label(fitted, tail, name):
    g = fitted[name]
    z = np.random.default_rng(2).standard_normal((4, 4)).astype(np.float32)
    for c in (1, 2, 3):
        assert g.latent_mu_of(c).shape == (len(tail.by_class[c]), 4)
        assert np.array_equal(g.latent_mu_of(c), g.encode(tail.by_class[c], label=c))
        cond = g.decoder_condition(c)
        zin = z if cond is None else np.hstack([z, np.tile(cond, (len(z), 1))])
        with torch.no_grad():
            logits = g.decoder_module(c)(torch.from_numpy(zin))
        np.testing.assert_allclose(torch.sigmoid(logits)[:, 0].numpy(), g.decode(z, label=c), atol=1e-6)
    assert g.latent_mu is g.latent_mu_of(1) and g.kl_per_dim.shape == (4,)
    assert np.array_equal(g.decode(z), g.decode(z, label=1))
    with pytest.raises(GeneratorError, match="not 0"):
        g.encode(tail.majority[:2], label=0)


def test_cvae_conditions_on_the_label(fitted):
    g = fitted["cvae"]
    assert g.model.fc_mu.in_features == 32 * 7 * 7 + 4
    assert g.decoder_condition().tolist() == [0.0, 1.0, 0.0, 0.0]
    assert g.decoder_condition(3).tolist() == [0.0, 0.0, 0.0, 1.0]
    z = np.zeros((2, 4), np.float32)
    assert not np.allclose(g.decode(z, label=1), g.decode(z, label=2))  # same codes, other label, other digit


def test_latent_smote_interpolates_within_each_labels_codes(fitted):
    g = fitted["latent-smote"]
    for c in (1, 2, 3):
        own = g.latent_mu_of(c)
        z = smote_new_rows(own, 12, 5, class_seed(7, c))
        assert np.array_equal(g.sample(12, seed=7, label=c), np.round(g.decode(z, label=c) * 255).astype(np.uint8))
        assert ((z >= own.min(0) - 1e-6) & (z <= own.max(0) + 1e-6)).all()
        others = np.concatenate([g.latent_mu_of(o) for o in (1, 2, 3) if o != c])
        assert not ((others >= own.min(0)) & (others <= own.max(0))).all()  # the check can fail


@pytest.mark.parametrize("name", list(GENERATORS))
def test_state_round_trip_for_four_classes(fitted, tail, name):
    g = fitted[name]
    meta, arrays = g.state()
    meta = json.loads(json.dumps(meta))
    assert (meta["fill"], meta["n_classes"]) == ([1, 2, 3], 4)
    assert any(k.startswith("class3/") for k in arrays)  # label 1 under the pair's names, label c under class<c>/
    loaded = make_generator(name, **meta["values"]).load_state(meta, arrays)
    assert (loaded.fill, loaded.n_classes) == ((1, 2, 3), 4)
    for c in (1, 2, 3):
        assert np.array_equal(loaded.sample(7, seed=2, label=c), g.sample(7, seed=2, label=c))
        if name in LEARNED:
            assert np.array_equal(loaded.latent_mu_of(c), g.latent_mu_of(c))
            assert np.array_equal(loaded.encode(tail.by_class[c][:3], label=c), g.encode(tail.by_class[c][:3], label=c))


# ---- class-mixed batches for K classes ----------------------------------------------------------
@pytest.mark.parametrize("fraction, rows", [
    (None, {1: 4, 2: 4, 3: 4, 0: 4}),   # every label an equal share
    (0.5, {1: 3, 2: 3, 3: 2, 0: 8}),    # 8 rows to fill, split in label order
    (0.05, {1: 1, 2: 1, 3: 1, 0: 13}),  # at least one row of each label to fill
    (1.0, {1: 6, 2: 5, 3: 5, 0: 0}),
])
def test_mixed_batches_for_four_classes(fraction, rows):
    idx = mixed_batch_indices(0, [60, 12, 10, 8], [1, 2, 3], 16, fraction, "random", torch.Generator().manual_seed(0))
    assert list(idx) == [1, 2, 3, 0]  # drawn: the labels to fill in label order, then the others
    assert {c: len(i) for c, i in idx.items()} == rows and sum(rows.values()) == 16
    assert all(int(i.max()) < n for c, n in enumerate((60, 12, 10, 8)) if len(i := idx[c]))


def test_mixed_batches_cycle_each_label_on_its_own():
    gen = torch.Generator().manual_seed(0)
    steps = [mixed_batch_indices(k, [9, 3, 5], [1, 2], 8, None, "cycle", gen) for k in range(3)]
    # 8 rows: 2/3 of them (5) to fill, 3 and 2 in label order; 3 for label 0
    assert torch.cat([s[1] for s in steps]).tolist() == [0, 1, 2] * 3
    assert torch.cat([s[2] for s in steps]).tolist() == [0, 1, 2, 3, 4, 0]
    assert torch.cat([s[0] for s in steps]).tolist() == list(range(9))
