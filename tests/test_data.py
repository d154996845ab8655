import gzip
import os
import shutil
import stat

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from vaeimb.declarations.config import ExperimentConfig
from vaeimb.declarations.digits import TEST_COUNTS, TRAIN_COUNTS
from vaeimb.declarations.errors import ConfigError, DataUnavailableError
from vaeimb.declarations.datasets import FILES
from vaeimb.parts import data as D


def _write_idx(path, arr):
    arr = np.asarray(arr, np.uint8)
    header = (0x0800 + arr.ndim).to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())


def test_reads_idx_gz(tmp_path):
    arr = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    _write_idx(tmp_path / "x.gz", arr)
    assert np.array_equal(D._read_idx(tmp_path / "x.gz"), arr)


def test_truncated_idx_is_a_clear_error(tmp_path):
    with gzip.open(tmp_path / "x.gz", "wb") as f:
        f.write((0x0803).to_bytes(4, "big") + (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\0" * 10)
    with pytest.raises(DataUnavailableError, match="truncated"):
        D._read_idx(tmp_path / "x.gz")


def test_data_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("VAEIMB_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert D.resolve_data_dir(tmp_path / "arg") == (tmp_path / "arg").resolve()
    assert D.resolve_data_dir() == (tmp_path / "env").resolve()
    monkeypatch.delenv("VAEIMB_DATA_DIR")
    assert D.resolve_data_dir() == (tmp_path / "xdg" / "vaeimb" / "data").resolve()


def test_missing_data_without_download_names_the_variable_and_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataUnavailableError) as e:
        D.load_images(tmp_path / "empty", download=False)
    msg = str(e.value)
    assert "VAEIMB_DATA_DIR" in msg and "train-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg


def test_failed_download_is_one_clear_error(tmp_path, unreachable_mnist_mirror):
    """torchvision's real download, against a mirror that refuses connections."""
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataUnavailableError) as e:
        D.load_images(empty, download=True)
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    assert "VAEIMB_DATA_DIR" in msg and str(empty.resolve()) in msg
    assert all(name in msg for name in FILES.values())  # what to put there
    assert "Error downloading train-images-idx3-ubyte.gz" in msg  # why: torchvision's own first line
    assert D.find_raw_files(empty) is None


def test_download_goes_through_torchvision_into_the_chosen_folder(tmp_path, monkeypatch, mnist_dir):
    import torchvision.datasets

    calls = []

    class FakeMNIST:  # what torchvision leaves behind: the gz files under MNIST/raw
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            raw = os.path.join(root, "MNIST", "raw")
            os.makedirs(raw, exist_ok=True)
            for name in FILES.values():
                shutil.copy(D.find_raw_files(mnist_dir)["train_images"].parent / name, raw)

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    (tmp_path / "dl").mkdir()
    m = D.load_images(tmp_path / "dl")
    assert calls and all(c[2] for c in calls) and calls[0][0] == str((tmp_path / "dl").resolve())
    assert m.train_images.shape == (60000, 28, 28)


def test_loads_real_mnist_read_only_without_writing(mnist_dir, tmp_path):
    ro = tmp_path / "ro" / "MNIST" / "raw"
    ro.mkdir(parents=True)
    for p in D.find_raw_files(mnist_dir).values():
        shutil.copy(p, ro)
    for p in [*ro.iterdir(), ro, ro.parent, ro.parent.parent]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    before = sorted(os.listdir(ro))
    m = D.load_images(tmp_path / "ro", download=False)
    assert sorted(os.listdir(ro)) == before
    assert m.train_images.shape == (60000, 28, 28) and m.test_images.shape == (10000, 28, 28)
    assert tuple(np.bincount(m.train_labels, minlength=10)) == TRAIN_COUNTS
    assert tuple(np.bincount(m.test_labels, minlength=10)) == TEST_COUNTS
    assert D.load_images(tmp_path / "ro", download=False) is m  # loaded once per process


def test_clean_draw_is_from_train_only_seeded_and_nested(mnist_dir):
    m = D.load_images(mnist_dir)
    cfg = ExperimentConfig()
    d0 = D.make_experiment_data(cfg, 0, m)
    assert d0.train_x.shape == (5100, 28, 28) and d0.train_y.sum() == 100
    assert len(d0.test_y) == 980 + 958 and d0.test_y.sum() == 958
    assert np.array_equal(m.test_labels[d0.test_index], np.where(d0.test_y == 1, 6, 0))
    # every training image is a train-split image of the right digit
    train_rows = {m.train_images[i].tobytes(): m.train_labels[i] for i in np.flatnonzero(np.isin(m.train_labels, (0, 6)))}
    for img, y in zip(d0.train_x[::97], d0.train_y[::97]):
        assert train_rows[img.tobytes()] == (6 if y else 0)
    assert np.array_equal(d0.generator_x, d0.train_x[d0.train_y == 1])  # clean: VAE learns from train
    d1 = D.make_experiment_data(cfg, 1, m)
    assert not np.array_equal(d0.train_x, d1.train_x)
    assert np.array_equal(D.make_experiment_data(cfg, 0, m).train_x, d0.train_x)
    small = D.make_experiment_data(cfg.replace(n_minority=10), 0, m)
    assert np.array_equal(small.generator_x, d0.generator_x[:10])
    assert np.array_equal(d0.oracle_minority_x[:100], d0.generator_x) and len(d0.oracle_minority_x) == 5000


def test_blog_protocol_uses_file_order_and_the_test_split_leak(mnist_dir):
    m = D.load_images(mnist_dir)
    leaky = D.make_experiment_data(ExperimentConfig.blog(), 3, m)
    first_zeros = np.flatnonzero(m.train_labels == 0)[:5000]
    assert np.array_equal(leaky.train_x[:5000], m.train_images[first_zeros])
    first_test_sixes = np.flatnonzero(m.test_labels == 6)[:100]
    assert np.array_equal(leaky.generator_x, m.test_images[first_test_sixes])
    clean_twin = D.make_experiment_data(ExperimentConfig.blog(leaky=False), 3, m)
    assert np.array_equal(clean_twin.generator_x, clean_twin.train_x[clean_twin.train_y == 1])
    assert np.array_equal(clean_twin.train_x, leaky.train_x)


def test_oracle_pool_absent_when_train_holds_too_few(mnist_dir):
    m = D.load_images(mnist_dir)
    d = D.make_experiment_data(ExperimentConfig(majority=1, minority=5, n_majority=6000, n_minority=50), 0, m)
    assert d.oracle_minority_x is None


# ---- the validation split (tuned threshold) --------------------------------------------
def test_validation_split_is_scikit_learns_stratified_split_sorted():
    y = np.r_[np.zeros(5000, np.int64), np.ones(100, np.int64)]
    fit, val = D.validation_split(y, 0.2, seed=7)
    want_fit, want_val = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=7 + 2_147_483)
    assert np.array_equal(fit, np.sort(want_fit)) and np.array_equal(val, np.sort(want_val))
    assert (np.diff(fit) > 0).all() and (np.diff(val) > 0).all()
    assert (y[val] == 1).sum() == 20 and (y[val] == 0).sum() == 1000  # each class keeps its share


@pytest.mark.parametrize("y,fraction,message", [
    (np.r_[np.zeros(10, np.int64), 1], 0.2, "leaves no minority image to train on .1 in the draw.: raise n_minority"),
    (np.r_[np.zeros(1, np.int64), np.ones(10, np.int64)], 0.2, "leaves no majority image to train on"),
    (np.r_[np.zeros(5000, np.int64), np.ones(20, np.int64)], 0.01, "holds no minority image .20 in the draw."),
    (np.r_[np.zeros(2, np.int64), np.ones(2, np.int64)], 0.2, "of 4 images is impossible"),
])
def test_a_split_that_would_empty_a_class_is_one_clear_error(y, fraction, message):
    with pytest.raises(ConfigError, match=message):
        D.validation_split(y, fraction, seed=0)
