"""The on-disk result cache: one ``.npz`` file per entry, written atomically.

Entries hold numpy arrays plus one JSON document, and are read with
``allow_pickle=False`` (nothing executable is ever loaded). Writers go through a
temporary file and ``os.replace``, so a killed run never leaves half an entry; a
per-entry file lock makes concurrent callers (two browser tabs, two CLI runs) compute
each entry once and share it.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
from filelock import FileLock

from ..declarations.errors import VaeimbError
from ..parts.data import CACHE_DIR_ENV, user_cache_root


class CacheWarning(UserWarning):
    """A cache entry was unreadable and is being recomputed."""


Record = dict[str, Any]  # {"meta": JSON-able dict, "arrays": {name: np.ndarray}}


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or (user_cache_root() / "results")).expanduser()


class ResultCache:
    """Entries are addressed by (kind, key); ``key`` is a config hash (see ``stable_hash``)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    def __repr__(self) -> str:
        return f"ResultCache({str(self.root)!r})"

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / f"{key}.npz"

    def _lock(self, kind: str, key: str) -> FileLock:
        lock_dir = self.root / ".locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        return FileLock(str(lock_dir / f"{kind}-{key}.lock"))

    def check_writable(self) -> None:
        """Refuse, before any training, a cache folder that cannot be written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise VaeimbError(
                f"cache folder {self.root} is not writable ({err.strerror or err}); choose another "
                "with --cache-dir or VAEIMB_CACHE_DIR."
            ) from None

    def exists(self, kind: str, key: str) -> bool:
        return self.path(kind, key).is_file()

    def load(self, kind: str, key: str) -> Record | None:
        """The entry, or None when absent. A corrupt entry is removed with a warning."""
        path = self.path(kind, key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                meta = json.loads(str(npz["__meta__"]))
                arrays = {name: npz[name] for name in npz.files if name != "__meta__"}
            return {"meta": meta, "arrays": arrays}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as err:
            warnings.warn(f"Cache entry {path} is unreadable ({type(err).__name__}: {err}); recomputing it.", CacheWarning, stacklevel=2)
            try:
                path.unlink()
            except OSError:
                pass
            return None

    def save(self, kind: str, key: str, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Path:
        """Write atomically: a temp file in the same folder, fsync'd, then renamed into place."""
        if "__meta__" in arrays:
            raise ValueError("'__meta__' is reserved.")
        path = self.path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, __meta__=np.array(json.dumps(meta, sort_keys=True)), **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return path

    def _load_valid(self, kind: str, key: str, validate) -> Record | None:
        """The entry if it is readable and ``validate`` accepts it; else None (a record
        lacking a field, e.g. from an older version, is removed with a warning)."""
        rec = self.load(kind, key)
        if rec is None or validate is None:
            return rec
        try:
            validate(rec)
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as err:
            warnings.warn(f"Cache entry {self.path(kind, key)} is incomplete ({type(err).__name__}: {err}); "
                          "recomputing it.", CacheWarning, stacklevel=3)
            self.path(kind, key).unlink(missing_ok=True)
            return None
        return rec

    def get_or_compute(
        self, kind: str, key: str, compute: Callable[[], tuple[Mapping[str, Any], Mapping[str, np.ndarray]]],
        validate: Callable[[Record], Any] | None = None,
    ) -> tuple[Record, bool]:
        """The cached entry, or ``compute()``'s, saved. Returns (record, was_cached).

        Holding the entry's lock while computing means a second caller waits and then reads
        the first one's result instead of training the same thing again. The lock file is
        removed once the entry exists (a later caller finds the entry, not the lock).
        """
        rec = self._load_valid(kind, key, validate)
        if rec is not None:
            return rec, True
        lock = self._lock(kind, key)
        try:
            with lock:
                rec = self._load_valid(kind, key, validate)
                if rec is not None:
                    return rec, True
                meta, arrays = compute()
                self.save(kind, key, meta, arrays)
                return {"meta": json.loads(json.dumps(meta, sort_keys=True)), "arrays": dict(arrays)}, False
        finally:
            if self.exists(kind, key):
                try:  # safe: whoever holds or waits for this lock re-checks the entry first
                    os.unlink(lock.lock_file)
                except OSError:
                    pass

    def clean_stale_locks(self, max_age_s: float = 6 * 3600) -> int:
        """Remove lock files left by killed runs (older than ``max_age_s``); returns how many."""
        import time

        n = 0
        now = time.time()
        for p in (self.root / ".locks").glob("*.lock"):
            try:
                if now - p.stat().st_mtime > max_age_s:
                    p.unlink()
                    n += 1
            except OSError:
                pass
        return n

    def clear(self) -> int:
        """Delete every entry; returns how many were removed."""
        n = 0
        for p in self.root.glob("*/*.npz"):
            p.unlink(missing_ok=True)
            n += 1
        return n


class MemoryCache:
    """The cache a worker sees: the entries it depends on (sent by the driver) and, after
    the job, the one entry it computed (``new``), which goes back to the driver."""

    def __init__(self, records: Mapping[str, Record] | None = None):
        self.records: dict[str, Record] = dict(records or {})
        self.new: dict[str, Record] = {}

    def exists(self, kind: str, key: str) -> bool:
        return key in self.records

    def get_or_compute(self, kind: str, key: str, compute, validate=None) -> tuple[Record, bool]:
        rec = self.records.get(key)
        if rec is not None:
            if validate is not None:
                validate(rec)
            return rec, True
        meta, arrays = compute()
        rec = {"meta": json.loads(json.dumps(meta, sort_keys=True)), "arrays": dict(arrays)}
        self.records[key] = self.new[key] = rec
        return rec, False
