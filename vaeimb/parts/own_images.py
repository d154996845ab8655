"""The analyst's own images: an ``.npz`` of training and test images and labels, validated,
brought to the project's format (uint8, N x 28 x 28 grayscale, labels 0..K-1) and kept in
the user cache under its content hash (issue #25).

The arrays are named as Keras or MedMNIST write them (``x_train``/``y_train``/``x_test``/
``y_test``, or ``train_images``/``train_labels``/``test_images``/``test_labels``), with
optional class names (``class_names`` or ``classes``: strings). Images are uint8, integers
in 0-255, or floats in [0, 1] or [0, 255]; grayscale (N x H x W, N x H x W x 1) or RGB
(N x H x W x 3, or channels first), converted to grayscale with the luminance weights;
any size from 8 x 8 up, resized to 28 x 28 (area averaging down, bilinear up). Labels are
integers (or whole-valued floats), 2 to 10 distinct values, each present in both splits;
they are renumbered 0..K-1 in sorted order. Everything done to the file is said in
``OwnImages.notes``, plain sentences meant for the results.

A file that fails is refused with one ``DataUnavailableError`` line saying what is wrong
and what the file should hold; it is never stored. Pickled (object) arrays are never
loaded. An accepted file's dataset is named ``file:<hash>`` (the first 16 hex digits of
the SHA-256 of its bytes): ``store`` keeps the normalised arrays and a small JSON of what
was read under ``<user cache>/own/<hash>/``, ``stored``/``load_stored`` read them back
and ``as_dataset`` makes the ``Dataset`` declaration a task reads its counts from.
numpy only.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..declarations.errors import DataUnavailableError, VaeimbError
from ..declarations.own import (
    ARRAYS_FILE,
    META_FILE,
    META_FORMAT,
    dataset_name,
    folder_of,
    gone,
    stored,
)

#: The largest file read (bytes): Streamlit's own upload limit (``server.maxUploadSize``).
MAX_BYTES = 200 * 1024 * 1024
#: The most the arrays read may take once unpacked (a compressed file can hold far more
#: than its size: Community Cloud gives an app about 1 GB).
MAX_UNPACKED_BYTES = 800 * 1024 * 1024
#: The side images are brought to, and the smallest side accepted.
SIDE = 28
MIN_SIDE = 8
#: At most this many classes: the task's class order is one character per class.
MAX_CLASSES = 10
#: ITU-R BT.601 luma weights (as PIL's "L" mode).
LUMA = (0.299, 0.587, 0.114)
#: Images processed at a time while converting (bounds the float copies' memory).
CHUNK = 4096

#: The two naming conventions: (train images, train labels, test images, test labels).
KEYS = {
    "Keras": ("x_train", "y_train", "x_test", "y_test"),
    "MedMNIST": ("train_images", "train_labels", "test_images", "test_labels"),
}
NAME_KEYS = ("class_names", "classes")
#: What every refusal ends with.
EXPECTED = ("an .npz should hold x_train, y_train, x_test, y_test (Keras) or train_images, train_labels, "
            "test_images, test_labels (MedMNIST)")


Source = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO


@dataclass(frozen=True)
class OwnImages:
    """One accepted file, normalised: uint8 images (N, 28, 28), int64 labels 0..K-1."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    #: Each class's name, by label: the file's names, else its original label values ("3").
    class_names: tuple[str, ...]
    #: What was done to the file, one plain sentence each (said in the results).
    notes: tuple[str, ...]
    #: The first 16 hex digits of the SHA-256 of the file's bytes.
    content_hash: str
    #: The file's name as given (its base name), "" when unknown.
    file_name: str = ""
    #: The label values the file used, by new label.
    original_labels: tuple[int, ...] = ()
    train_counts: tuple[int, ...] = field(init=False)
    test_counts: tuple[int, ...] = field(init=False)

    def __post_init__(self):
        k = len(self.class_names)
        object.__setattr__(self, "train_counts", tuple(int(c) for c in np.bincount(self.train_labels, minlength=k)))
        object.__setattr__(self, "test_counts", tuple(int(c) for c in np.bincount(self.test_labels, minlength=k)))

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def name(self) -> str:
        """Its dataset name: ``file:<hash>``."""
        return dataset_name(self.content_hash)

    def arrays(self) -> dict[str, np.ndarray]:
        """The four arrays by ``vaeimb.parts.data.Images``' field names."""
        return {"train_images": self.train_images, "train_labels": self.train_labels,
                "test_images": self.test_images, "test_labels": self.test_labels}

    def metadata(self) -> dict[str, Any]:
        """What ``store`` writes next to the arrays (and ``stored`` returns)."""
        return {"format": META_FORMAT, "hash": self.content_hash, "name": self.name, "file_name": self.file_name,
                "class_names": list(self.class_names), "original_labels": list(self.original_labels),
                "train_counts": list(self.train_counts), "test_counts": list(self.test_counts),
                "notes": list(self.notes)}


# ---- reading -------------------------------------------------------------------------------------

def _refuse(name: str, what: str, hint: str = "") -> DataUnavailableError:
    return DataUnavailableError(f"{name}: {what}; {hint or EXPECTED}.")


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB" if n >= 1024 * 1024 else f"{n} bytes"


def _size_of(source: Any) -> int | None:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return memoryview(source).nbytes
    size = getattr(source, "size", None)  # Streamlit's UploadedFile
    if isinstance(size, int):
        return size
    try:
        pos = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(pos)
        return int(end) - int(pos)
    except (AttributeError, OSError, ValueError):
        return None


def _bytes_of(source: Source, name: str, max_bytes: int) -> bytes:
    """The file's bytes, its size checked before anything is read."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise DataUnavailableError(f"No file at {path}: give the path of an .npz ({EXPECTED}).")
        size = path.stat().st_size
    else:
        size = _size_of(source)
    if size is not None and size > max_bytes:
        raise _refuse(name, f"the file is {_mb(size)}, over the {_mb(max_bytes)} limit",
                      "keep fewer images, or save with np.savez_compressed")
    if isinstance(source, (str, os.PathLike)):
        data = Path(source).expanduser().read_bytes()
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "getvalue"):
        data = source.getvalue()
    else:
        data = source.read(max_bytes + 1)
    if len(data) > max_bytes:  # a stream of unknown size
        raise _refuse(name, f"the file is over the {_mb(max_bytes)} limit", "keep fewer images, or save with np.savez_compressed")
    return data


def _file_name(source: Any, given: str | None) -> str:
    raw = given if given is not None else (
        os.fspath(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "") or "")
    return Path(str(raw)).name[:80] if raw else ""


def _keys(files: list[str], name: str) -> tuple[str, ...]:
    for keys in KEYS.values():
        if all(k in files for k in keys):
            return keys
    held = ", ".join(files[:12]) + (", ..." if len(files) > 12 else "") if files else "no arrays"
    best = max(KEYS.values(), key=lambda ks: sum(k in files for k in ks))
    missing = [k for k in best if k not in files]
    lacking = f"; {', '.join(missing)} missing" if any(k in files for k in best) else ""
    raise _refuse(name, f"wrong keys: the file holds {held}{lacking}")


def _load(z, key: str, name: str) -> np.ndarray:
    try:
        return z[key]
    except ValueError as err:
        if "pickle" in str(err).lower() or "object" in str(err).lower():
            raise _refuse(name, f"{key} is an object array (pickled Python objects are never loaded)",
                          "save numbers as numeric arrays and names as strings (np.array(names, dtype=str))") from None
        raise _refuse(name, f"{key} could not be read ({err})") from None


def _images_shape(x: np.ndarray, key: str, name: str) -> tuple[np.ndarray, str | None]:
    """The images as N x H x W (gray) or N x H x W x 3 (RGB), and a note on channels first."""
    if x.dtype.kind not in "uif":
        raise _refuse(name, f"{key} holds {x.dtype} values, not numbers",
                      "images should be uint8 0-255 or floats in [0, 1]")
    if x.ndim == 3:
        return x, None
    if x.ndim == 4:
        if x.shape[3] in (1, 3):
            return (x[..., 0] if x.shape[3] == 1 else x), None
        if x.shape[1] in (1, 3):
            return (x[:, 0] if x.shape[1] == 1 else np.moveaxis(x, 1, 3)), "channels first"
        if 4 in (x.shape[1], x.shape[3]):
            raise _refuse(name, f"{key} has 4 channels (RGBA?)", "drop the alpha channel: images should be "
                          "N×H×W (grayscale) or N×H×W×3 (RGB)")
    raise _refuse(name, f"{key} has shape {x.shape}",
                  "images should be N×H×W (grayscale), N×H×W×1 or N×H×W×3 (RGB)")


def _labels(y: np.ndarray, key: str, n: int, images_key: str, name: str) -> tuple[np.ndarray, bool]:
    """The labels as int64 (N,), and whether they were floats."""
    if y.ndim == 2 and y.shape[1] == 1:  # MedMNIST's and CIFAR's (N, 1)
        y = y[:, 0]
    if y.ndim != 1:
        raise _refuse(name, f"{key} has shape {y.shape}, not one label per image",
                      "labels should be N integers (one-hot or multi-label arrays are not read)")
    if len(y) != n:
        raise _refuse(name, f"mismatched lengths: {images_key} holds {n} images but {key} {len(y)} labels",
                      "each image needs one label")
    if n == 0:
        raise _refuse(name, f"{images_key} holds no images")
    if y.dtype.kind in "iub":
        return y.astype(np.int64), False
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            raise _refuse(name, f"{key} holds labels that are not integers", "labels should be integers 0..K-1")
        return y.astype(np.int64), True
    sample = ", ".join(repr(v) for v in y[:3].tolist()) if y.dtype.kind in "US" else str(y.dtype)
    raise _refuse(name, f"{key} holds labels that are not integers ({sample})",
                  "labels should be integers 0..K-1; put the names in a class_names array of strings")


def _class_names(z, files: list[str], values: np.ndarray, name: str) -> tuple[str, ...]:
    key = next((k for k in NAME_KEYS if k in files), None)
    if key is None:
        return tuple(str(int(v)) for v in values)
    names = _load(z, key, name)
    if names.dtype.kind not in "US" or names.ndim != 1:
        raise _refuse(name, f"{key} is not a list of strings ({names.dtype}, shape {names.shape})",
                      "save class names with np.array(names, dtype=str)")
    names = [(n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n)).strip() for n in names.tolist()]
    if len(names) == len(values):
        chosen = names
    elif values.min() >= 0 and len(names) > values.max():  # names by original label value (Keras' lists)
        chosen = [names[int(v)] for v in values]
    else:
        raise _refuse(name, f"{key} names {len(names)} classes but the labels hold {len(values)}",
                      "give one name per class, in label order")
    if any(not n for n in chosen) or len(set(chosen)) != len(chosen):
        raise _refuse(name, f"{key} has empty or repeated names", "give each class its own name")
    return tuple(n[:40] for n in chosen)


def _resize_matrix(n_in: int, n_out: int = SIDE) -> np.ndarray:
    """(n_out, n_in) weights: area averaging to shrink, bilinear (half-pixel centres) to grow."""
    m = np.zeros((n_out, n_in), np.float64)
    if n_in == n_out:
        return np.eye(n_out, dtype=np.float32)
    if n_in > n_out:
        scale = n_in / n_out
        for i in range(n_out):
            lo, hi = i * scale, (i + 1) * scale
            for j in range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in)):
                m[i, j] = min(hi, j + 1) - max(lo, j)
        m /= m.sum(axis=1, keepdims=True)
    else:
        for i in range(n_out):
            x = min(max((i + 0.5) * n_in / n_out - 0.5, 0.0), n_in - 1.0)
            j0 = int(np.floor(x))
            j1, t = min(j0 + 1, n_in - 1), x - j0
            m[i, j0] += 1 - t
            m[i, j1] += t
    return m.astype(np.float32)


def _to_uint8(x: np.ndarray, factor: float | None, rgb: bool) -> np.ndarray:
    """N x H x W (x 3) images as uint8 N x 28 x 28: gray, scaled by ``factor`` (None: as
    they are), resized, rounded; in chunks."""
    h, w = x.shape[1], x.shape[2]
    if not rgb and factor is None and (h, w) == (SIDE, SIDE):
        return np.ascontiguousarray(x, dtype=np.uint8)
    rows, cols = _resize_matrix(h), _resize_matrix(w).T
    luma = np.asarray(LUMA, np.float32)
    out = np.empty((len(x), SIDE, SIDE), np.uint8)
    for start in range(0, len(x), CHUNK):
        c = x[start:start + CHUNK].astype(np.float32)
        if rgb:
            c = c @ luma
        if factor is not None:
            c *= factor
        if (h, w) != (SIDE, SIDE):
            c = rows @ (c @ cols)
        np.clip(np.rint(c), 0, 255, out=c)
        out[start:start + CHUNK] = c
    return out


def _scale(splits: list[np.ndarray], name: str, keys: tuple[str, str]) -> tuple[float | None, str | None]:
    """The factor that brings the images' values to 0-255 (None: none needed), and its note."""
    kind = splits[0].dtype.kind
    if any(s.dtype.kind != kind for s in splits):
        raise _refuse(name, f"{keys[0]} holds {splits[0].dtype} and {keys[1]} {splits[1].dtype} values",
                      "store both splits the same way")
    if splits[0].dtype == np.uint8:
        return None, None
    lo = min(float(s.min()) for s in splits)
    hi = max(float(s.max()) for s in splits)
    if kind in "iu":
        if lo < 0 or hi > 255:
            raise _refuse(name, f"the images hold {splits[0].dtype} values from {lo:g} to {hi:g}",
                          "images should be uint8 0-255 or floats in [0, 1]")
        return None, f"Images stored as {splits[0].dtype} read as values 0-255."
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise _refuse(name, "the images hold NaN or infinite values", "images should be uint8 0-255 or floats in [0, 1]")
    if lo < 0 or hi > 255:
        raise _refuse(name, f"the images hold floats from {lo:g} to {hi:g}",
                      "images should be uint8 0-255, or floats in [0, 1] or in [0, 255]")
    if hi <= 1.0:
        return 255.0, "Scaled from floats in [0, 1] to 0-255."
    return 1.0, "Read floats in [0, 255] as 0-255 values (rounded)."


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def read_npz(source: Source, *, name: str | None = None, max_bytes: int | None = None,
             max_unpacked_bytes: int | None = None) -> OwnImages:
    """Read, validate and normalise one ``.npz`` (a path, its bytes, or a binary file-like
    such as Streamlit's ``UploadedFile``; ``name``: the file name messages and results
    use, else the path's or the file-like's). Nothing is written. Every refusal is one
    ``DataUnavailableError`` line."""
    label = _file_name(source, name)
    shown = label or "the file"
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes  # read now: a test may lower the limit
    max_unpacked_bytes = MAX_UNPACKED_BYTES if max_unpacked_bytes is None else max_unpacked_bytes
    try:
        data = _bytes_of(source, shown, max_bytes)
        return _read(data, shown, label, max_unpacked_bytes)
    except VaeimbError:
        raise
    except MemoryError:
        raise _refuse(shown, "the images do not fit in memory", "keep fewer images") from None
    except Exception as err:  # noqa: BLE001 - anything numpy or zipfile did not foresee: still one line, no traceback
        raise _refuse(shown, f"could not be read ({type(err).__name__}: {' '.join(str(err).split())[:200]})") from None


def _read(data: bytes, shown: str, label: str, max_unpacked_bytes: int) -> OwnImages:
    if data[:6] == b"\x93NUMPY":
        raise _refuse(shown, "this is a single .npy array, not an .npz",
                      "save the four arrays together with np.savez; " + EXPECTED)
    if data[:2] != b"PK":
        raise _refuse(shown, "not an .npz file (not a zip archive)")
    try:
        z = np.load(io.BytesIO(data), allow_pickle=False)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as err:
        raise _refuse(shown, f"not a readable .npz ({' '.join(str(err).split())[:120]})") from None
    with z:
        files = list(z.files)
        keys = _keys(files, shown)
        unpacked = sum(z.zip.getinfo(k + ".npy").file_size for k in keys if k + ".npy" in z.zip.namelist())
        if unpacked > max_unpacked_bytes:
            raise _refuse(shown, f"the arrays take {_mb(unpacked)} unpacked, over the {_mb(max_unpacked_bytes)} limit",
                          "keep fewer images, or store them as uint8 28×28")
        xtr_key, ytr_key, xte_key, yte_key = keys
        notes: list[str] = []
        xs, chan_notes = [], set()
        for key in (xtr_key, xte_key):
            x, chan = _images_shape(_load(z, key, shown), key, shown)
            xs.append(x)
            if chan:
                chan_notes.add(chan)
        (xtr, xte) = xs
        if xtr.shape[1:] != xte.shape[1:]:
            raise _refuse(shown, f"{xtr_key} images are {_dims(xtr)} but {xte_key} images {_dims(xte)}",
                          "both splits should hold images of one size")
        h, w = xtr.shape[1], xtr.shape[2]
        if h < MIN_SIDE or w < MIN_SIDE:
            raise _refuse(shown, f"an image too small: {h}×{w} pixels",
                          f"images should be at least {MIN_SIDE}×{MIN_SIDE} (they are resized to {SIDE}×{SIDE})")
        ytr, float_tr = _labels(_load(z, ytr_key, shown), ytr_key, len(xtr), xtr_key, shown)
        yte, float_te = _labels(_load(z, yte_key, shown), yte_key, len(xte), xte_key, shown)
        values = np.unique(np.concatenate([ytr, yte]))
        k = len(values)
        if k < 2:
            raise _refuse(shown, f"a single class: every label is {values[0]}", "a task needs at least two classes")
        if k > MAX_CLASSES:
            raise _refuse(shown, f"{k} classes, more than {MAX_CLASSES}",
                          f"keep at most {MAX_CLASSES} classes (a task's class order is one character per class)")
        for split, y, key in (("train", ytr, ytr_key), ("test", yte, yte_key)):
            absent = np.setdiff1d(values, y)
            if len(absent):
                which = ", ".join(str(int(v)) for v in absent)
                raise _refuse(shown, f"class{'es' if len(absent) > 1 else ''} {which} {'have' if len(absent) > 1 else 'has'} "
                              f"no {split} images in {key}", "every class needs at least one training and one test image")
        class_names = _class_names(z, files, values, shown)
        unused = [s for s in ("val_images", "x_val") if s in files]
        rgb = xtr.ndim == 4
        factor, scale_note = _scale([xtr, xte], shown, (xtr_key, xte_key))
        train_images = _to_uint8(xtr, factor, rgb)
        test_images = _to_uint8(xte, factor, rgb)
    if chan_notes:
        notes.append("Read channels-first images (N × C × H × W) as channels-last.")
    if rgb:
        notes.append("Converted from RGB to grayscale (luminance weights 0.299, 0.587, 0.114).")
    if (h, w) != (SIDE, SIDE):
        how = "area averaging" if h >= SIDE and w >= SIDE else "bilinear interpolation"
        notes.append(f"Resized from {h}×{w} to {SIDE}×{SIDE} pixels ({how}).")
    if scale_note:
        notes.append(scale_note)
    if float_tr or float_te:
        notes.append("Labels stored as floats read as whole numbers.")
    if not np.array_equal(values, np.arange(k)):
        notes.append(f"Labels {', '.join(str(int(v)) for v in values)} renumbered {', '.join(str(i) for i in range(k))}.")
    if unused:
        notes.append(f"The validation split ({unused[0]}) is not used.")
    return OwnImages(train_images, np.searchsorted(values, ytr).astype(np.int64), test_images,
                     np.searchsorted(values, yte).astype(np.int64), class_names, tuple(notes), _hash(data), label,
                     tuple(int(v) for v in values))


def _dims(x: np.ndarray) -> str:
    return f"{x.shape[1]}×{x.shape[2]}" + (" RGB" if x.ndim == 4 else "")


# ---- the store -----------------------------------------------------------------------------------

def _write_atomic(path: Path, write) -> None:
    tmp = None
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name + ".", suffix=".tmp", delete=False) as f:
            tmp = f.name
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def store(own: OwnImages) -> Path:
    """Keep an accepted file's arrays and metadata under ``<user cache>/own/<hash>/``
    (each written to a temporary file, then moved into place; the metadata last, so a
    folder with ``meta.json`` is complete). Returns the folder."""
    folder = folder_of(own.content_hash)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(folder / ARRAYS_FILE, lambda f: np.savez(f, **own.arrays()))
        text = json.dumps(own.metadata(), indent=1, ensure_ascii=False).encode("utf-8")
        _write_atomic(folder / META_FILE, lambda f: f.write(text))
    except OSError as err:
        raise DataUnavailableError(f"Your file could not be kept under {folder} ({err.strerror or err}): "
                                   f"free some space or set XDG_CACHE_HOME to a writable folder.") from None
    return folder


def _gone(content_hash: str) -> DataUnavailableError:
    return DataUnavailableError(gone(dataset_name(content_hash)))


def load_stored(content_hash: str) -> OwnImages:
    """A stored file's arrays and metadata, as ``read_npz`` gave them."""
    meta = stored(content_hash)
    if meta is None:
        raise _gone(content_hash)
    try:
        with np.load(folder_of(content_hash) / ARRAYS_FILE, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("train_images", "train_labels", "test_images", "test_labels")}
        own = OwnImages(**arrays, class_names=tuple(meta["class_names"]), notes=tuple(meta["notes"]),
                        content_hash=content_hash, file_name=meta.get("file_name", ""),
                        original_labels=tuple(meta.get("original_labels", ())))
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        raise _gone(content_hash) from None
    if (list(own.train_counts), list(own.test_counts)) != (meta["train_counts"], meta["test_counts"]):
        raise _gone(content_hash)
    for a in arrays.values():
        a.flags.writeable = False
    return own
