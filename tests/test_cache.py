import threading
import time

import numpy as np
import pytest

from vaeimb.running.cache import CacheWarning, ResultCache, default_cache_dir


def test_roundtrip_and_layout(cache):
    cache.save("run", "k1", {"a": 1, "b": [1.5]}, {"x": np.arange(3), "y": np.eye(2, dtype=np.float32)})
    rec = cache.load("run", "k1")
    assert rec["meta"] == {"a": 1, "b": [1.5]}
    assert np.array_equal(rec["arrays"]["x"], np.arange(3)) and rec["arrays"]["y"].dtype == np.float32
    assert cache.path("run", "k1").is_file() and cache.load("run", "missing") is None


def test_default_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("VAEIMB_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c" and ResultCache().root == tmp_path / "c"


def test_corrupt_entry_is_recomputed_with_a_warning(cache):
    p = cache.save("run", "k", {"v": 1}, {"x": np.zeros(2)})
    p.write_bytes(b"not a zip at all")
    with pytest.warns(CacheWarning, match="unreadable"):
        rec, cached = cache.get_or_compute("run", "k", lambda: ({"v": 2}, {"x": np.ones(2)}))
    assert not cached and rec["meta"]["v"] == 2
    assert cache.load("run", "k")["meta"]["v"] == 2


def test_truncated_entry_is_recomputed(cache):
    p = cache.save("run", "k", {"v": 1}, {"x": np.zeros(1000)})
    p.write_bytes(p.read_bytes()[:200])
    with pytest.warns(CacheWarning):
        assert cache.load("run", "k") is None
    assert not p.exists()


def test_write_is_atomic_when_killed_midway(cache, monkeypatch):
    cache.save("run", "k", {"v": "old"}, {"x": np.zeros(2)})

    def dying_savez(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt  # e.g. Ctrl-C or a closed browser tab

    monkeypatch.setattr(np, "savez", dying_savez)
    with pytest.raises(KeyboardInterrupt):
        cache.save("run", "k", {"v": "new"}, {"x": np.ones(2)})
    with pytest.raises(KeyboardInterrupt):
        cache.save("run", "other", {"v": "new"}, {"x": np.ones(2)})
    monkeypatch.undo()
    assert cache.load("run", "k")["meta"]["v"] == "old"  # the finished result survives
    assert cache.load("run", "other") is None  # no half entry
    assert [p.name for p in cache.path("run", "k").parent.iterdir()] == ["k.npz"]  # no temp files


def test_concurrent_callers_compute_once(cache):
    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.3)
        return {"v": 1}, {"x": np.arange(4)}

    out = []
    threads = [threading.Thread(target=lambda: out.append(cache.get_or_compute("run", "same", compute))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(out) == 3
    assert sorted(c for _, c in out) == [False, True, True]
    assert all(np.array_equal(r["arrays"]["x"], np.arange(4)) for r, _ in out)


def test_failed_compute_leaves_nothing(cache):
    def boom():
        raise RuntimeError("training diverged")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("run", "k", boom)
    assert cache.load("run", "k") is None
    assert cache.clear() == 0


def test_a_record_the_validator_rejects_is_removed_and_recomputed(cache):
    """An entry from an older version may lack a field: it is recomputed, with a warning."""
    cache.save("classifier", "k", {"info": {}}, {"x": np.zeros(2)})

    def check(rec):
        rec["meta"]["info"]["environment"]

    with pytest.warns(CacheWarning, match="incomplete"):
        rec, cached = cache.get_or_compute("classifier", "k", lambda: ({"info": {"environment": {"threads": 1}}},
                                                                       {"x": np.ones(2)}), validate=check)
    assert not cached and rec["meta"]["info"]["environment"] == {"threads": 1}
    rec, cached = cache.get_or_compute("classifier", "k", lambda: pytest.fail("recomputed twice"), validate=check)
    assert cached and np.array_equal(rec["arrays"]["x"], np.ones(2))


def test_lock_files_are_removed_once_the_entry_exists(cache):
    cache.get_or_compute("run", "k", lambda: ({"v": 1}, {"x": np.zeros(1)}))
    assert cache.exists("run", "k")
    assert list((cache.root / ".locks").glob("*.lock")) == []


def test_a_failed_compute_keeps_no_entry_and_a_retry_works(cache):
    def boom():
        raise RuntimeError("diverged")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("run", "k", boom)
    rec, cached = cache.get_or_compute("run", "k", lambda: ({"v": 2}, {"x": np.zeros(1)}))
    assert not cached and rec["meta"]["v"] == 2
    assert list((cache.root / ".locks").glob("*.lock")) == []


def test_stale_locks_are_cleaned_fresh_ones_kept(cache):
    import os

    locks = cache.root / ".locks"
    locks.mkdir(parents=True)
    old, new = locks / "run-old.lock", locks / "run-new.lock"
    old.touch()
    new.touch()
    t = time.time() - 7 * 3600
    os.utime(old, (t, t))
    assert cache.clean_stale_locks(max_age_s=6 * 3600) == 1
    assert not old.exists() and new.exists()
    assert cache.clean_stale_locks(max_age_s=0) == 1 and not new.exists()
    assert ResultCache(cache.root / "nowhere").clean_stale_locks() == 0


def test_check_writable_refuses_an_unwritable_folder(tmp_path):
    from vaeimb.declarations.errors import VaeimbError

    ResultCache(tmp_path / "new" / "cache").check_writable()  # creates it
    assert (tmp_path / "new" / "cache").is_dir() and list((tmp_path / "new" / "cache").iterdir()) == []
    with pytest.raises(VaeimbError, match="not writable.*--cache-dir"):
        ResultCache("/proc/vaeimb-cache").check_writable()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(VaeimbError, match="not writable"):
        ResultCache(blocker / "sub").check_writable()
