"""The image datasets: one declaration each (what its classes are called, how many images
each split holds of each, its files and their checksums, where it is downloaded from and
which augmentations keep a class what it is).

MNIST (the default), Fashion-MNIST and Kuzushiji-MNIST share a format: 28 x 28 grayscale,
ten classes, the same four gzip'd IDX files (``FILES``) in a folder named after
torchvision's dataset class (``MNIST/raw/``, ``FashionMNIST/raw/``, ``KMNIST/raw/``).
Adding one is a ``Dataset`` here and its line in ``DATASETS``. No data is read here: the
CLI's ``--help`` and the app's first paint read these declarations
(``vaeimb.parts.data`` reads the files).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from .digits import TEST_COUNTS as MNIST_TEST_COUNTS
from .digits import TRAIN_COUNTS as MNIST_TRAIN_COUNTS
from . import own
from .errors import ConfigError

#: The four files of every dataset here: key -> file name (torchvision's and the originals').
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
#: Base URL(s) every dataset is downloaded from instead of its own mirrors (whitespace or
#: comma separated): each serves ``<base URL><dataset name>/<file name>``.
MIRROR_ENV = "VAEIMB_DATA_MIRROR"


@dataclass(frozen=True)
class Dataset:
    """One dataset of 28 x 28 grayscale images in the IDX format (see the module docstring)."""

    #: Its name in settings, flags and links (``--dataset fashion-mnist``).
    name: str
    #: How pickers and captions name it.
    label: str
    #: One line: what the images are, and where they come from.
    description: str
    #: Each class's name, by label (the digits' own for MNIST).
    class_names: tuple[str, ...]
    #: Images of each class in the train and test splits (checked against the files when
    #: they are first decoded); they bound the counts a task may ask for.
    train_counts: tuple[int, ...]
    test_counts: tuple[int, ...]
    #: torchvision's dataset class (``torchvision.datasets``), which downloads it; the
    #: folder its files lie in is named after it (``<data dir>/<folder>/raw/``). Empty for
    #: the analyst's own file (``own``), which is never downloaded.
    torchvision: str = ""
    #: The files' MD5 checksums, by ``FILES`` key (torchvision's).
    md5: dict[str, str] = field(default_factory=dict)
    #: Where the files are downloaded from, unless ``$VAEIMB_DATA_MIRROR`` names a mirror.
    mirrors: tuple[str, ...] = ()
    #: An old environment variable naming this dataset's mirror (``<base URL><file name>``).
    legacy_mirror_env: str = ""
    #: A horizontal flip keeps every class what it is (clothing: yes; digits, characters: no).
    flips: bool = False
    #: What a class is called in sentences ("digit", "class").
    noun: str = "class"

    @property
    def title(self) -> str:
        """The name alone: ``Fashion-MNIST``."""
        return self.label.split(" (")[0]

    @property
    def nouns(self) -> str:
        """The plural: "digits", "classes"."""
        return self.noun + ("es" if self.noun.endswith("s") else "s")

    @property
    def folder(self) -> str:
        return self.torchvision

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def check_class(self, c: int) -> None:
        """Refuse a class number the dataset does not have (one ConfigError line)."""
        if not 0 <= c < self.n_classes:
            raise ConfigError(f"{self.title} has {self.n_classes} {self.nouns} (0-{self.n_classes - 1}); "
                              f"{self.noun} {c} is not one of them.")

    def class_label(self, c: int) -> str:
        """A class as tables and sentences write it: MNIST's ``6``, Fashion-MNIST's ``6 (Shirt)``."""
        name = self.class_names[c]
        return name if name == str(c) else f"{c} ({name})"

    def holds(self, c: int) -> str:
        """``MNIST train holds 958 images of digit 6``' last words: ``of digit 6``."""
        return f"of {self.noun} {self.class_label(c)}"


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "mnist", "MNIST (handwritten digits)",
            "Handwritten digits 0-9 (LeCun, Cortes and Burges), 60 000 training and 10 000 test images.",
            tuple(str(c) for c in range(10)), MNIST_TRAIN_COUNTS, MNIST_TEST_COUNTS, "MNIST",
            {"train_images": "f68b3c2dcbeaaa9fbdd348bbdeb94873", "train_labels": "d53e105ee54ea40749a09fcbcd1e9432",
             "test_images": "9fb629c4189551a2d022fa330f9573f3", "test_labels": "ec29112dd5afa0611ce80d1b7f02629c"},
            ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
            legacy_mirror_env="VAEIMB_MNIST_MIRROR", noun="digit",
        ),
        Dataset(
            "fashion-mnist", "Fashion-MNIST (clothing)",
            "Zalando's article images in ten clothing classes (Xiao, Rasul and Vollgraf, 2017), 6000 training and "
            "1000 test images of each.",
            ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
            (6000,) * 10, (1000,) * 10, "FashionMNIST",
            {"train_images": "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "train_labels": "25c81989df183df01b3e8a0aad5dffbe",
             "test_images": "bef4ecab320f06d8554ea6380940ec79", "test_labels": "bb300cfdad3c16e7a12a480ee83cd310"},
            ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
            flips=True,
        ),
        Dataset(
            "kmnist", "Kuzushiji-MNIST (cursive Japanese)",
            "Ten hiragana in classical cursive script (Clanuwat et al., 2018), 6000 training and 1000 test images "
            "of each.",
            ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
            (6000,) * 10, (1000,) * 10, "KMNIST",
            {"train_images": "bdb82020997e1d708af4cf47b453dcf7", "train_labels": "e144d726b3acfaa3e44228e80efcd344",
             "test_images": "5c965bf0a639b31b8f53240b1b52f4d7", "test_labels": "7320c461ea6c1c855c0b718fb2a4b134"},
            ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        ),
    )
}
#: The dataset a setting, a link or a saved result without one means.
DEFAULT_DATASET = "mnist"


def dataset(name: str) -> Dataset:
    """The declaration of ``name``: a declared dataset, or the analyst's own file kept in the
    user cache (``file:<hash>``, ``own``); ConfigError naming the choices for anything else."""
    if isinstance(name, str) and name in DATASETS:
        return DATASETS[name]
    content_hash = own.parse(name)
    if content_hash is None:
        raise ConfigError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}, or your own .npz file.")
    meta = own.stored(content_hash)
    if meta is None:
        raise ConfigError(own.gone(name))
    return _own_dataset(content_hash)


def is_dataset_name(value: Any) -> bool:
    """A declared dataset's name, or an own file's ``file:<hash>`` (stored or not)."""
    return (isinstance(value, str) and value in DATASETS) or own.parse(value) is not None


@functools.lru_cache(maxsize=32)
def _own_dataset(content_hash: str) -> Dataset:
    """The record of a stored file (its content never changes under its hash)."""
    return own_dataset(own.stored(content_hash))


def own_dataset(meta: dict[str, Any]) -> Dataset:
    """The ``Dataset`` declaration of a stored file (``stored``'s metadata, or
    ``OwnImages.metadata()``): named ``file:<hash>``, not downloaded from anywhere."""
    file_name = (meta.get("file_name") or "").replace("(", "[").replace(")", "]") or meta["hash"]
    names = tuple(meta["class_names"])
    n_train, n_test = sum(meta["train_counts"]), sum(meta["test_counts"])
    done = " ".join(meta.get("notes", ()))
    return Dataset(
        name=own.dataset_name(meta["hash"]),
        label=f"{file_name} (your file)",
        description=(f"Your file {file_name}: {len(names)} classes ({', '.join(names)}), {n_train} training and "
                     f"{n_test} test images." + (f" {done}" if done else "")),
        class_names=names,
        train_counts=tuple(int(c) for c in meta["train_counts"]),
        test_counts=tuple(int(c) for c in meta["test_counts"]),
        noun="class",
    )
