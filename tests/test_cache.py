import threading
import time

import numpy as np
import pytest

from vaeimb.cache import CacheWarning, ResultCache, default_cache_dir


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
