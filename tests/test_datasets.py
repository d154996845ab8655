"""The datasets beyond MNIST (issue #25): Fashion-MNIST and Kuzushiji-MNIST, without a network.

The real files are never fetched here: small GENERATED IDX gz files in each dataset's
layout stand in for them, served by a loopback HTTP mirror (``LoopbackMirror`` of
tests/test_download.py) as ``<base><dataset name>/<file>`` (``$VAEIMB_DATA_MIRROR``). Their
checksums cannot be the real ones, so the declaration's md5s are replaced in this process
only (``DATASETS``). What the real datasets give is measured by a user's first Run.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_download import PROXY_VARS, LoopbackMirror

from vaeimb.declarations.config import ExperimentConfig
from vaeimb.declarations.datasets import DATASETS, FILES, MIRROR_ENV
from vaeimb.declarations.errors import DataUnavailableError
from vaeimb.declarations.task_kinds import TASK_KINDS
from vaeimb.interfaces import cli
from vaeimb.parts import data as D
from vaeimb.presentation.report import format_table, to_json_dict
from vaeimb.running.recipes import build_approach
from vaeimb.running.runner import Runner
from vaeimb.studies.experiment import Experiment, run_many

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "datasets.md"
#: Generated images of each class in each split: enough for tests/tiny_setup.py's TINY
#: config (300 of the head, the oracle's 300 of the minority).
N_TRAIN, N_TEST = 320, 40
#: One seed per dataset: different files, so their checksums differ.
SEEDS = {"fashion-mnist": 1, "kmnist": 2}
TINY_FLAGS = ["--n-majority", "300", "--n-minority", "20", "--steps", "10", "--batch-size", "16",
              "--generator-steps", "5", "--generator-batch-size", "16", "--seeds", "0", "--quiet"]


def write_idx(path: Path, arr: np.ndarray) -> None:
    arr = np.asarray(arr, np.uint8)
    header = (0x0800 + arr.ndim).to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())


def generate(folder: Path, seed: int) -> dict[str, str]:
    """The four IDX gz files of a ten-class dataset of 28 x 28 images into ``folder``
    (class k: a horizontal bar at its own height over faint noise, ``N_TRAIN`` / ``N_TEST``
    of each, shuffled); returns their md5s by ``FILES`` key."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        y = rng.permutation(np.repeat(np.arange(10), n))
        x = rng.integers(0, 4, (len(y), 28, 28)) * 10
        for k in range(10):
            x[y == k, 2 + 2 * k: 6 + 2 * k, 4:24] += 200
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = x, y
    for key, name in FILES.items():
        write_idx(folder / name, arrays[key])
    return {key: hashlib.md5((folder / name).read_bytes()).hexdigest() for key, name in FILES.items()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict:
    """Per dataset: its flat folder (what the mirror serves), its md5s, and a data dir
    holding the same files as ``<data dir>/<folder>/raw/``."""
    root = tmp_path_factory.mktemp("generated")
    out = {}
    for name, seed in SEEDS.items():
        md5 = generate(root / "served" / name, seed)
        raw = root / "data" / DATASETS[name].folder / "raw"
        raw.mkdir(parents=True)
        for f in FILES.values():
            shutil.copy(root / "served" / name / f, raw / f)
        out[name] = {"served": root / "served" / name, "md5": md5}
    out["data_dir"] = root / "data"
    return out


@pytest.fixture
def fresh(monkeypatch, tmp_path, generated):
    """A machine without any dataset: no data dir, an empty user cache, no proxy, no old
    MNIST mirror; the generated files' checksums declared (this process only)."""
    for var in (*PROXY_VARS, D.DATA_DIR_ENV, "VAEIMB_MNIST_MIRROR", MIRROR_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for name in SEEDS:
        monkeypatch.setitem(DATASETS, name, replace(DATASETS[name], md5=generated[name]["md5"]))
    D._load_cached.cache_clear()
    yield tmp_path / "xdg" / "vaeimb" / "data"
    D._load_cached.cache_clear()


# --------------------------------------------------------------------------------------
# (a) Downloads through $VAEIMB_DATA_MIRROR
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(SEEDS))
def test_a_dataset_downloads_once_from_the_data_mirror_into_the_user_cache(name, generated, fresh, monkeypatch):
    ds = DATASETS[name]
    with LoopbackMirror({name: generated[name]["served"]}) as mirror:
        monkeypatch.setenv(MIRROR_ENV, mirror.base)
        first = D.load_images(dataset=name)
        D._load_cached.cache_clear()  # a new process: it reads the files on disk
        second = D.load_images(dataset=name)
    raw = fresh / ds.folder / "raw"
    assert first.source == second.source == raw.resolve() and first.dataset == second.dataset == name
    for f in FILES.values():
        assert (raw / f).read_bytes() == (generated[name]["served"] / f).read_bytes(), f
    assert dict(mirror.served) == {f"{name}/{f}": 1 for f in FILES.values()}  # once each, not again
    assert first.train_images.shape == (10 * N_TRAIN, 28, 28) and first.test_labels.shape == (10 * N_TEST,)
    assert np.array_equal(first.train_labels, second.train_labels)
    assert np.bincount(first.train_labels).tolist() == [N_TRAIN] * 10
    assert not (fresh / "MNIST").exists()  # only the dataset asked for


@pytest.mark.parametrize("refuse, corrupt", [(404, ()), (None, (FILES["test_labels"],))])
def test_a_refusing_or_corrupt_mirror_is_one_line_and_leaves_nothing(refuse, corrupt, generated, fresh, monkeypatch):
    name = "kmnist"
    with LoopbackMirror({name: generated[name]["served"]}, refuse=refuse, corrupt=corrupt) as mirror:
        monkeypatch.setenv(MIRROR_ENV, mirror.base)
        with pytest.raises(DataUnavailableError) as e:
            D.load_images(dataset=name)
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    assert msg.startswith("Kuzushiji-MNIST not found and could not be downloaded")
    assert MIRROR_ENV in msg and "<base>kmnist/<file>" in msg and "VAEIMB_MNIST_MIRROR" not in msg
    assert ("404" in msg) if refuse else (f"Error downloading {FILES['test_labels']}" in msg)
    assert sum(mirror.served.values()) + sum(mirror.probes.values()) >= 1  # it did ask the mirror
    assert not fresh.exists() or not [p for p in fresh.rglob("*") if p.is_file()], list(fresh.rglob("*"))
    assert not (fresh / "KMNIST").exists()


# --------------------------------------------------------------------------------------
# (b) Which mirror
# --------------------------------------------------------------------------------------
def test_the_old_mnist_mirror_is_still_read_and_the_data_mirror_preferred(monkeypatch):
    mnist, fashion = DATASETS["mnist"], DATASETS["fashion-mnist"]
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.delenv("VAEIMB_MNIST_MIRROR", raising=False)
    assert D.mirrors_for(mnist) is None and D.mirrors_for(fashion) is None  # their own mirrors
    monkeypatch.setenv("VAEIMB_MNIST_MIRROR", "http://old.example/m")
    assert D.mirrors_for(mnist) == ["http://old.example/m/"]  # <base><file>, as before
    assert D.mirrors_for(fashion) is None  # MNIST's variable is MNIST's alone
    monkeypatch.setenv(MIRROR_ENV, "http://new.example/data, http://other.example/d/")
    assert D.mirrors_for(mnist) == ["http://new.example/data/mnist/", "http://other.example/d/mnist/"]
    assert D.mirrors_for(fashion) == ["http://new.example/data/fashion-mnist/", "http://other.example/d/fashion-mnist/"]
    assert D.mirrors_for(DATASETS["kmnist"]) == ["http://new.example/data/kmnist/", "http://other.example/d/kmnist/"]


# --------------------------------------------------------------------------------------
# (c) Another dataset's files under the name asked for
# --------------------------------------------------------------------------------------
def test_mnist_files_asked_for_as_fashion_mnist_are_refused_in_one_line(mnist_dir, tmp_path):
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for f in FILES.values():  # copies: the shared folder is only ever read
        shutil.copy(D.find_raw_files(mnist_dir)["train_images"].parent / f, raw / f)
    D._load_cached.cache_clear()
    with pytest.raises(DataUnavailableError) as e:
        D.load_images(tmp_path / "data", download=False, dataset="fashion-mnist")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg == (f"The files under {raw.resolve()} are MNIST's, not Fashion-MNIST's: put Fashion-MNIST's under "
                   "<data dir>/FashionMNIST/raw/ (the data dir is --data-dir or VAEIMB_DATA_DIR).")
    assert sorted(p.name for p in raw.iterdir()) == sorted(FILES.values())  # nothing written beside them


# --------------------------------------------------------------------------------------
# (d) A run on Fashion-MNIST, end to end
# --------------------------------------------------------------------------------------
def test_a_tiny_fashion_mnist_run_names_its_classes_and_keys_its_cache_apart(generated, cache, tmp_path):
    from tiny_setup import TINY

    from vaeimb.running.result_files import load_result, save_result

    config = ExperimentConfig(dataset="fashion-mnist", **TINY)
    approaches = ("vae", "batches=balanced,aug=flip")
    (result,) = run_many([Experiment(config, approaches, (0,))], cache=cache, data_dir=generated["data_dir"])
    assert not result.failures, result.failures
    assert set(result.approaches) == {"vae", "batches=balanced,aug=flip", "baseline"}  # vae's twin beside
    for by_seed in result.runs.values():
        r = by_seed[0]
        assert len(r.test_y) == 2 * N_TEST and sorted(set(r.test_y.tolist())) == [0, 1]
    assert result.run("vae", 0).info["n_generated"] == 280
    label = config.label()
    assert label.startswith("Fashion-MNIST: 0 (T-shirt/top) vs 6 (Shirt), 300/20")
    assert "0 (T-shirt/top) and 6 (Shirt)" in config.test_plan.description
    assert format_table(result).splitlines()[0] == f"Config: {label}"
    doc = to_json_dict(result)
    assert doc["config"]["dataset"] == "fashion-mnist" and doc["label"] == label
    save_result(result, tmp_path / "saved", {"command": "test"})
    assert load_result(tmp_path / "saved").config.dataset == "fashion-mnist"
    # the same config on MNIST is another cache entry
    for name in approaches:
        a = build_approach(name, config.protocol_record)
        keys = {ds: Runner(config.replace(dataset=ds), cache).classifier_key(a, 0) for ds in ("fashion-mnist", "mnist")}
        assert keys["fashion-mnist"] != keys["mnist"], name
    assert Runner(config, cache).generator_key(build_approach("vae"), 0) != Runner(
        config.replace(dataset="mnist"), cache).generator_key(build_approach("vae"), 0)


# --------------------------------------------------------------------------------------
# (e) The command line
# --------------------------------------------------------------------------------------
def _one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_cli_runs_fashion_mnist_and_prints_its_table(generated, tmp_path, capsys):
    rc = cli.main(["run", "--dataset", "fashion-mnist", *TINY_FLAGS, "--approaches", "baseline",
                   "--recipe", "batches=balanced,aug=flip", "--data-dir", str(generated["data_dir"]),
                   "--cache-dir", str(tmp_path / "c"), "--in-process", "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Config: Fashion-MNIST: 0 (T-shirt/top) vs 6 (Shirt)" in out
    assert "misclassified /80" in out and "baseline" in out and "batches=balanced,aug=flip" in out
    assert json.loads((tmp_path / "r.json").read_text())["config"]["dataset"] == "fashion-mnist"


def test_cli_atlas_and_sweep_run_on_kmnist_class_pairs(generated, tmp_path, capsys):
    """Every task works on any dataset: an atlas of two class pairs and a sweep of two ratios."""
    common = ["--dataset", "kmnist", "--n-majority", "300", "--steps", "10", "--batch-size", "16",
              "--checkpoints", "2", "--seeds", "0", "--approaches", "baseline", "oversample",
              "--data-dir", str(generated["data_dir"]), "--cache-dir", str(tmp_path / "c"), "--in-process"]
    assert cli.main(["atlas", "--pairs", "0:6", "2:9", "--ratios", "5%", *common, "--out", str(tmp_path / "a"),
                     "--quiet"]) == 0
    meta = json.loads((tmp_path / "a" / "atlas.json").read_text())
    assert json.dumps(meta).count("kmnist") >= 1  # the atlas's budget names its dataset
    rows = (tmp_path / "a" / "atlas.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 2  # two pairs x two approaches x one seed
    capsys.readouterr()
    assert cli.main(["sweep", "--ratios", "5%", "10%", *common, "--csv", str(tmp_path / "s.csv"), "--quiet"]) == 0
    assert "Kuzushiji-MNIST: 0 (o) vs 6 (ma)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, says", [
    (["--dataset", "nope"], "dataset must be mnist | fashion-mnist | kmnist | file:<hash>"),
    (["--dataset", "missing.npz"], "missing.npz"),
    (["--recipe", "aug=flip"], "flips change a digit's meaning; MNIST declares no flips"),
    (["--dataset", "kmnist", "--recipe", "aug=flip"], "Kuzushiji-MNIST declares no flips"),
])
def test_cli_bad_dataset_or_flip_on_digits_is_one_line_exit_2(argv, says, tmp_path, capsys, count_training):
    try:
        rc = cli.main(["run", *TINY_FLAGS, "--approaches", "baseline", *argv, "--data-dir", str(tmp_path),
                       "--cache-dir", str(tmp_path / "c"), "--in-process"])
    except SystemExit as exit:  # refused by the parser
        rc = exit.code
    assert rc == 2 and says in _one_error_line(capsys.readouterr().err)
    assert count_training["clf"] == 0


def test_cli_with_mnist_files_for_fashion_mnist_is_one_line_exit_2(mnist_dir, tmp_path, capsys, count_training):
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for f in FILES.values():
        shutil.copy(D.find_raw_files(mnist_dir)["train_images"].parent / f, raw / f)
    D._load_cached.cache_clear()
    rc = cli.main(["run", "--dataset", "fashion-mnist", *TINY_FLAGS, "--approaches", "baseline",
                   "--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "c"), "--in-process"])
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2 and "are MNIST's, not Fashion-MNIST's" in line and count_training["clf"] == 0


# --------------------------------------------------------------------------------------
# (f) MNIST's cache keys
# --------------------------------------------------------------------------------------
def test_mnist_configs_keep_their_data_keys():
    """The dataset enters a key only when it is not MNIST: every MNIST result cached before
    the datasets existed keeps its key (but for the code id, as after any change)."""
    assert ExperimentConfig().data_dict() == {"majority": 0, "minority": 6, "n_majority": 5000, "n_minority": 100,
                                              "draw": "seeded", "output_logits": 2}
    for task in TASK_KINDS:
        mnist = ExperimentConfig(task=task)
        assert mnist.dataset == "mnist" and "dataset" not in mnist.data_dict(), task
        assert "dataset" not in mnist.generator_data_dict(), task
        assert ExperimentConfig(task=task, dataset="mnist").data_dict() == mnist.data_dict()
        for name in SEEDS:
            other = ExperimentConfig(task=task, dataset=name).data_dict()
            assert other["dataset"] == name, (task, name)
    # the pair's draw is the same on every dataset: the name alone tells the keys apart (the
    # long tail's test sets follow each dataset's own counts as well)
    assert ExperimentConfig(dataset="kmnist").data_dict() == {**ExperimentConfig().data_dict(), "dataset": "kmnist"}


def test_the_declared_files_checksums_and_mirrors_are_torchvisions():
    """The real files' md5s are not checked here (no network): they are torchvision's own."""
    import torchvision.datasets

    for ds in DATASETS.values():
        theirs = getattr(torchvision.datasets, ds.torchvision)
        assert dict(theirs.resources) == {FILES[k]: ds.md5[k] for k in FILES}, ds.name
        assert list(theirs.mirrors) == list(ds.mirrors), ds.name


# --------------------------------------------------------------------------------------
# docs/datasets.md
# --------------------------------------------------------------------------------------
def datasets_table() -> str:
    """The table of docs/datasets.md, as the declarations say."""
    def n(x: int) -> str:
        return f"{x:,}".replace(",", " ")

    def span(counts) -> str:
        return f"{n(min(counts))} each" if min(counts) == max(counts) else f"{n(min(counts))}-{n(max(counts))}"

    rows = [("| dataset | `--dataset` | classes (label: name) | train / test images | per class | folder | "
             "horizontal flips |"), "|---|---|---|---|---|---|---|"]
    for ds in DATASETS.values():
        named = any(name != str(c) for c, name in enumerate(ds.class_names))
        classes = ", ".join(f"{c}: {name}" for c, name in enumerate(ds.class_names)) if named else \
            f"the {ds.nouns} 0-{ds.n_classes - 1}"
        rows.append(f"| {ds.label} | `{ds.name}` | {classes} | {n(sum(ds.train_counts))} / {n(sum(ds.test_counts))} | "
                    f"{span(ds.train_counts)} / {span(ds.test_counts)} | `{ds.folder}/raw/` | "
                    f"{'yes (`aug=flip`)' if ds.flips else 'no'} |")
    return "\n".join(rows)


def test_the_datasets_page_lists_every_declared_dataset():
    text = DOC.read_text()
    assert datasets_table() in text, "docs/datasets.md's table differs from DATASETS:\n" + datasets_table()
    for needed in (MIRROR_ENV, "VAEIMB_MNIST_MIRROR", D.DATA_DIR_ENV, *FILES.values(), "aug=flip"):
        assert needed in text, needed
    for ds in DATASETS.values():
        for mirror in ds.mirrors:
            assert mirror in text, mirror
    assert "(datasets.md)" in (ROOT / "docs" / "index.md").read_text()
    assert "(docs/datasets.md)" in (ROOT / "README.md").read_text()
