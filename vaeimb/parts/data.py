"""The datasets on disk (MNIST, Fashion-MNIST, Kuzushiji-MNIST: ``vaeimb.declarations.datasets``)
and the imbalanced train/test sets each experiment draws from one.

Each dataset's four original ``.gz`` files are read directly with numpy (fast, and nothing
is ever written next to them, so a read-only folder works), from ``<data dir>/<folder>/raw/``
(``MNIST``, ``FashionMNIST``, ``KMNIST``: torchvision's layout). Only when they are absent
does torchvision's own dataset class download them, checksums checked, into vaeimb's own
cache folder (or into an existing folder the user named: a folder the user named is never
created). ``$VAEIMB_DATA_MIRROR`` replaces every dataset's mirrors (``<base><name>/<file>``),
e.g. with an internal one on an air-gapped network; MNIST's old ``$VAEIMB_MNIST_MIRROR``
(``<base><file>``) is still read.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..declarations.config import ExperimentConfig
from ..declarations.datasets import DATASETS, DEFAULT_DATASET, FILES, MIRROR_ENV, Dataset, dataset
from ..declarations.errors import ConfigError, DataUnavailableError
from ..declarations.locations import user_cache_root
from ..declarations.own import folder_of
from ..declarations.own import parse as own_file
from .own_images import load_stored

DATA_DIR_ENV = "VAEIMB_DATA_DIR"
CACHE_DIR_ENV = "VAEIMB_CACHE_DIR"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Where the datasets live: the argument, else ``$VAEIMB_DATA_DIR``, else the user cache."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV) or (user_cache_root() / "data")
    return Path(chosen).expanduser().resolve()


def find_raw_files(root: Path, ds: Dataset | None = None) -> dict[str, Path] | None:
    """The dataset's four gz files under ``root`` (as ``<folder>/raw/``, ``raw/`` or
    directly; MNIST's by default), or None."""
    ds = ds or DATASETS[DEFAULT_DATASET]
    if not ds.folder:  # the analyst's own file: kept in the user cache, never in a data folder
        return None
    for folder in (root / ds.folder / "raw", root / "raw", root):
        paths = {key: folder / name for key, name in FILES.items()}
        if all(p.is_file() for p in paths.values()):
            return paths
    return None


def _bases(variable: str) -> list[str]:
    urls = [u for u in re.split(r"[\s,]+", os.environ.get(variable, "")) if u]
    return [u if u.endswith("/") else u + "/" for u in urls]


def mirrors_for(ds: Dataset) -> list[str] | None:
    """The base URLs the dataset's files are downloaded from (each ending in ``/``, serving
    ``<base><file name>``): ``$VAEIMB_DATA_MIRROR``'s (``<base><name>/``), else the old
    variable of the dataset (MNIST's ``$VAEIMB_MNIST_MIRROR``); None: its own mirrors."""
    shared = [f"{base}{ds.name}/" for base in _bases(MIRROR_ENV)]
    return shared or (_bases(ds.legacy_mirror_env) if ds.legacy_mirror_env else []) or None


def _read_idx(path: Path) -> np.ndarray:
    """Parse one gzip'd IDX file (the MNIST container format) into a uint8 array."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as err:  # not gzip, or cut short (an interrupted copy)
        raise DataUnavailableError(f"{path} is not a readable gzip file ({err}); replace or delete it.") from None
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte
        raise DataUnavailableError(f"{path} is not an MNIST IDX file of unsigned bytes.")
    ndim = magic & 0xFF
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise DataUnavailableError(f"{path} is truncated: expected {shape}, got {arr.size} bytes.")
    return arr.reshape(shape)


@dataclass(frozen=True)
class Images:
    """All of one dataset as uint8 arrays: images (N, 28, 28), labels (N,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    #: The folder its files were read from.
    source: Path
    #: Its name (``vaeimb.declarations.datasets``).
    dataset: str = DEFAULT_DATASET


def _missing_message(root: Path, reason: str, ds: Dataset) -> str:
    files = ", ".join(FILES.values())
    legacy = f" (or {ds.legacy_mirror_env}: <base><file>)" if ds.legacy_mirror_env else ""
    return (
        f"{ds.title} not found and could not be downloaded ({reason}). Put the four original "
        f"files ({files}) under {root}/{ds.folder}/raw/, or set {DATA_DIR_ENV} to a folder that "
        f"holds {ds.folder}/raw/ (e.g. ../shared/data/mnist for MNIST), or set {MIRROR_ENV} to the base URL "
        f"of a mirror that serves <base>{ds.name}/<file>{legacy}."
    )


def _one_line(err: Exception, limit: int = 400) -> str:
    """An exception as one line: torchvision's download error spans several."""
    text = " ".join(line.strip() for line in str(err).strip().splitlines() if line.strip())
    text = text.replace(": Tried", "; tried").replace(", got: ", ": ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: One download at a time in this process (two app sessions pressing Run on a fresh machine).
_DOWNLOAD_LOCK = threading.Lock()
#: The lock file a download holds in the data folder (``{}``: the dataset's name).
_LOCK_NAME = ".{}-download.lock"


def _remove_partial(raw: Path, before: set[str], created: list[Path]) -> None:
    """After a failed download: delete what it wrote (a file that failed its checksum
    stays behind otherwise), and the folders it created if they are empty again."""
    if raw.is_dir():
        for name in set(os.listdir(raw)) - before:
            try:
                (raw / name).unlink()
            except OSError:
                pass
    for folder in created:  # deepest first
        try:
            folder.rmdir()
        except OSError:  # not empty (someone else's files), or already gone
            pass


def _download(root: Path, ds: Dataset) -> None:
    """Let torchvision's class for the dataset fetch it into ``root`` (vaeimb's cache
    folder, or an existing folder the user named), from the declared files, checksums and
    mirrors (``mirrors_for``). A failed download leaves nothing that looks like data (and no
    folder it created)."""
    try:
        import torchvision.datasets  # heavy import, only needed here
        from filelock import FileLock
    except ImportError as err:  # pragma: no cover - both are requirements
        raise DataUnavailableError(_missing_message(root, f"{err}", ds)) from None
    declared = {"resources": [(FILES[k], ds.md5[k]) for k in FILES], "mirrors": mirrors_for(ds) or list(ds.mirrors)}
    raw = root / ds.folder / "raw"
    created = [p for p in (raw, raw.parent, root, *root.parents) if not p.exists()]  # deepest first
    lock_path = root / _LOCK_NAME.format(ds.name)
    with _DOWNLOAD_LOCK:
        try:
            root.mkdir(parents=True, exist_ok=True)
            with FileLock(str(lock_path)):  # another process downloading here finishes first
                if find_raw_files(root, ds) is not None:
                    return
                before = set(os.listdir(raw)) if raw.is_dir() else set()
                try:
                    # A subclass named as torchvision's (the folder it writes is named after the class),
                    # with the declaration's files and checksums: torchvision's own class stays as it is.
                    fetcher = type(ds.folder, (getattr(torchvision.datasets, ds.torchvision),), declared)
                    fetcher(root=str(root), train=True, download=True)
                    fetcher(root=str(root), train=False, download=True)
                except BaseException:
                    _remove_partial(raw, before, [])
                    raise
        except Exception as err:  # network, permissions, checksum: all mean "no data"
            lock_path.unlink(missing_ok=True)
            _remove_partial(raw, set(os.listdir(raw)) if raw.is_dir() else set(), created)
            raise DataUnavailableError(_missing_message(root, f"{type(err).__name__}: {_one_line(err)}", ds)) from None


#: Where decoded datasets are kept (``_decoded``), under the user cache, and how many copies
#: (of dataset folders in use) at most.
DECODED_DIR = "decoded"
DECODED_KEPT = 4


def _decoded(files: dict[str, Path]) -> dict[str, np.ndarray]:
    """The four IDX files' arrays, decoded (``_read_idx``). A copy of them, uncompressed (one
    ``.npy`` per array), is kept in the user cache under a folder named after the gz files'
    paths, sizes and modification times, and the arrays are read from it memory-mapped: the
    processes of one Run (the app server, its training processes) then share one copy of
    the images in the page cache instead of holding 55 MB each, and reading it back takes
    milliseconds where decompressing takes about half a second. The copy holds the same
    bytes; one that cannot be read or written is simply not used."""
    try:
        stamp = json.dumps([[k, str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for k, p in sorted(files.items())])
    except OSError:
        stamp = None
    kept = (user_cache_root() / DECODED_DIR / hashlib.sha256(stamp.encode()).hexdigest()[:20]) if stamp else None
    if kept is not None and kept.is_dir():
        arrays = _mapped(kept, files)
        if arrays is not None:
            return arrays
        shutil.rmtree(kept, ignore_errors=True)  # damaged: decoded again below, and kept again
    arrays = {key: _read_idx(p) for key, p in files.items()}
    if kept is not None:
        tmp = None
        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=kept.parent, suffix=".tmp"))
            for key, arr in arrays.items():
                np.save(tmp / f"{key}.npy", arr, allow_pickle=False)
            try:
                os.replace(tmp, kept)
                tmp = None
            except OSError:  # another process kept the same copy meanwhile: read theirs
                pass
            mapped = _mapped(kept, files)
            if mapped is not None:
                arrays = mapped  # the decoded buffers go: this process reads the shared copy too
            for legacy in kept.parent.glob("*.npz"):  # the single-file copies of earlier versions
                legacy.unlink(missing_ok=True)
            olds = sorted((q for q in kept.parent.iterdir() if q.is_dir() and q.suffix != ".tmp"),
                          key=lambda q: q.stat().st_mtime)
            for old in olds[:-DECODED_KEPT]:  # of files that moved or changed, or a dataset unused: 55 MB each
                shutil.rmtree(old, ignore_errors=True)
        except OSError:  # a read-only or full cache: decoded every time
            pass
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    return arrays


def _mapped(folder: Path, files: dict[str, Path]) -> dict[str, np.ndarray] | None:
    """The kept copy's arrays, read-only and memory-mapped (plain ndarray views of the
    mapping); None when one is missing or damaged."""
    try:
        arrays = {key: np.asarray(np.load(folder / f"{key}.npy", mmap_mode="r", allow_pickle=False)) for key in files}
    except (OSError, ValueError):
        return None
    if any(a.dtype != np.uint8 for a in arrays.values()):
        return None
    return arrays


def _refuse_another_datasets(files: dict[str, Path], ds: Dataset) -> None:
    """Files found for ``ds`` that are another declared dataset's (their training labels'
    checksum says so: the four file names are the same for every dataset) are refused."""
    try:
        digest = hashlib.md5(files["train_labels"].read_bytes()).hexdigest()  # 30 KB
    except OSError:
        return  # read below, with its own message
    for other in DATASETS.values():
        if other.name != ds.name and other.md5["train_labels"] == digest:
            raise DataUnavailableError(
                f"The files under {files['train_labels'].parent} are {other.title}'s, not {ds.title}'s: put "
                f"{ds.title}'s under <data dir>/{ds.folder}/raw/ (the data dir is --data-dir or {DATA_DIR_ENV}).")


@functools.lru_cache(maxsize=4)
def _load_cached(root: str, download: bool, name: str) -> Images:
    path, ds = Path(root), dataset(name)
    files = find_raw_files(path, ds)
    if files is None:
        if not download:
            raise DataUnavailableError(_missing_message(path, "download disabled", ds))
        _download(path, ds)
        files = find_raw_files(path, ds)
        if files is None:
            raise DataUnavailableError(_missing_message(path, "download left no gz files", ds))
    _refuse_another_datasets(files, ds)
    arrays = _decoded(files)
    for split in ("train", "test"):
        if len(arrays[f"{split}_images"]) != len(arrays[f"{split}_labels"]):
            raise DataUnavailableError(f"{ds.title} {split} images and labels differ in length under {path}.")
    return Images(**arrays, source=files["train_images"].parent, dataset=ds.name)


def load_images(data_dir: str | os.PathLike | None = None, download: bool = True, *,
                dataset: str = DEFAULT_DATASET) -> Images:
    """All of one dataset (MNIST by default), loaded once per process (about half a second
    from the gz files, a few milliseconds from the decoded copy).

    A folder named by the user (argument or ``$VAEIMB_DATA_DIR``) must exist: a typo is
    reported, never created. Only vaeimb's own cache folder is created for a download.
    """
    ds = _dataset_or_unavailable(dataset)
    if own_file(ds.name) is not None:  # the analyst's file, kept in the user cache when it was given
        return _load_own(ds.name)
    explicit = data_dir or os.environ.get(DATA_DIR_ENV)
    root = resolve_data_dir(data_dir)
    if explicit and not root.is_dir():
        raise DataUnavailableError(
            f"Data folder {root} does not exist; point --data-dir or {DATA_DIR_ENV} at the folder "
            f"holding {ds.folder}/raw/*.gz, or unset them to download into {user_cache_root() / 'data'}."
        )
    return _load_cached(str(root), download, ds.name)


@functools.lru_cache(maxsize=2)
def _load_own(name: str) -> Images:
    content_hash = own_file(name)
    return Images(**load_stored(content_hash).arrays(), source=folder_of(content_hash), dataset=name)


def _dataset_or_unavailable(name: str) -> Dataset:
    try:
        return dataset(name)
    except ConfigError as err:
        raise DataUnavailableError(str(err)) from None


def load_for(configs, data_dir: str | os.PathLike | None = None, download: bool = True) -> dict[str, Images]:
    """Every dataset the configs use, loaded (name -> ``Images``): what a run hands its
    workers, so a missing dataset is one clear error before anything trains."""
    names = dict.fromkeys(c.dataset for c in configs)
    return {name: load_images(data_dir, download, dataset=name) for name in names}


@dataclass(frozen=True)
class ExperimentData:
    """One experiment's images (uint8, N x 28 x 28) with labels 0..K-1 (the task's label
    order: 0 = the head, the pair's majority; the pair's minority is 1)."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    #: Positions of the test images in the dataset's test split (to show them in a gallery).
    test_index: np.ndarray
    #: The images generators learn each label from (the pair's leaky protocol: the
    #: minority's are TEST images).
    generator_by_class: tuple[np.ndarray, ...]
    #: Every label at the head's count in REAL training images (a superset of the draw), or
    #: None when the train split holds too few of some class: the oracle's training set.
    oracle_by_class: tuple[np.ndarray, ...] | None
    #: Positions of ``train_x`` in the dataset's train split (held-out images avoid them).
    train_index: np.ndarray | None = None
    #: Other fixed test sets inside the test set: name -> rows of ``test_x``.
    test_subsets: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.generator_by_class)

    @property
    def generator_x(self) -> np.ndarray:
        """The images generators learn the minority (label 1) from."""
        return self.generator_by_class[1]

    @property
    def oracle_minority_x(self) -> np.ndarray | None:
        return None if self.oracle_by_class is None else self.oracle_by_class[1]


def label_counts(y: np.ndarray, n_classes: int) -> tuple[int, ...]:
    """Images of each label 0..n_classes-1 in the labels ``y``."""
    return tuple(int(c) for c in np.bincount(np.asarray(y, np.int64), minlength=n_classes))


def _pick(indices: np.ndarray, n: int, rng: np.random.Generator | None) -> np.ndarray:
    """The first ``n`` indices, in file order (rng None) or after a seeded shuffle."""
    if rng is not None:
        indices = rng.permutation(indices)
    return indices[:n]


def _first_of_each(labels: np.ndarray, digits, per_class) -> np.ndarray:
    """Positions (file order) of the first ``per_class[k]`` images of each digit (None:
    every image of the digits)."""
    if per_class is None:
        return np.flatnonzero(np.isin(labels, digits))
    keep = np.zeros(len(labels), bool)
    for d, m in zip(digits, per_class):
        keep[np.flatnonzero(labels == d)[:m]] = True
    return np.flatnonzero(keep)


def test_subset(labels: np.ndarray, among: np.ndarray, digits, per_class, seed: int) -> np.ndarray:
    """Positions (sorted) of ``per_class[k]`` test images of each digit, drawn at random from
    ``among`` with a generator seeded by ``(seed, digit)``: a digit's draw depends on neither
    the other digits nor the experiment seed, and a smaller draw is a prefix of a larger one."""
    keep = []
    for d, m in zip(digits, per_class):
        pool = among[labels[among] == d]
        if m > len(pool):
            raise ConfigError(f"A test subset needs {m} images of digit {d} but the test set holds {len(pool)}.")
        keep.append(np.random.default_rng([int(seed), int(d)]).permutation(pool)[:m])
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)


def make_experiment_data(config: ExperimentConfig, seed: int, images: Images) -> ExperimentData:
    """Draw the training set from the dataset's train split only; test on the task's fixed
    test images (``images``: the config's dataset).

    A seeded protocol draws each label at random (the labels in order, one generator per
    seed), nested (the same seed's smaller draw of a digit is a subset of its larger one,
    and of the oracle's); a file-order protocol takes the first images, as the original
    code did.
    """
    config.validate()
    if images.dataset != config.dataset:
        raise ValueError(f"make_experiment_data: the images are {images.dataset}'s, the config's {config.dataset}'s")
    protocol = config.protocol_record
    rng = np.random.default_rng(seed) if protocol.draw == "seeded" else None
    digits, counts = config.classes, config.class_counts
    head = counts[0]
    orders = []  # the head's draw, then each other digit's whole pool in drawn order
    for k, d in enumerate(digits):
        pool = np.flatnonzero(images.train_labels == d)
        orders.append(_pick(pool, head if k == 0 else len(pool), rng))
    picked = [o[:n] for o, n in zip(orders, counts)]

    train_index = np.concatenate(picked)
    train_x = images.train_images[train_index]
    train_y = np.concatenate([np.full(len(p), k, np.int64) for k, p in enumerate(picked)])

    plan = config.test_plan
    test_index = _first_of_each(images.test_labels, digits, plan.per_class)
    label_of = {d: k for k, d in enumerate(digits)}
    test_y = np.asarray([label_of[int(d)] for d in images.test_labels[test_index]], np.int64)
    test_x = images.test_images[test_index]
    subsets = {}
    for name, per_class in plan.subsets.items():
        chosen = test_subset(images.test_labels, test_index, digits, per_class, plan.seed)
        subsets[name] = np.flatnonzero(np.isin(test_index, chosen))

    by_class = [images.train_images[p] for p in picked]
    if protocol.generator_images == "test":  # the original's leak, on purpose and labelled everywhere
        for k in config.fill:
            by_class[k] = images.test_images[np.flatnonzero(images.test_labels == digits[k])[: counts[k]]]

    oracle = None
    if all(len(o) >= head for o in orders):
        oracle = tuple(images.train_images[o[:head]] for o in orders)
    return ExperimentData(train_x, train_y, test_x, test_y, test_index, tuple(by_class), oracle, train_index, subsets)


def validation_split(train_y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, validation rows) of a training draw, each sorted: scikit-learn's
    stratified, seeded ``train_test_split`` holding out ``fraction`` of the rows.

    Each class must keep at least one image on each side: a class of one image cannot be
    split, nor one that ``round(fraction * n)`` would empty (ConfigError naming the fix).
    """
    y = np.asarray(train_y)
    k = max(2, int(y.max()) + 1) if len(y) else 2
    classes = ((0, "majority"), (1, "minority")) if k == 2 else tuple((c, f"class {c}") for c in range(k))
    counts = {c: int((y == c).sum()) for c, _ in classes}

    def no_training_image(c: int, role: str) -> ConfigError:
        fix = f"n_{role}" if k == 2 else "its training count"
        return ConfigError(f"A validation split of {fraction:.0%} leaves no {role} image to train on "
                           f"({counts[c]} in the draw): raise {fix} or lower validation_fraction.")

    for c, role in classes:
        if counts[c] - max(1, int(round(fraction * counts[c]))) < 1:
            raise no_training_image(c, role)
    from sklearn.model_selection import (
        train_test_split,  # heavy (about 1 s): only a split needs it
    )

    try:
        fit, val = train_test_split(np.arange(len(y)), test_size=fraction, stratify=y, random_state=seed + 2_147_483)
    except ValueError as err:  # too few images for a stratified split; scikit-learn says why
        raise ConfigError(f"A validation split of {fraction:.0%} of {len(y)} images is impossible: {err}") from None
    for c, role in classes:
        if not (y[fit] == c).any():
            raise no_training_image(c, role)
        if not (y[val] == c).any():
            fix = f"n_{role}" if k == 2 else "its training count"
            raise ConfigError(f"A validation split of {fraction:.0%} holds no {role} image ({counts[c]} in the "
                              f"draw): raise {fix} or validation_fraction.")
    return np.sort(fit), np.sort(val)
