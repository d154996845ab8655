"""The on-disk result cache: one ``.npz`` file per entry, written atomically.

Entries hold numpy arrays plus one JSON document, and are read with
``allow_pickle=False`` (nothing executable is ever loaded). Writers go through a
temporary file and ``os.replace``, so a killed run never leaves half an entry; a
per-entry file lock makes concurrent callers (two browser tabs, two CLI runs) compute
each entry once and share it.

The lock is the kernel's (``flock`` through ``filelock``): it belongs to the open file,
so a process that dies, however it dies, lets go of every lock it held, and no lock a
killed run leaves behind blocks anyone. An executor's driver ``claim``s each job's entry
before it trains it (``vaeimb.running.executor.execute``): a second driver that finds the
claim taken trains other jobs meanwhile, follows the holder's progress (``progress_of``)
and reads its entry when it lands.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
from filelock import FileLock, Timeout

from ..declarations.errors import VaeimbError
from ..parts.data import CACHE_DIR_ENV, user_cache_root


class CacheWarning(UserWarning):
    """A cache entry was unreadable and is being recomputed."""


Record = dict[str, Any]  # {"meta": JSON-able dict, "arrays": {name: np.ndarray}}


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or (user_cache_root() / "results")).expanduser()


#: How often a claim's holder rewrites its progress file (``Claim.report``), in seconds.
PROGRESS_WRITE_EVERY_S = 0.5


class Claim:
    """This process computes the entry (kind, key): a held lock that ``ResultCache.claim``
    took without waiting. ``report`` tells the others how far it is; ``release`` lets go
    (once the entry is saved, or the computation failed). The kernel releases it too if
    this process dies."""

    def __init__(self, cache: ResultCache, kind: str, key: str, lock: FileLock):
        self.cache, self.kind, self.key, self._lock = cache, kind, key, lock
        self._written = 0.0

    def report(self, done: int, total: int, *, force: bool = False) -> None:
        """Write (done, total) for the processes waiting on this entry, at most every
        ``PROGRESS_WRITE_EVERY_S``; a failed write only costs them the news."""
        now = time.monotonic()
        if not force and now - self._written < PROGRESS_WRITE_EVERY_S:
            return
        self._written = now
        path = self.cache._progress_path(self.kind, self.key)
        try:
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(f"{int(done)} {int(total)}")
            os.replace(tmp, path)
        except OSError:
            pass

    def release(self) -> None:
        """Let go; once the entry exists its lock and progress files go too (whoever
        waits on them re-checks the entry first)."""
        self.cache._held.pop((self.kind, self.key), None)
        try:
            self.cache._progress_path(self.kind, self.key).unlink(missing_ok=True)
        except OSError:
            pass
        self._lock.release()


class ResultCache:
    """Entries are addressed by (kind, key); ``key`` is a config hash (see ``stable_hash``)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self._held: dict[tuple[str, str], Claim] = {}  # this object's claims (``claim``)

    def __repr__(self) -> str:
        return f"ResultCache({str(self.root)!r})"

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / f"{key}.npz"

    def _lock(self, kind: str, key: str) -> FileLock:
        lock_dir = self.root / ".locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        return FileLock(str(lock_dir / f"{kind}-{key}.lock"), thread_local=False)

    def _progress_path(self, kind: str, key: str) -> Path:
        return self.root / ".locks" / f"{kind}-{key}.progress"

    def claim(self, kind: str, key: str) -> Claim | None:
        """Take the entry's lock without waiting: a ``Claim`` when nobody else computes it,
        None while another holder (a process, or another claim in this one) does. The
        holder computes and saves the entry, then releases the claim; ``get_or_compute``
        through this object computes a claimed entry without locking it again."""
        if (kind, key) in self._held:
            return None
        lock = self._lock(kind, key)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return None
        claim = self._held[(kind, key)] = Claim(self, kind, key, lock)
        return claim

    def progress_of(self, kind: str, key: str) -> tuple[int, int] | None:
        """How far the holder of the entry's claim is, (done, total), if it said."""
        try:
            done, total = self._progress_path(kind, key).read_text().split()
            return int(done), int(total)
        except (OSError, ValueError):
            return None

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
        if (kind, key) in self._held:  # claimed by this object's caller: computing it is ours
            meta, arrays = compute()
            self.save(kind, key, meta, arrays)
            return {"meta": json.loads(json.dumps(meta, sort_keys=True)), "arrays": dict(arrays)}, False
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
        """Remove the lock and progress files killed runs left (older than ``max_age_s``)
        that nobody holds; returns how many. (A lock file nobody holds blocks nobody: the
        kernel let go of it when its holder died. This only tidies the folder.)"""
        n = 0
        now = time.time()
        for p in [*(self.root / ".locks").glob("*.lock"), *(self.root / ".locks").glob("*.progress")]:
            try:
                if now - p.stat().st_mtime <= max_age_s:
                    continue
                if p.suffix == ".lock":
                    lock = FileLock(str(p), thread_local=False)
                    try:
                        lock.acquire(timeout=0)
                    except Timeout:
                        continue  # held: a live run is computing that entry
                    try:
                        p.unlink()
                    finally:
                        lock.release()
                else:
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
