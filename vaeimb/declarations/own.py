"""The analyst's own images, as the declarations see them: a file accepted by
``vaeimb.parts.own_images.read_npz`` is kept in the user cache under the hash of its bytes
and named ``file:<hash>`` as a dataset, its metadata (class names, counts, what was done to it) kept
beside its arrays. Reading, checking and keeping a file is ``parts.own_images``'; nothing
here reads an image (``vaeimb.declarations.datasets.dataset`` makes the record).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .errors import DataUnavailableError
from .locations import user_cache_root

#: Under the user cache: one folder per stored file, named by its hash.
OWN_DIR = "own"
ARRAYS_FILE = "images.npz"
META_FILE = "meta.json"
META_FORMAT = 1
PREFIX = "file:"
_HASH = re.compile(r"[0-9a-f]{16}")


def dataset_name(content_hash: str) -> str:
    """``file:<hash>``: the dataset name of a stored file."""
    return PREFIX + content_hash


def parse(name: Any) -> str | None:
    """The hash of a ``file:<hash>`` dataset name, else None."""
    if isinstance(name, str) and name.startswith(PREFIX) and _HASH.fullmatch(name[len(PREFIX):]):
        return name[len(PREFIX):]
    return None


def own_root() -> Path:
    """``<user cache>/own``: one folder per stored file."""
    return user_cache_root() / OWN_DIR


def folder_of(content_hash: str) -> Path:
    if not _HASH.fullmatch(str(content_hash)):
        raise DataUnavailableError(f"{content_hash!r} is not the hash of a stored file (16 hex digits).")
    return own_root() / content_hash


def stored(content_hash: str) -> dict[str, Any] | None:
    """The metadata of a stored file, or None (not stored, incomplete or unreadable)."""
    if not _HASH.fullmatch(str(content_hash)):
        return None
    folder = own_root() / content_hash
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("hash") != content_hash or not (folder / ARRAYS_FILE).is_file():
        return None
    return meta


def gone(name: str) -> str:
    """What to say when the file a ``file:<hash>`` name stands for is not in the cache."""
    return (f"Your file {name} is not (or no longer) in the cache under {own_root()}: upload it again in the app, "
            "or give its path again on the command line.")
