"""The analyst's own images (issue #25): an .npz read, validated, normalised and stored
(``vaeimb.parts.own_images``), from small files made of MNIST digits 3, 5 and 7."""

from __future__ import annotations

import io

import numpy as np
import pytest

from vaeimb.declarations import own as kept
from vaeimb.declarations.datasets import dataset, own_dataset
from vaeimb.declarations.errors import DataUnavailableError
from vaeimb.parts import own_images as oi
from vaeimb.parts.data import load_images

DIGITS = (3, 5, 7)
N_TRAIN, N_TEST = 100, 20


@pytest.fixture(scope="module")
def digits(mnist_dir):
    """(x_train, y_train, x_test, y_test): the first 100 / 20 MNIST images of 3, 5 and 7."""
    images = load_images(mnist_dir, download=False)

    def take(x, y, n):
        idx = np.sort(np.concatenate([np.flatnonzero(y == d)[:n] for d in DIGITS]))
        return np.array(x[idx]), np.array(y[idx])

    return (*take(images.train_images, images.train_labels, N_TRAIN), *take(images.test_images, images.test_labels, N_TEST))


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """A user cache of the test's own: the store must stay empty for a refused file."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg"


def npz(keys=oi.KEYS["Keras"], arrays=(), compressed=False, **extra) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **dict(zip(keys, arrays)), **extra)
    return buf.getvalue()


def nothing_stored():
    root = kept.own_root()
    return not root.exists() or not any(root.iterdir())


# ---- accepted files ------------------------------------------------------------------------------

def test_a_keras_file_of_uint8_28x28_is_kept_as_it_is_with_labels_renumbered(digits):
    xtr, ytr, xte, yte = digits
    own = oi.read_npz(npz(arrays=digits), name="digits.npz")
    assert own.train_images.dtype == np.uint8 and own.train_images.shape == (3 * N_TRAIN, 28, 28)
    np.testing.assert_array_equal(own.train_images, xtr)
    np.testing.assert_array_equal(own.test_images, xte)
    assert own.train_labels.dtype == np.int64
    np.testing.assert_array_equal(own.train_labels, np.searchsorted(DIGITS, ytr))
    np.testing.assert_array_equal(own.test_labels, np.searchsorted(DIGITS, yte))
    assert own.class_names == ("3", "5", "7") and own.original_labels == DIGITS
    assert own.train_counts == (N_TRAIN,) * 3 and own.test_counts == (N_TEST,) * 3
    assert own.notes == ("Labels 3, 5, 7 renumbered 0, 1, 2.",)
    assert own.file_name == "digits.npz" and len(own.content_hash) == 16 and own.name == f"file:{own.content_hash}"
    assert nothing_stored()  # reading writes nothing


def test_medmnist_keys_with_n_by_1_labels_and_a_validation_split(digits):
    xtr, ytr, xte, yte = digits
    data = npz(oi.KEYS["MedMNIST"], (xtr, ytr[:, None], xte, yte[:, None]), compressed=True,
               val_images=xte, val_labels=yte[:, None])
    own = oi.read_npz(data, name="med.npz")
    np.testing.assert_array_equal(own.train_images, xtr)
    assert own.test_counts == (N_TEST,) * 3
    assert "The validation split (val_images) is not used." in own.notes


def test_path_bytes_and_file_like_give_the_same_result_and_hash(digits, tmp_path):
    data = npz(arrays=digits)
    path = tmp_path / "mine.npz"
    path.write_bytes(data)
    upload = io.BytesIO(data)
    upload.name = "mine.npz"  # as Streamlit's UploadedFile
    a, b, c = oi.read_npz(path), oi.read_npz(data), oi.read_npz(upload)
    assert a.content_hash == b.content_hash == c.content_hash
    assert a.file_name == c.file_name == "mine.npz" and b.file_name == ""
    np.testing.assert_array_equal(a.train_images, c.train_images)
    other = npz(arrays=(digits[0][1:], digits[1][1:], digits[2], digits[3]))
    assert oi.read_npz(other).content_hash != a.content_hash


@pytest.mark.parametrize("top,note", [(1.0, "Scaled from floats in [0, 1] to 0-255."),
                                      (255.0, "Read floats in [0, 255] as 0-255 values (rounded).")])
def test_float_images_are_scaled_by_their_range_and_the_notes_say_so(digits, top, note):
    xtr, ytr, xte, yte = digits
    def f(x):
        return x.astype(np.float32) / 255.0 * top

    own = oi.read_npz(npz(arrays=(f(xtr), ytr, f(xte), yte)))
    assert note in own.notes
    assert np.abs(own.train_images.astype(int) - xtr).max() <= 1


def test_rgb_32x32_is_converted_and_resized_and_the_notes_say_so(digits):
    xtr, ytr, xte, yte = digits
    def rgb(x):  # the digit padded to 32 x 32, in three equal channels
        return np.repeat(np.pad(x, ((0, 0), (2, 2), (2, 2)))[..., None], 3, axis=3)

    own = oi.read_npz(npz(arrays=(rgb(xtr), ytr, rgb(xte), yte)))
    assert own.train_images.shape == (len(xtr), 28, 28) and own.train_images.dtype == np.uint8
    assert "Converted from RGB to grayscale (luminance weights 0.299, 0.587, 0.114)." in own.notes
    assert "Resized from 32×32 to 28×28 pixels (area averaging)." in own.notes
    # the digit is still there: close to the original, shrunk by 28/32
    r = np.corrcoef(own.train_images.reshape(len(xtr), -1).astype(float).ravel(),
                    xtr.reshape(len(xtr), -1).astype(float).ravel())[0, 1]
    assert r > 0.7
    first = oi.read_npz(npz(arrays=(np.moveaxis(rgb(xtr), 3, 1), ytr, np.moveaxis(rgb(xte), 3, 1), yte)))
    np.testing.assert_array_equal(first.train_images, own.train_images)
    assert any("channels-first" in n for n in first.notes)


def test_small_images_are_enlarged_and_constant_images_stay_constant():
    assert np.allclose(oi._resize_matrix(100).sum(axis=1), 1) and np.allclose(oi._resize_matrix(14).sum(axis=1), 1)
    x = np.full((4, 14, 20), 200, np.uint8)
    y = np.array([0, 1, 0, 1])
    own = oi.read_npz(npz(arrays=(x, y, x, y)))
    assert (own.train_images == 200).all()
    assert "Resized from 14×20 to 28×28 pixels (bilinear interpolation)." in own.notes


def test_class_names_by_class_or_by_original_label(digits):
    own = oi.read_npz(npz(arrays=digits, class_names=np.array(["three", "five", "seven"])))
    assert own.class_names == ("three", "five", "seven")
    ten = np.array([f"digit {d}" for d in range(10)])
    assert oi.read_npz(npz(arrays=digits, classes=ten)).class_names == ("digit 3", "digit 5", "digit 7")


def test_whole_valued_float_labels_are_read_as_integers(digits):
    xtr, ytr, xte, yte = digits
    own = oi.read_npz(npz(arrays=(xtr, ytr.astype(np.float64), xte, yte.astype(np.float32))))
    assert own.class_names == ("3", "5", "7") and "Labels stored as floats read as whole numbers." in own.notes


# ---- refused files: one line each, nothing stored ------------------------------------------------

def _bad_files(digits):
    xtr, ytr, xte, yte = digits
    many = np.arange(len(ytr)) % 12
    many_te = np.arange(len(yte)) % 12
    return {
        "wrong keys": (npz(("images", "labels", "x_test", "y_test"), digits), "wrong keys"),
        "mismatched lengths": (npz(arrays=(xtr, ytr[:-5], xte, yte)), "mismatched lengths"),
        "single class": (npz(arrays=(xtr, np.full_like(ytr, 3), xte, np.full_like(yte, 3))), "a single class"),
        "string labels": (npz(arrays=(xtr, ytr.astype(str), xte, yte.astype(str))), "not integers"),
        "fractional labels": (npz(arrays=(xtr, ytr + 0.5, xte, yte)), "not integers"),
        "too small": (npz(arrays=(xtr[:, :6, :6], ytr, xte[:, :6, :6], yte)), "an image too small"),
        "object array": (npz(arrays=(xtr, np.array(list(ytr), dtype=object), xte, yte)), "object array"),
        "more than ten classes": (npz(arrays=(xtr, many, xte, many_te)), "12 classes, more than 10"),
        "class absent from test": (npz(arrays=(xtr, ytr, xte[yte != 7], yte[yte != 7])), "class 7 has no test images"),
        "floats out of range": (npz(arrays=(xtr.astype(float) * 2, ytr, xte.astype(float), yte)), "floats from 0 to 510"),
        "rgba": (npz(arrays=(np.zeros((len(ytr), 28, 28, 4)), ytr, np.zeros((len(yte), 28, 28, 4)), yte)), "4 channels"),
        "splits of two sizes": (npz(arrays=(xtr, ytr, xte[:, :20, :20], yte)), "one size"),
        "names of the wrong length": (npz(arrays=digits, class_names=np.array(["a", "b"])), "names 2 classes"),
        "not a zip": (b"hello, I am not an npz", "not an .npz"),
        "a .npy": (_npy(xtr), "single .npy"),
        "a broken zip": (npz(arrays=digits)[:5000], "not a readable .npz"),
    }


def _npy(x) -> bytes:
    buf = io.BytesIO()
    np.save(buf, x)
    return buf.getvalue()


def test_each_bad_file_gets_one_line_naming_what_is_wrong_and_nothing_is_stored(digits):
    for case, (data, expected) in _bad_files(digits).items():
        with pytest.raises(DataUnavailableError) as err:
            oi.read_npz(data, name="bad.npz")
        msg = str(err.value)
        assert expected in msg, (case, msg)
        assert "\n" not in msg and msg.startswith("bad.npz: "), (case, msg)
        e = err.value
        assert e.__cause__ is None and (e.__context__ is None or e.__suppress_context__), case  # nothing chained
    assert nothing_stored()


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(digits, tmp_path):
    data = npz(arrays=digits)
    path = tmp_path / "big.npz"
    path.write_bytes(data)
    for source in (data, path, io.BytesIO(data)):
        with pytest.raises(DataUnavailableError, match=r"over the 1000 bytes limit"):
            oi.read_npz(source, name="big.npz", max_bytes=1000)
    with pytest.raises(DataUnavailableError, match="unpacked, over the"):
        oi.read_npz(npz(arrays=digits, compressed=True), max_unpacked_bytes=10_000)
    with pytest.raises(DataUnavailableError, match="No file at"):
        oi.read_npz(tmp_path / "absent.npz")
    assert nothing_stored()


# ---- the store ----------------------------------------------------------------------------------

def test_store_and_load_round_trip_and_the_dataset_declaration(digits, cache):
    own = oi.read_npz(npz(arrays=digits, class_names=np.array(["three", "five", "seven"])), name="digits (1).npz")
    assert kept.stored(own.content_hash) is None
    folder = oi.store(own)
    assert folder == cache / "vaeimb" / "own" / own.content_hash
    assert sorted(p.name for p in folder.iterdir()) == ["images.npz", "meta.json"]  # no temporary left
    meta = kept.stored(own.content_hash)
    assert meta["class_names"] == ["three", "five", "seven"] and meta["file_name"] == "digits (1).npz"
    assert meta["train_counts"] == [N_TRAIN] * 3 and meta["notes"] == list(own.notes)
    back = oi.load_stored(own.content_hash)
    for key, a in own.arrays().items():
        np.testing.assert_array_equal(getattr(back, key), a)
        assert getattr(back, key).dtype == a.dtype
    assert (back.class_names, back.notes, back.original_labels) == (own.class_names, own.notes, own.original_labels)
    assert oi.store(own) == folder  # the same bytes again: the same place

    ds = own_dataset(meta)
    assert ds.name == own.name and kept.parse(ds.name) == own.content_hash
    assert ds.title == "digits [1].npz" and ds.label == "digits [1].npz (your file)"
    assert ds.class_names == ("three", "five", "seven") and ds.n_classes == 3
    assert ds.train_counts == (N_TRAIN,) * 3 and ds.test_counts == (N_TEST,) * 3
    assert (ds.torchvision, ds.md5, ds.mirrors, ds.flips, ds.noun) == ("", {}, (), False, "class")
    assert ds.class_label(0) == "0 (three)"


def test_names_and_a_missing_store_entry():
    assert kept.dataset_name("0123456789abcdef") == "file:0123456789abcdef"
    assert kept.parse("file:0123456789abcdef") == "0123456789abcdef"
    for name in ("mnist", "file:../../etc", "file:0123", None, "file:0123456789ABCDEF"):
        assert kept.parse(name) is None
    assert kept.stored("../../x") is None and kept.stored("0123456789abcdef") is None
    with pytest.raises(DataUnavailableError, match="upload it again"):
        oi.load_stored("0123456789abcdef")


def test_a_stored_file_is_a_dataset_by_its_name(digits, cache):
    mine = oi.read_npz(npz(arrays=digits), name="mine.npz")
    with pytest.raises(Exception) as err:  # not stored yet: one line saying to give it again
        dataset(mine.name)
    assert "upload it again" in str(err.value) and "\n" not in str(err.value)
    oi.store(mine)
    ds = dataset(mine.name)
    assert ds.name == mine.name and ds.train_counts == mine.train_counts and ds.title == "mine.npz"


def test_the_cli_runs_your_file_by_its_path_then_by_its_name(digits, tmp_path, capsys):
    """--dataset PATH.npz: read, checked, kept, said; the same run by --dataset file:<hash> is cached."""
    from vaeimb.interfaces import cli

    path = tmp_path / "three digits.npz"
    path.write_bytes(npz(arrays=digits, class_names=np.array(["three", "five", "seven"])))
    tiny = ["--majority", "0", "--minority", "2", "--n-majority", "60", "--n-minority", "10", "--steps", "10",
            "--batch-size", "16", "--checkpoints", "2", "--seeds", "0", "--approaches", "baseline", "oversample",
            "--cache-dir", str(tmp_path / "c"), "--in-process"]
    assert cli.main(["run", "--dataset", str(path), *tiny]) == 0
    out, err = capsys.readouterr()
    name = oi.dataset_name(oi.read_npz(path).content_hash)
    assert f"kept as --dataset {name}" in err and "3 classes (three, five, seven)" in err
    assert "0 (three) vs 2 (seven)" in out and "misclassified /40" in out
    assert cli.main(["run", "--dataset", name, *tiny]) == 0
    out2 = capsys.readouterr().out
    rows = [[line for line in text.splitlines() if "baseline" in line or "oversample" in line] for text in (out, out2)]
    assert rows[0] and rows[0] == rows[1]  # the same file, the same results (read back from the cache)


def test_a_bad_file_on_the_cli_is_one_line_and_nothing_kept(tmp_path, capsys):
    from vaeimb.interfaces import cli

    path = tmp_path / "bad.npz"
    path.write_bytes(npz(keys=("a", "b"), arrays=(np.zeros((3, 28, 28), np.uint8), np.zeros(3))))
    rc = cli.main(["run", "--dataset", str(path), "--steps", "5", "--seeds", "0", "--approaches", "baseline",
                   "--cache-dir", str(tmp_path / "c"), "--in-process"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "bad.npz" in err[0] and "x_train" in err[0]
    assert nothing_stored() and not (tmp_path / "c").exists()
