"""The memory this process may use, and the app's worker-count rule, on fake cgroup files."""

from __future__ import annotations

import pytest

from vaeimb.running import resources as R

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
    (1, 32, 1),  # one core: the child alone (the server stays torch-free)
    (1, 1.5, 1),
    (1, 0.69, 0),  # one core, and not even the child fits beside the server: in-process
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
    assert runs.app_workers() == 1  # the child alone: the server stays torch-free
    monkeypatch.setenv("VAEIMB_APP_WORKERS", "3")  # an explicit count wins
    assert runs.app_workers() == 3


@pytest.mark.parametrize("cores", [1, 2, 64])
def test_usable_cores_are_the_affinitys_not_the_machines(monkeypatch, cores):
    monkeypatch.setattr(R.os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setattr(R.os, "cpu_count", lambda: 128)  # the host's: not ours under taskset
    assert R.usable_cores() == cores


@pytest.mark.parametrize("count, cores", [(1, 1), (16, 16), (None, 1)])
def test_without_an_affinity_the_cpu_count_counts(monkeypatch, count, cores):
    monkeypatch.delattr(R.os, "sched_getaffinity", raising=False)  # macOS, Windows
    monkeypatch.setattr(R.os, "cpu_count", lambda: count)
    assert R.usable_cores() == cores


@pytest.mark.parametrize("cores, limit, available_kb, workers", [
    (1, None, 64_000_000, 1),  # one core, large memory: the child alone
    (1, 690 * 2**20, 64_000_000, 0),  # one core, small memory: (690 - 320) // 650 = 0, in-process
    (2, None, 64_000_000, 2),  # two cores, large memory: one worker per core
    (16, None, 64_000_000, 4),  # many cores, large memory: at most APP_MAX_WORKERS
    (16, 690 * 2**20, 64_000_000, 0),  # many cores, Community Cloud's smallest container
    (16, 2765 * 2**20, 64_000_000, 3),  # its largest: (2765 - 320) // 650 = 3 beside the server
    (16, None, 2_500_000, 3),  # no cgroup limit: what the machine has left (2441 MB) decides
    (16, None, 900_000, 0),  # no cgroup limit, and too little left (879 MB) for one training process
])
def test_the_apps_worker_count_on_fake_hosts(fake_files, monkeypatch, cores, limit, available_kb, workers):
    """The whole path from the host's files to the app's worker count, on faked hosts."""
    from vaeimb_app import runs

    monkeypatch.delenv("VAEIMB_APP_WORKERS", raising=False)
    monkeypatch.setattr(R.os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    fake_files["v2"].write_text(f"{limit}\n" if limit else "max\n")
    fake_files["meminfo"].write_text(meminfo(available_kb))
    expected = R.app_workers(cores, min(v for v in (limit, available_kb * 1024) if v),
                             per_worker_mb=runs.TRAINING_PROCESS_MB, server_mb=runs.SERVER_MB,
                             max_workers=runs.APP_MAX_WORKERS)
    assert runs.app_workers() == expected == workers


class FakeLibc:
    """glibc's two heap calls, recorded instead of made."""

    def __init__(self, mallopt_result: int = 1):
        self.calls, self.mallopt_result = [], mallopt_result

    def mallopt(self, param, value):
        self.calls.append(("mallopt", param, value))
        return self.mallopt_result

    def malloc_trim(self, pad):
        self.calls.append(("malloc_trim", pad))
        return 1


def test_the_heap_settings_apply_on_glibc_and_are_harmless_elsewhere(monkeypatch):
    libc = FakeLibc()
    monkeypatch.setattr(R, "_glibc", lambda: libc)  # glibc, whatever this host runs
    assert R.fix_mmap_threshold() is True and R.fix_mmap_threshold(1) is True
    R.trim_heap()
    assert libc.calls == [("mallopt", R.M_MMAP_THRESHOLD, 4 << 20), ("mallopt", R.M_MMAP_THRESHOLD, 1 << 20),
                          ("malloc_trim", 0)]
    monkeypatch.setattr(R, "_glibc", lambda: FakeLibc(mallopt_result=0))  # glibc refused the value
    assert R.fix_mmap_threshold() is False
    monkeypatch.setattr(R, "_glibc", lambda: None)  # macOS, musl: nothing to set, nothing raised
    assert R.fix_mmap_threshold() is False
    R.trim_heap()


@pytest.mark.parametrize("app, busy, workers", [
    (2, 0, 2),  # nothing else trains: the whole share
    (2, 1, 1),  # another Run holds one training process: the rest
    (2, 5, 1),  # the machine is taken: each Run keeps one (its child)
    (4, 2, 2),
    (0, 3, 0),  # in-process stays in-process
])
def test_a_new_run_shares_the_training_processes_with_the_runs_already_going(monkeypatch, app, busy, workers):
    from vaeimb.interfaces import app_runs
    from vaeimb_app import runs

    monkeypatch.setenv("VAEIMB_APP_WORKERS", str(app))
    monkeypatch.setattr(app_runs, "training_processes", lambda: busy)
    assert runs.run_workers() == workers
