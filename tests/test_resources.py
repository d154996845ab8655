"""The memory this process may use, and the app's worker-count rule, on fake cgroup files."""

from __future__ import annotations

import pytest

from vaeimb import resources as R

GB = 1 << 30


@pytest.fixture
def fake_files(tmp_path, monkeypatch):
    """Points the module at files under tmp_path (none exists until a test writes it)."""
    paths = {"v2": tmp_path / "memory.max", "v1": tmp_path / "memory.limit_in_bytes", "meminfo": tmp_path / "meminfo"}
    monkeypatch.setattr(R, "CGROUP_V2_MEMORY_MAX", paths["v2"])
    monkeypatch.setattr(R, "CGROUP_V1_MEMORY_LIMIT", paths["v1"])
    monkeypatch.setattr(R, "MEMINFO", paths["meminfo"])
    return paths


def meminfo(available_kb: int) -> str:
    return f"MemTotal:       32000000 kB\nMemFree:         1000000 kB\nMemAvailable:   {available_kb} kB\n"


def test_a_cgroup_v2_limit_is_the_memory(fake_files):
    fake_files["v2"].write_text(f"{690 * 2**20}\n")
    fake_files["meminfo"].write_text(meminfo(20_000_000))  # the host's: larger, and not ours
    assert R.memory_limit_bytes() == 690 * 2**20


def test_max_means_no_limit_so_the_available_memory_counts(fake_files):
    fake_files["v2"].write_text("max\n")
    fake_files["meminfo"].write_text(meminfo(3_000_000))
    assert R.cgroup_limit_bytes() is None
    assert R.memory_limit_bytes() == 3_000_000 * 1024


def test_cgroup_v1_limit_and_its_no_limit_value(fake_files):
    fake_files["meminfo"].write_text(meminfo(8_000_000))
    fake_files["v1"].write_text(f"{2 * GB}\n")
    assert R.memory_limit_bytes() == 2 * GB
    fake_files["v1"].write_text("9223372036854771712\n")  # v1's "unlimited"
    assert R.memory_limit_bytes() == 8_000_000 * 1024


def test_a_limit_above_what_the_machine_has_left_gives_what_is_left(fake_files):
    fake_files["v2"].write_text(f"{8 * GB}\n")
    fake_files["meminfo"].write_text(meminfo(1_000_000))
    assert R.memory_limit_bytes() == 1_000_000 * 1024


def test_nothing_readable_is_unknown(fake_files):
    fake_files["v2"].write_text("garbage\n")
    assert R.memory_limit_bytes() is None


RULE = dict(per_worker_mb=900, server_mb=400, max_workers=4)


@pytest.mark.parametrize("cores, memory_gb, workers", [
    (1, 32, 0),  # one core: in-process, whatever the memory
    (2, 32, 2),  # one per core
    (16, 32, 4),  # at most max_workers
    (2, 2.7, 2),  # Community Cloud's upper limit: (2765 - 400) // 900 = 2
    (2, 1.5, 1),  # (1536 - 400) // 900 = 1
    (2, 1.2, 0),  # not even one worker fits beside the server: in-process
    (2, 0.69, 0),  # Community Cloud's lower limit
    (4, None, 4),  # memory unknown: cores decide
])
def test_the_worker_count_follows_cores_and_memory(cores, memory_gb, workers):
    memory = None if memory_gb is None else int(memory_gb * GB)
    assert R.app_workers(cores, memory, **RULE) == workers


def test_no_workers_allowed_means_in_process():
    assert R.app_workers(8, 64 * GB, per_worker_mb=900, server_mb=400, max_workers=0) == 0


def test_the_app_asks_the_rule_with_this_machines_cores_and_memory(monkeypatch):
    """``vaeimb_app.runs.app_workers`` feeds the rule the affinity's cores and the limit."""
    from vaeimb_app import runs

    monkeypatch.delenv("VAEIMB_APP_WORKERS", raising=False)
    monkeypatch.setattr(R, "usable_cores", lambda: 2)
    monkeypatch.setattr(R, "memory_limit_bytes", lambda: int(0.69 * GB))
    assert runs.app_workers() == 0
    monkeypatch.setattr(R, "memory_limit_bytes", lambda: 32 * GB)
    assert runs.app_workers() == 2
    monkeypatch.setattr(R, "usable_cores", lambda: 1)
    assert runs.app_workers() == 0
    monkeypatch.setenv("VAEIMB_APP_WORKERS", "3")  # an explicit count wins
    assert runs.app_workers() == 3


def test_the_heap_settings_apply_on_glibc_and_are_harmless_elsewhere(monkeypatch):
    import platform

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert R.fix_mmap_threshold() is True
    R.trim_heap()
    monkeypatch.setattr(R, "_glibc", lambda: None)  # macOS, musl: nothing to set, nothing raised
    assert R.fix_mmap_threshold() is False
    R.trim_heap()
